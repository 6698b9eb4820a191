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
import { layerProbe } from "./forward.ts"
import { activationPath, feeders, findLayer, forwardOrder, initContexts, learnableKind, producers, type Layer, type LayerKind } from "./graph.ts"

/** One weight as plain data: what gets hashed and stored. */
export interface NamedWeight {
  readonly name: string
  readonly shape: readonly number[]
  readonly data: Float32Array
}

export interface LearnableLayer {
  readonly name: string
  readonly kind: LayerKind
  /** Position among the conv/dense layers in forward order (0-based). */
  readonly index: number
  /** tfjs layout: conv [kh, kw, inC, outC], dense [in, out]. */
  readonly kernelShape: readonly number[]
  readonly fanIn: number
  readonly fanOut: number
  readonly units: number
  readonly hasBias: boolean
  /** conv only: strides [sh, sw] and tfjs padding (explicit PyTorch padding shows up as a `<name>.pad` inbound). */
  readonly strides: readonly number[] | undefined
  readonly padding: string | undefined
  /** The layer whose output this one consumes (e.g. `conv2.pad`, `pool1`, `layer1.0.act2`, "input"). */
  readonly inbound: string
  /** Nearest conv/dense layers upstream (or "input"): what must be learned before this one. */
  readonly feeders: readonly string[]
  /** The activation layer after it (through BN and a residual add), undefined for the classifier. */
  readonly activation: string | undefined
  /** Where it sits for Fixup-like inits: plain / branch / shortcut / classifier. */
  readonly context: InitContext
}

/** The conv/dense layers in forward order, each with its shape, fans and place in the graph. */
export const learnableLayers = (model: tf.LayersModel): LearnableLayer[] => {
  const contexts = initContexts(model)
  return forwardOrder(model)
    .filter((l) => learnableKind(l) !== undefined)
    .map((l, index) => {
      const kernel = l.weights.find((w) => weightSuffix(w) === "kernel")
      if (kernel === undefined) throw new WeightMismatch({ weight: `${l.name}/kernel`, problem: "layer has no kernel" })
      const kernelShape = shapeOf(kernel)
      const f = fans(kernelShape)
      const config = l.getConfig()
      const source = producers(l)[0]
      return {
        name: l.name,
        kind: learnableKind(l)!,
        index,
        kernelShape,
        fanIn: f.fanIn,
        fanOut: f.fanOut,
        units: f.units,
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

const weightSuffix = (v: tf.LayerVariable): string => v.originalName.split("/").pop()!
/** A built layer's weight shapes are fully known; tfjs types them as possibly-null. */
const shapeOf = (v: tf.LayerVariable): number[] => v.shape.map((d) => d ?? 0)
const weightName = (layer: Layer, v: tf.LayerVariable): string => `${layer.name}/${weightSuffix(v)}`

/** One layer's weights (kernel, bias; BN: gamma, beta, moving_mean, moving_variance), copied out. */
export const getLayerWeights = (model: tf.LayersModel, layerName: string): NamedWeight[] => {
  const layer = findLayer(model, layerName)
  return layer.weights.map((v) => ({
    name: weightName(layer, v),
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
export const setLayerWeights = (model: tf.LayersModel, layerName: string, weights: readonly NamedWeight[]): void => {
  const layer = findLayer(model, layerName)
  const byName = new Map(layer.weights.map((v) => [weightName(layer, v), v]))
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
  forwardOrder(model).flatMap((l) => (l.weights.length === 0 ? [] : getLayerWeights(model, l.name)))

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
  const expected = new Set(model.layers.flatMap((l) => l.weights.map((v) => weightName(l, v))))
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
    const kernel = initialize(config, l.kernelShape, deriveSeed(options.seed, l.name), l.context)
    const ws: NamedWeight[] = [{ name: `${l.name}/kernel`, shape: l.kernelShape, data: kernel }]
    if (l.hasBias) ws.push({ name: `${l.name}/bias`, shape: [l.units], data: new Float32Array(l.units) })
    setLayerWeights(model, l.name, ws)
  }
  return targets.map((l) => l.name)
}

/** Multiply one layer's kernel by `factor` in place. */
export const scaleKernel = (model: tf.LayersModel, layerName: string, factor: number): void => {
  const layer = findLayer(model, layerName)
  const kernel = layer.weights.find((v) => weightSuffix(v) === "kernel")
  if (kernel === undefined) throw new WeightMismatch({ weight: `${layerName}/kernel`, problem: "layer has no kernel" })
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
  const probe = layerProbe(model)
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
      scaleKernel: (layer, factor) => scaleKernel(model, layer, factor)
    },
    batch,
    options.lsuv ?? defaultLsuvConfig
  )
}
