/**
 * A model's weights by layer name: list the conv/dense layers in forward order with what LW needs to learn them
 * greedily, read and write one layer's weights, serialize all of them to plain arrays (for content-hashed
 * artifacts) and load them back, and apply an initializer from shared/init to every conv/dense layer.
 *
 * Weight names are `<layer>/<weight>` (e.g. `layer2.0.downsample/kernel`, `bn1/moving_mean`): tfjs's variable
 * names get `_1`, `_2` suffixes when several models live in one process, so we rebuild them from the layer name
 * and the variable's original name instead.
 */
import * as tf from "@tensorflow/tfjs"
import { fans } from "../init/fans.ts"
import { initialize, plainContext, type InitConfig, type InitContext } from "../init/initializers.ts"
import { defaultLsuvConfig, lsuv, type LsuvConfig, type LsuvLayerReport } from "../init/lsuv.ts"
import { deriveSeed } from "../init/random.ts"
import { WeightMismatch } from "./errors.ts"
import { flatten, type FlatModel } from "./flatten.ts"
import { layerProbe } from "./forward.ts"
import { activationPath, feeders, findLayer, forwardOrder, initContexts, leafLayers, learnableKind, producers, type Layer, type LayerKind } from "./graph.ts"
import { kindSpecOf } from "./kinds.ts"

/** One weight as plain data: what gets hashed and stored. */
export interface NamedWeight {
  readonly name: string
  readonly shape: readonly number[]
  readonly data: Float32Array
}

/** One kernel of a layer (most have one; SeparableConv2D has its depthwise and pointwise kernels). */
export interface KernelInfo {
  /** The weight's suffix: `kernel`, `depthwise_kernel`, `pointwise_kernel`. */
  readonly suffix: string
  /** tfjs layout. */
  readonly shape: readonly number[]
  /** The shape shared/init draws it with (kinds.ts): its true fans. */
  readonly drawShape: readonly number[]
}

export interface LearnableLayer {
  /** Its name; in a nested model its path (`block1/conv`). */
  readonly name: string
  readonly kind: LayerKind
  /** The tfjs class (Dense, Conv1D, Conv2D, Conv3D, DepthwiseConv2D, SeparableConv2D, Conv2DTranspose...). */
  readonly className: string
  /** Position among the conv/dense layers in forward order (0-based). */
  readonly index: number
  /** tfjs layout of its (first) kernel: conv [kh, kw, inC, outC], dense [in, out] (kinds.ts for the others). */
  readonly kernelShape: readonly number[]
  /** Every kernel, in the order LW packs them. */
  readonly kernels: readonly KernelInfo[]
  /** Fans of the (first) kernel as drawn (kinds.ts). */
  readonly fanIn: number
  readonly fanOut: number
  /** Output units: the bias length. */
  readonly units: number
  readonly hasBias: boolean
  /** conv only: strides and tfjs padding (explicit PyTorch padding shows up as a `<name>.pad` inbound). */
  readonly strides: readonly number[] | undefined
  readonly padding: string | undefined
  /** The layer whose output this one consumes (e.g. `conv2.pad`, `pool1`, `layer1.0.act2`, "input"). */
  readonly inbound: string
  /** Nearest conv/dense layers upstream (or "input"): what must be learned before this one. */
  readonly feeders: readonly string[]
  /** The activation layer after it (graph.ts `activationPath`), undefined for the classifier or a linear layer. */
  readonly activation: string | undefined
  /** Where it sits for Fixup-like inits: plain / branch / shortcut / classifier. */
  readonly context: InitContext
}

/** `read` on the flat view of `model` (flatten.ts), the view disposed after. */
export const withFlat = <A>(model: tf.LayersModel, read: (flat: FlatModel) => A): A => {
  const flat = flatten(model)
  try {
    return read(flat)
  } finally {
    flat.dispose()
  }
}

/** The learnable layers of a flat model (see `learnableLayers`). */
export const learnableLayersOf = (model: tf.LayersModel): LearnableLayer[] => {
  const contexts = initContexts(model)
  return forwardOrder(model)
    .filter((l) => learnableKind(l) !== undefined)
    .map((l, index) => {
      const spec = kindSpecOf(l)!
      const kernels = spec.kernels.map((suffix): KernelInfo => {
        const v = l.weights.find((w) => weightSuffix(w) === suffix)
        if (v === undefined) throw new WeightMismatch({ weight: `${l.name}/${suffix}`, problem: "layer has no such kernel" })
        return { suffix, shape: shapeOf(v), drawShape: spec.drawShape(suffix, shapeOf(v)) }
      })
      const f = fans(kernels[0]!.drawShape)
      const config = l.getConfig()
      const source = producers(l)[0]
      return {
        name: l.name,
        kind: spec.kind,
        className: l.getClassName(),
        index,
        kernelShape: kernels[0]!.shape,
        kernels,
        fanIn: f.fanIn,
        fanOut: f.fanOut,
        units: spec.units(kernels.map((k) => k.shape)),
        hasBias: l.weights.some((w) => weightSuffix(w) === "bias"),
        strides: Array.isArray(config.strides) ? (config.strides as number[]) : undefined,
        padding: typeof config.padding === "string" ? config.padding : undefined,
        inbound: source === undefined || producers(source).length === 0 ? "input" : source.name,
        feeders: feeders(l),
        activation: activationPath(l).activation?.name,
        context: contexts.get(l.name) ?? plainContext
      }
    })
}

/**
 * The layers with a kernel that init and LW handle (kinds.ts), in forward order, each with its shape, fans and
 * place in the graph. Layers inside nested models are listed by path (`block1/conv`).
 */
export const learnableLayers = (model: tf.LayersModel): LearnableLayer[] => withFlat(model, (flat) => learnableLayersOf(flat.model))

const weightSuffix = (v: tf.LayerVariable): string => v.originalName.split("/").pop()!
/** A built layer's weight shapes are fully known; tfjs types them as possibly-null. */
const shapeOf = (v: tf.LayerVariable): number[] => v.shape.map((d) => d ?? 0)
/** `<path>/<suffix>`: the name a layer's weight goes by, whatever tfjs called the variable. */
const weightName = (path: string, v: tf.LayerVariable): string => `${path}/${weightSuffix(v)}`

/** One layer's weights (kernel, bias; BN: gamma, beta, moving_mean, moving_variance), copied out. */
export const getLayerWeights = (model: tf.LayersModel, layerName: string): NamedWeight[] => {
  const layer = findLayer(model, layerName)
  return layer.weights.map((v) => ({
    name: weightName(layerName, v),
    shape: shapeOf(v),
    data: Float32Array.from(v.read().dataSync() as Float32Array)
  }))
}

const checkShape = (name: string, expected: readonly number[], got: readonly number[], size: number) => {
  const same = expected.length === got.length && expected.every((d, i) => d === got[i])
  if (!same) throw new WeightMismatch({ weight: name, problem: `shape [${got}] given, layer has [${expected}]` })
  if (expected.reduce((a, b) => a * b, 1) !== size) {
    throw new WeightMismatch({ weight: name, problem: `${size} values given for shape [${expected}]` })
  }
}

/**
 * Write some or all of one layer's weights (matched by name, e.g. `conv1/kernel`). Unknown names and wrong shapes
 * are errors; weights not given are left as they are.
 */
export const setLayerWeights = (model: tf.LayersModel, layerName: string, weights: readonly NamedWeight[]): void =>
  writeLayer(findLayer(model, layerName), layerName, weights)

/**
 * Write a layer's weights into the model behind a flat view, and into the view when it is a copy: how LW freezes
 * a layer it learned on the view.
 */
export const writeThrough = (flat: FlatModel, layerName: string, weights: readonly NamedWeight[]): void => {
  if (flat.copied) writeLayer(flat.source(layerName), layerName, weights)
  setLayerWeights(flat.model, layerName, weights)
}

const writeLayer = (layer: Layer, layerName: string, weights: readonly NamedWeight[]): void => {
  const byName = new Map(layer.weights.map((v) => [weightName(layerName, v), v]))
  for (const w of weights) {
    const v = byName.get(w.name)
    if (v === undefined) {
      throw new WeightMismatch({ weight: w.name, problem: `layer "${layerName}" has only ${[...byName.keys()].join(", ")}` })
    }
    checkShape(w.name, shapeOf(v), w.shape, w.data.length)
  }
  tf.tidy(() => {
    for (const w of weights) byName.get(w.name)!.write(tf.tensor(w.data, [...w.shape], "float32"))
  })
}

/** Every weight of the model (trainable or not), layers in forward order, copied out as plain arrays. */
export const serializeWeights = (model: tf.LayersModel): NamedWeight[] =>
  leafLayers(model).flatMap((l) => (l.layer.weights.length === 0 ? [] : getLayerWeights(model, l.path)))

/** Load what `serializeWeights` produced. Every model weight must be given exactly once, with its shape. */
export const loadWeights = (model: tf.LayersModel, weights: readonly NamedWeight[]): void => {
  const byLayer = new Map<string, NamedWeight[]>()
  const given = new Set<string>()
  for (const w of weights) {
    if (given.has(w.name)) throw new WeightMismatch({ weight: w.name, problem: "given twice" })
    given.add(w.name)
    const layer = w.name.slice(0, w.name.lastIndexOf("/"))
    byLayer.set(layer, [...(byLayer.get(layer) ?? []), w])
  }
  const expected = new Set(leafLayers(model).flatMap((l) => l.layer.weights.map((v) => weightName(l.path, v))))
  for (const name of expected) if (!given.has(name)) throw new WeightMismatch({ weight: name, problem: "missing" })
  for (const name of given) {
    if (!expected.has(name)) throw new WeightMismatch({ weight: name, problem: `not a weight of model "${model.name}"` })
  }
  for (const [layer, ws] of byLayer) setLayerWeights(model, layer, ws)
}

export interface ApplyInitOptions {
  /** Each layer draws from deriveSeed(seed, layerName): reproducible, and independent of the other layers. */
  readonly seed: number
  /** Leave the final decision layer (last conv/dense in forward order) as it is. */
  readonly excludeClassifier?: boolean
  /** Only these layers (default: every conv/dense layer). */
  readonly layers?: readonly string[]
}

/**
 * Draw every conv/dense kernel from `config` (biases set to 0). Returns the names of the layers written.
 * Context-aware inits (Fixup) get each layer's place from the graph (`learnableLayers(...).context`).
 */
export const applyInit = (model: tf.LayersModel, config: InitConfig, options: ApplyInitOptions): string[] => {
  const targets = learnableLayers(model).filter(
    (l) =>
      (options.layers === undefined || options.layers.includes(l.name)) &&
      !(options.excludeClassifier === true && l.context.role === "classifier")
  )
  for (const l of targets) {
    const ws = drawKernels(config, l, deriveSeed(options.seed, l.name))
    if (l.hasBias) ws.push({ name: `${l.name}/bias`, shape: [l.units], data: new Float32Array(l.units) })
    setLayerWeights(model, l.name, ws)
  }
  return targets.map((l) => l.name)
}

/**
 * A layer's kernels drawn from `config`, each with its true fans (drawn with `drawShape`, kinds.ts): the first
 * from `seed`, any further one (SeparableConv2D's pointwise) from deriveSeed(seed, suffix).
 */
export const drawKernels = (
  config: InitConfig,
  layer: Pick<LearnableLayer, "name" | "kernels" | "context">,
  seed: number
): NamedWeight[] =>
  layer.kernels.map((k, i) => ({
    name: `${layer.name}/${k.suffix}`,
    shape: k.shape,
    data: initialize(config, k.drawShape, i === 0 ? seed : deriveSeed(seed, k.suffix), layer.context)
  }))

/** Multiply one layer's kernel by `factor` in place (the last kernel: the one the output is linear in). */
export const scaleKernel = (model: tf.LayersModel, layerName: string, factor: number): void => {
  const layer = findLayer(model, layerName)
  const suffix = kindSpecOf(layer)?.kernels.at(-1) ?? "kernel"
  const kernel = layer.weights.find((v) => weightSuffix(v) === suffix)
  if (kernel === undefined) throw new WeightMismatch({ weight: `${layerName}/${suffix}`, problem: "layer has no kernel" })
  tf.tidy(() => {
    kernel.write(tf.mul(kernel.read(), factor))
  })
}

export interface ApplyLsuvOptions extends ApplyInitOptions {
  /** The pre-init LSUV starts from: orthogonal in the paper. */
  readonly preInit?: InitConfig
  readonly lsuv?: LsuvConfig
}

/**
 * LSUV on a model: pre-initialize (orthogonal, biases 0), then scale each conv/dense layer in forward order until
 * its output variance on `batch` is 1 (shared/init/lsuv.ts). Returns the per-layer report.
 */
export const applyLsuv = (model: tf.LayersModel, batch: tf.Tensor, options: ApplyLsuvOptions): LsuvLayerReport[] => {
  const layers = applyInit(model, options.preInit ?? { name: "orthogonal", gain: 1 }, options)
  return withFlat(model, (flat) => {
    const probe = layerProbe(flat.model)
    return lsuv(
    {
      layers,
      output: (layer, x) => {
        const f = probe(layer, x)
        f.input.dispose()
        f.activation?.dispose()
        f.shortcut?.dispose()
        return f.output
      },
      scaleKernel: (layer, factor) => {
        scaleKernel(flat.model, layer, factor)
        if (flat.copied) scaleKernel(model, layer, factor)
      }
    },
    batch,
    options.lsuv ?? defaultLsuvConfig
    )
  })
}
