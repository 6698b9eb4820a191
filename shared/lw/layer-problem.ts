/**
 * A model's conv/dense layer as LW's learning problem: the real input it receives from the layers below (the
 * model's own forward pass with the weights it has now), and the layer as a function of new weights up to its
 * activation, the model's own layers in between:
 *
 *   output      = x ⊛ kernel + bias                       Conv2D (NHWC; strides/padding/dilation of the layer;
 *                                                          as im2col(x)·kernel, im2col built once: x is fixed)
 *                 x · kernel + bias                        Dense (over the last axis)
 *   activation  = act(bn(output) [+ partner])              the path of shared/models/graph.ts `activationPath`:
 *                                                          BN in inference mode, the residual add, the activation
 *               = fused(output)                            a layer with its own activation (Dense({activation}))
 *               = output                                   no activation follows (identity)
 *
 * The residual partner is the add's other input from the forward pass (the identity or downsample path for a
 * block's last conv). When it depends on layers after this one in forward order (a downsample conv, whose partner
 * is its block's branch), `pendingPartner` decides: "zero" leaves it out, "current" uses its current value.
 *
 * Before handing the problem out, the recomputation is checked once against the model's own forward output for
 * the current weights: a layer whose maths we do not reproduce is an UnsupportedLayer, never silently wrong.
 */
import * as tf from "@tensorflow/tfjs"
import { layerProbe, type LayerForward } from "../models/forward.ts"
import { activationPath, findLayer, forwardOrder, learnableKind, producers, type Layer } from "../models/graph.ts"
import { getLayerWeights } from "../models/weights.ts"
import type { LwConfig } from "./config.ts"
import { UnsupportedLayer } from "./errors.ts"
import type { LayerFn, LayerWeights } from "./learn-layer.ts"

export type Probe = (layerName: string, x: tf.Tensor) => LayerForward

export interface LayerProblem {
  readonly name: string
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
  /** How the residual add is treated: no add, the forward's partner, or left out (pending, "zero"). */
  readonly partner: "none" | "forward" | "omitted"
  readonly dispose: () => void
}

/**
 * The layer's linear map on its (prepared) input, written on tfjs ops so its weights can be variables of our own.
 * `prepare` turns the layer input into what `apply` consumes, once per problem: the input does not change while
 * the layer learns.
 */
interface LinearOp {
  readonly prepare: (x: tf.Tensor) => tf.Tensor
  readonly apply: (prepared: tf.Tensor, kernel: tf.Tensor, bias: tf.Tensor | undefined) => tf.Tensor
}

/** Above this many elements (128 MB of float32) the conv's im2col matrix is not built: tf.conv2d every step. */
const maxPatchElements = 1 << 25

const withBias = (y: tf.Tensor, bias: tf.Tensor | undefined) => (bias === undefined ? y : tf.add(y, bias))

/** y = x·kernel over the last axis of x (any rank). */
const dotLast = (x: tf.Tensor, kernel: tf.Tensor): tf.Tensor => {
  if (x.rank === 2) return tf.matMul(x as tf.Tensor2D, kernel as tf.Tensor2D)
  const flat = tf.matMul(tf.reshape(x, [-1, x.shape[x.rank - 1]!]) as tf.Tensor2D, tf.reshape(kernel, [-1, kernel.shape[kernel.rank - 1]!]) as tf.Tensor2D)
  return tf.reshape(flat, [...x.shape.slice(0, -1), kernel.shape[kernel.rank - 1]!])
}

/**
 * im2col for NHWC: [N, H, W, C] → [N, outH, outW, kh·kw·C], patch element (i, j, c) at (i·kw + j)·C + c — the
 * order of a [kh, kw, C, outC] kernel flattened to [kh·kw·C, outC]. Padding as tfjs computes it for "same".
 */
const patches = (
  x: tf.Tensor4D,
  [kh, kw]: readonly [number, number],
  [sh, sw]: readonly [number, number],
  [dh, dw]: readonly [number, number],
  padding: "same" | "valid"
): tf.Tensor4D =>
  tf.tidy(() => {
    const [n, h, w, c] = x.shape
    const [eh, ew] = [(kh - 1) * dh + 1, (kw - 1) * dw + 1]
    const [oh, ow] = padding === "same" ? [Math.ceil(h / sh), Math.ceil(w / sw)] : [Math.ceil((h - eh + 1) / sh), Math.ceil((w - ew + 1) / sw)]
    let padded = x
    if (padding === "same") {
      const ph = Math.max(0, (oh - 1) * sh + eh - h)
      const pw = Math.max(0, (ow - 1) * sw + ew - w)
      padded = tf.pad(x, [[0, 0], [Math.floor(ph / 2), ph - Math.floor(ph / 2)], [Math.floor(pw / 2), pw - Math.floor(pw / 2)], [0, 0]])
    }
    const columns: tf.Tensor4D[] = []
    for (let i = 0; i < kh; i++) {
      for (let j = 0; j < kw; j++) {
        const begin = [0, i * dh, j * dw, 0]
        const end = [n, i * dh + (oh - 1) * sh + 1, j * dw + (ow - 1) * sw + 1, c]
        columns.push(tf.stridedSlice(padded, begin, end, [1, sh, sw, 1]) as tf.Tensor4D)
      }
    }
    return columns.length === 1 ? columns[0]! : tf.concat(columns, 3)
  })

const linearOp = (layer: Layer, input: tf.Tensor): LinearOp => {
  const cls = layer.getClassName()
  const config = layer.getConfig()
  const unsupported = (problem: string) => new UnsupportedLayer({ layer: layer.name, className: cls, problem })
  if (cls === "Dense") return { prepare: (x) => x.clone(), apply: (x, kernel, bias) => withBias(dotLast(x, kernel), bias) }
  if (cls === "Conv2D") {
    if (config.dataFormat === "channelsFirst") throw unsupported("channelsFirst data format")
    const pair = (v: unknown): [number, number] => (Array.isArray(v) ? [v[0], v[1] ?? v[0]] : [Number(v), Number(v)])
    const kernelSize = pair(config.kernelSize)
    const strides = pair(config.strides ?? 1)
    const dilations = pair(config.dilationRate ?? 1)
    const padding = config.padding
    if (padding !== "same" && padding !== "valid") throw unsupported(`padding "${String(padding)}"`)
    const [n, h, w, c] = input.shape as [number, number, number, number]
    const im2col = n * Math.ceil(h / strides[0]) * Math.ceil(w / strides[1]) * kernelSize[0] * kernelSize[1] * c <= maxPatchElements
    return im2col
      ? {
          prepare: (x) => patches(x as tf.Tensor4D, kernelSize, strides, dilations, padding),
          apply: (p, kernel, bias) => withBias(dotLast(p, kernel), bias)
        }
      : {
          prepare: (x) => x.clone(),
          apply: (x, kernel, bias) =>
            withBias(tf.conv2d(x as tf.Tensor4D, kernel as tf.Tensor4D, strides, padding, "NHWC", dilations), bias)
        }
  }
  throw unsupported("only Conv2D and Dense layers are learned")
}

/** The activation a Conv2D/Dense applies itself (`activation: "relu"` in its config), if any. */
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
  if (add !== undefined && producers(add).length !== 2) {
    throw new UnsupportedLayer({ layer: layerName, className: layer.getClassName(), problem: `"${add.name}" adds ${producers(add).length} inputs, not 2` })
  }
  const learnable = forwardOrder(model).filter((l) => learnableKind(l) !== undefined)
  const index = learnable.indexOf(layer)
  const pending =
    path.addOther !== undefined && [...upstreamLearnable(path.addOther)].some((l) => learnable.indexOf(l) > index)
  const partner: LayerProblem["partner"] =
    add === undefined ? "none" : pending && pendingPartner === "zero" ? "omitted" : "forward"

  const f = probe(layerName, batch)
  const unused = [f.input, f.activation, ...(partner === "forward" ? [] : [f.shortcut])].filter((t) => t !== undefined)
  let op: LinearOp
  let prepared: tf.Tensor
  try {
    op = linearOp(layer, f.input)
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

  const weights = getLayerWeights(model, layerName)
  const kernel = weights.find((w) => w.name === `${layerName}/kernel`)!
  const bias = weights.find((w) => w.name === `${layerName}/bias`)
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

  return {
    name: layerName,
    kernelShape: kernel.shape,
    biasShape: bias?.shape,
    inputs,
    forward,
    current,
    hasActivation: fused !== undefined || path.activation !== undefined,
    partner,
    dispose: () => tf.dispose(inputs)
  }
}
