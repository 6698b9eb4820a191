/**
 * A model's conv/dense layer as LW's learning problem: the real input it receives from the layers below (the
 * model's own forward pass with the weights it has now), and the layer as a function of new weights up to its
 * activation, the model's own layers in between:
 *
 *   output      = linear(x; kernel) + bias                 linear-ops.ts: Dense, Conv1D/2D/3D, DepthwiseConv2D,
 *                                                          SeparableConv2D (both kernels, packed), Conv2D/3DTranspose,
 *                                                          in their data formats, strides, padding, dilation;
 *                                                          `prepare` (e.g. im2col) once: x is fixed
 *   activation  = act(between(output) [+ partner])         the path of shared/models/graph.ts `activationPath`:
 *                                                          BN/LayerNorm in inference mode, dropout (identity),
 *                                                          reshapes, pooling, padding, the residual add, the activation
 *               = fused(output)                            a layer with its own activation (Dense({activation}))
 *               = between(output)                          no activation follows (a linear layer; the classifier)
 *
 * The model must be flat (shared/models/flatten.ts): greedy.ts hands its flat view here.
 *
 * The residual partner is the add's other input from the forward pass (the identity or downsample path for a
 * block's last conv). When it depends on layers after this one in forward order (a downsample conv, whose partner
 * is its block's branch), `pendingPartner` decides: "zero" leaves it out, "current" uses its current value.
 *
 * A layer on the activation path that LW does not follow (graph.ts `blocked`) is an UnsupportedLayer naming it.
 * Before handing the problem out, the recomputation is checked once against the model's own forward output for
 * the current weights: a layer whose maths we do not reproduce is an UnsupportedLayer, never silently wrong.
 */
import * as tf from "@tensorflow/tfjs"
import { activationKindOf, type ActivationKind } from "../init/activations.ts"
import { layerProbe, type LayerForward } from "../models/forward.ts"
import { activationPath, findLayer, forwardOrder, learnableKind, producers, type Layer } from "../models/graph.ts"
import { kindSpecOf } from "../models/kinds.ts"
import { drawKernels, getLayerWeights, type NamedWeight } from "../models/weights.ts"
import type { LwConfig } from "./config.ts"
import { UnsupportedLayer } from "./errors.ts"
import type { LayerFn, LayerWeights } from "./learn-layer.ts"
import { linearOp, type LinearOp } from "./linear-ops.ts"
import type { ChannelAxes } from "./stats.ts"

export type Probe = (layerName: string, x: tf.Tensor) => LayerForward

export interface LayerProblem {
  readonly name: string
  /** The learned variable: the kernel's shape, or [size] when several kernels are packed (SeparableConv2D). */
  readonly kernelShape: readonly number[]
  readonly biasShape: readonly number[] | undefined
  /**
   * [layer input] or [layer input, residual partner], batch on axis 0; the conv input as its im2col patches.
   * Owned by the problem: `dispose()`.
   */
  readonly inputs: readonly tf.Tensor[]
  readonly forward: LayerFn
  /** The weights the layer has in the model now. */
  readonly current: LayerWeights
  /** An activation (separate layer or fused) follows; otherwise the activation site is the output itself. */
  readonly hasActivation: boolean
  /** The activation that follows as shared/init `activationKindOf` names it ("linear": none). */
  readonly activation: ActivationKind | undefined
  /**
   * Where the channels are in the output and in the activation, for scope "channel": the op's (axis 1 for a
   * channelsFirst conv's output); an activation site of another rank than the output (pooled, flattened) has them
   * last.
   */
  readonly channelAxes: ChannelAxes
  /** How the residual add is treated: no add, the forward's partner, or left out (pending, "zero"). */
  readonly partner: "none" | "forward" | "omitted"
  /**
   * The starting weights LW should draw for this kind, when shared/init's draw of `kernelShape` would not give them
   * (depthwise kernels: their fans; packed kernels: each drawn with its own); undefined: learnLayer's own draw.
   */
  readonly initial: (init: LwConfig["init"], seed: number) => LayerWeights | undefined
  /** Learned weights as the layer's named weights (packed kernels split): `<layer>/kernel`, `<layer>/bias`... */
  readonly named: (weights: LayerWeights) => NamedWeight[]
  readonly dispose: () => void
}

/** The activation a conv/dense layer applies itself (`activation: "relu"` in its config), if any. */
const fusedActivation = (layer: Layer): tf.layers.Layer | undefined => {
  const name = layer.getConfig().activation
  return typeof name === "string" && name !== "linear" ? tf.layers.activation({ activation: name as "relu" }) : undefined
}

/** Every conv/dense layer `layer` depends on (itself included), through all its producers. */
const upstreamLearnable = (layer: Layer): Set<Layer> => {
  const found = new Set<Layer>()
  const seen = new Set<Layer>()
  const walk = (l: Layer) => {
    if (seen.has(l)) return
    seen.add(l)
    if (learnableKind(l) !== undefined) found.add(l)
    for (const p of producers(l)) walk(p)
  }
  walk(layer)
  return found
}

const maxAbsDiff = (a: tf.Tensor, b: tf.Tensor): { diff: number; scale: number } => {
  const [diff, scale] = tf.tidy(() => tf.stack([tf.max(tf.abs(tf.sub(a, b))), tf.max(tf.abs(b))]).dataSync())
  return { diff: diff!, scale: scale! }
}

/**
 * The problem for `layerName` on `batch`. `probe` (from `layerProbe(model)`) lets a caller reuse the sub-models
 * it builds across layers and calls.
 */
export const layerProblem = (
  model: tf.LayersModel,
  layerName: string,
  batch: tf.Tensor,
  pendingPartner: LwConfig["pendingPartner"],
  probe: Probe = layerProbe(model)
): LayerProblem => {
  const layer = findLayer(model, layerName)
  const fused = fusedActivation(layer)
  const path = activationPath(layer)
  const add = fused === undefined ? path.add : undefined
  const className = layer.getClassName()
  const spec = kindSpecOf(layer)
  if (spec === undefined) throw new UnsupportedLayer({ layer: layerName, className, problem: "not a linear layer kind LW learns (shared/models/kinds.ts)" })
  if (fused === undefined && path.blocked !== undefined) {
    const { layer: blocker, problem } = path.blocked
    throw new UnsupportedLayer({
      layer: layerName,
      className,
      between: blocker.name,
      problem:
        `"${blocker.name}" (${blocker.getClassName()}) lies between it and its activation: ${problem}. ` +
        `Move the activation before it, or give the layer its own activation (activation: "relu")`
    })
  }
  const learnable = forwardOrder(model).filter((l) => learnableKind(l) !== undefined)
  const index = learnable.indexOf(layer)
  const pending =
    path.addOther !== undefined && [...upstreamLearnable(path.addOther)].some((l) => learnable.indexOf(l) > index)
  const partner: LayerProblem["partner"] =
    add === undefined ? "none" : pending && pendingPartner === "zero" ? "omitted" : "forward"

  const f = probe(layerName, batch)
  const unused = [f.input, f.activation, ...(partner === "forward" ? [] : [f.shortcut])].filter((t) => t !== undefined)
  const weights = getLayerWeights(model, layerName)
  const kernels = spec.kernels.map((suffix) => weights.find((w) => w.name === `${layerName}/${suffix}`)!)
  const bias = weights.find((w) => w.name === `${layerName}/bias`)
  let op: LinearOp
  let prepared: tf.Tensor
  try {
    op = linearOp(layer, f.input, kernels.map((k) => k.shape))
    prepared = op.prepare(f.input)
  } catch (error) {
    tf.dispose([f.input, f.output, f.activation, f.shortcut].filter((t) => t !== undefined))
    throw error
  }
  tf.dispose(unused)
  const inputs = partner === "forward" ? [prepared, f.shortcut!] : [prepared]

  const forward: LayerFn = (xs, kernel, bias) => {
    const output = op.apply(xs[0]!, kernel, bias)
    if (fused !== undefined) return { output, activation: fused.apply(output) as tf.Tensor }
    let t = output
    for (const l of path.between) {
      if (l === add) {
        if (partner === "forward") t = l.apply([t, xs[1]!]) as tf.Tensor
      } else t = l.apply(t, { training: false }) as tf.Tensor
    }
    return { output, activation: path.activation === undefined ? t : (path.activation.apply(t) as tf.Tensor) }
  }

  const packed = kernels.length > 1
  const pack = (ks: readonly NamedWeight[]): NamedWeight =>
    packed
      ? { name: `${layerName}/kernels`, shape: op.kernelShape, data: Float32Array.from(ks.flatMap((k) => Array.from(k.data))) }
      : ks[0]!
  const kernel = pack(kernels)
  const current: LayerWeights = {
    kernel: { shape: kernel.shape, data: kernel.data },
    bias: bias === undefined ? undefined : { shape: bias.shape, data: bias.data }
  }

  // The model's own output for the current weights must be what our maths gives.
  const { diff, scale } = tf.tidy(() => {
    const k = tf.tensor(kernel.data, [...kernel.shape])
    const b = bias === undefined ? undefined : tf.tensor(bias.data, [...bias.shape])
    const ours = op.apply(prepared, k, b)
    return maxAbsDiff(fused === undefined ? ours : (fused.apply(ours) as tf.Tensor), f.output)
  })
  f.output.dispose()
  // Relative to the output's scale: float32 summation order differs between im2col·kernel and the conv kernel.
  if (!(diff <= 1e-4 * Math.max(1, scale))) {
    tf.dispose(inputs)
    throw new UnsupportedLayer({
      layer: layerName,
      className: layer.getClassName(),
      problem: `recomputed output differs from the model's by ${diff} (scale ${scale})`
    })
  }

  const rank = (l: Layer) => (l.output as tf.SymbolicTensor).shape.length
  const site = fused !== undefined ? layer : (path.activation ?? path.between.at(-1) ?? layer)
  const channelAxes: ChannelAxes = { output: op.channelAxis, activation: rank(site) === rank(layer) ? op.channelAxis : -1 }

  const drawnAs = kernels.map((k) => spec.drawShape(k.name.slice(layerName.length + 1), k.shape))
  const ownDraw = packed || drawnAs.some((d, i) => d.join() !== kernels[i]!.shape.join())
  const info = { name: layerName, context: { role: "plain" as const }, kernels: kernels.map((k, i) => ({ suffix: k.name.slice(layerName.length + 1), shape: k.shape, drawShape: drawnAs[i]! })) }
  return {
    name: layerName,
    kernelShape: kernel.shape,
    biasShape: bias?.shape,
    inputs,
    forward,
    current,
    hasActivation: fused !== undefined || path.activation !== undefined,
    activation: activationKindOf(fused !== undefined ? layer : path.activation),
    channelAxes,
    partner,
    initial: (init, seed) =>
      ownDraw
        ? {
            kernel: { shape: kernel.shape, data: pack(drawKernels(init, info, seed)).data },
            bias: bias === undefined ? undefined : { shape: bias.shape, data: new Float32Array(bias.data.length) }
          }
        : undefined,
    named: (w) => {
      let offset = 0
      const ks = kernels.map((k) => {
        const size = k.data.length
        const data = packed ? w.kernel.data.slice(offset, offset + size) : w.kernel.data
        offset += size
        return { name: k.name, shape: k.shape, data }
      })
      return [...ks, ...(w.bias === undefined ? [] : [{ name: `${layerName}/bias`, shape: w.bias.shape, data: w.bias.data }])]
    },
    dispose: () => tf.dispose(inputs)
  }
}
