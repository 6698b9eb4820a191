/**
 * Every linear layer kind LW learns (shared/models/kinds.ts), written on plain tfjs ops so its weights can be
 * variables of LW's own. The layer input is fixed while a layer learns, so each op turns it ONCE into what its
 * `apply` multiplies by the kernel (`prepare`: an im2col patch matrix for convolutions), and `apply` is then a
 * matrix product per step:
 *
 *   Dense                  x · kernel + bias                       over the last axis, any input rank
 *   Conv1D/2D/3D           im2col(x) · kernel[k·C, out] + bias     strides, dilation, same/valid padding as tfjs
 *   DepthwiseConv2D        per channel c: im2col(x)[c] · kernel[c] one batched matMul over channels [C, M, T]·[C, T, mult]
 *                                                                  (tfjs ignores its dilationRate: so do we)
 *   SeparableConv2D        depthwise as above, then · pointwise[C·mult, filters] + bias. BOTH kernels are learned,
 *                          jointly, as one variable: [depthwise..., pointwise...] flattened and concatenated
 *                          (`packed`); the split is exact, so the gradient reaches each part
 *   Conv2D/3DTranspose     the transposed conv as a conv: x dilated by the strides (zeros between pixels) and padded
 *                          by k − 1 − pad, convolved (stride 1) with the kernel flipped in space and its in/out axes
 *                          swapped (tfjs ignores its dilationRate: so do we)
 *
 * Data formats: the maths runs channels-last; a channelsFirst layer's input is transposed to it once (in
 * `prepare`) and its output back (in `apply`) — except Conv1D, whose tfjs implementation returns channels-last
 * output for channelsFirst input (reproduced). SeparableConv2D channelsFirst and Conv1D causal padding fail in tfjs
 * itself and are refused. Convolutions whose patch matrix would exceed 128 MB run the tfjs conv op every step.
 *
 * layer-problem.ts checks each op once against the model's own output for the current weights.
 */
import * as tf from "@tensorflow/tfjs"
import type { Layer } from "../models/graph.ts"
import { UnsupportedLayer } from "./errors.ts"

export interface LinearOp {
  /** The learned variable's shape: the kernel's, or [size] for kernels packed into one (SeparableConv2D). */
  readonly kernelShape: readonly number[]
  readonly prepare: (x: tf.Tensor) => tf.Tensor
  readonly apply: (prepared: tf.Tensor, kernel: tf.Tensor, bias: tf.Tensor | undefined) => tf.Tensor
  /** The axis of `apply`'s output that holds the channels (units): 1 for channelsFirst output, -1 otherwise. */
  readonly channelAxis: number
}

/** Above this many elements (128 MB of float32) a conv's im2col matrix is not built: the tfjs op every step. */
const maxPatchElements = 1 << 25

const withBias = (y: tf.Tensor, bias: tf.Tensor | undefined) => (bias === undefined ? y : tf.add(y, bias))

/** y = x·kernel over the last axis of x (any rank). */
const dotLast = (x: tf.Tensor, kernel: tf.Tensor): tf.Tensor => {
  if (x.rank === 2) return tf.matMul(x as tf.Tensor2D, kernel as tf.Tensor2D)
  const flat = tf.matMul(tf.reshape(x, [-1, x.shape[x.rank - 1]!]) as tf.Tensor2D, tf.reshape(kernel, [-1, kernel.shape[kernel.rank - 1]!]) as tf.Tensor2D)
  return tf.reshape(flat, [...x.shape.slice(0, -1), kernel.shape[kernel.rank - 1]!])
}

const product = (xs: readonly number[]) => xs.reduce((a, b) => a * b, 1)

interface Geometry {
  readonly kernel: readonly number[]
  readonly strides: readonly number[]
  readonly dilations: readonly number[]
  readonly padding: "same" | "valid"
}

/** Output size per spatial axis, as tfjs computes it. */
const outSize = (spatial: readonly number[], g: Geometry): number[] =>
  spatial.map((n, i) => {
    const extent = (g.kernel[i]! - 1) * g.dilations[i]! + 1
    return g.padding === "same" ? Math.ceil(n / g.strides[i]!) : Math.ceil((n - extent + 1) / g.strides[i]!)
  })

/**
 * im2col for channels-last input with r spatial axes: [N, ...S, C] → [N, ...O, Πk·C], patch element
 * (offset, c) at offset·C + c, offsets in row-major order — the order of a [...k, C, out] kernel flattened to
 * [Πk·C, out]. Padding as tfjs computes it for "same" (the odd pixel after).
 */
const patches = (x: tf.Tensor, g: Geometry): tf.Tensor =>
  tf.tidy(() => {
    const r = g.kernel.length
    const n = x.shape[0]!
    const spatial = x.shape.slice(1, r + 1)
    const c = x.shape[r + 1]!
    const out = outSize(spatial, g)
    let padded = x
    if (g.padding === "same") {
      const pads = spatial.map((s, i) => Math.max(0, (out[i]! - 1) * g.strides[i]! + (g.kernel[i]! - 1) * g.dilations[i]! + 1 - s))
      padded = tf.pad(x, [[0, 0], ...pads.map((p): [number, number] => [Math.floor(p / 2), p - Math.floor(p / 2)]), [0, 0]])
    }
    const columns: tf.Tensor[] = []
    const offsets = (axis: number, prefix: number[]): void => {
      if (axis === r) {
        const begin = [0, ...prefix.map((o, i) => o * g.dilations[i]!), 0]
        const end = [n, ...prefix.map((o, i) => o * g.dilations[i]! + (out[i]! - 1) * g.strides[i]! + 1), c]
        columns.push(tf.stridedSlice(padded, begin, end, [1, ...g.strides, 1]))
        return
      }
      for (let o = 0; o < g.kernel[axis]!; o++) offsets(axis + 1, [...prefix, o])
    }
    offsets(0, [])
    return columns.length === 1 ? columns[0]! : tf.concat(columns, r + 1)
  })

/** Channels-first ↔ channels-last for a tensor with r spatial axes. */
const toLast = (x: tf.Tensor, r: number) => tf.transpose(x, [0, ...Array.from({ length: r }, (_, i) => i + 2), 1])
const toFirst = (x: tf.Tensor, r: number) => tf.transpose(x, [0, r + 1, ...Array.from({ length: r }, (_, i) => i + 1)])

/** x dilated by the strides along its r spatial axes (s − 1 zeros between neighbours), then padded. */
const dilateAndPad = (x: tf.Tensor, strides: readonly number[], pads: ReadonlyArray<readonly [number, number]>): tf.Tensor =>
  tf.tidy(() => {
    let t = x
    strides.forEach((s, i) => {
      if (s === 1) return
      const axis = i + 1
      const len = t.shape[axis]!
      const expanded = tf.expandDims(t, axis + 1)
      const widened = tf.pad(expanded, expanded.shape.map((_, a): [number, number] => (a === axis + 1 ? [0, s - 1] : [0, 0])))
      const merged = tf.reshape(widened, [...t.shape.slice(0, axis), len * s, ...t.shape.slice(axis + 1)])
      t = tf.slice(merged, t.shape.map(() => 0), [...t.shape.slice(0, axis), (len - 1) * s + 1, ...t.shape.slice(axis + 1)])
    })
    return tf.pad(t, [[0, 0], ...pads.map((p): [number, number] => [p[0], p[1]]), [0, 0]])
  })

/** Per-axis config value (a number or a list) as r numbers. */
const perAxis = (v: unknown, r: number, fallback: number): number[] =>
  Array.isArray(v) ? Array.from({ length: r }, (_, i) => Number(v[i] ?? v[0])) : Array.from({ length: r }, () => Number(v ?? fallback))

const convRank: { readonly [cls: string]: number } = {
  Conv1D: 1,
  Conv2D: 2,
  Conv3D: 3,
  DepthwiseConv2D: 2,
  SeparableConv2D: 2,
  Conv2DTranspose: 2,
  Conv3DTranspose: 3
}

/** The op for `layer` whose input (as the model computes it) is `input` and whose kernels have `kernelShapes`. */
export const linearOp = (layer: Layer, input: tf.Tensor, kernelShapes: ReadonlyArray<readonly number[]>): LinearOp => {
  const cls = layer.getClassName()
  const config = layer.getConfig()
  const unsupported = (problem: string) => new UnsupportedLayer({ layer: layer.name, className: cls, problem })
  const [kernelShape] = kernelShapes as [readonly number[]]
  if (cls === "Dense") return { kernelShape, channelAxis: -1, prepare: (x) => x.clone(), apply: (x, kernel, bias) => withBias(dotLast(x, kernel), bias) }
  const r = convRank[cls]
  if (r === undefined) throw unsupported("not a linear layer kind LW learns (shared/models/kinds.ts)")

  // The layer's own field: Conv1D's getConfig() leaves dataFormat out.
  const first = (layer as unknown as { readonly dataFormat?: string }).dataFormat === "channelsFirst"
  const padding = config.padding
  if (padding !== "same" && padding !== "valid") throw unsupported(`padding "${String(padding)}"`)
  const ignoresDilation = cls === "DepthwiseConv2D" || cls.endsWith("Transpose") // as tfjs computes them
  const g: Geometry = {
    kernel: perAxis(config.kernelSize, r, 1),
    strides: perAxis(config.strides, r, 1),
    dilations: ignoresDilation ? perAxis(1, r, 1) : perAxis(config.dilationRate, r, 1),
    padding
  }
  if (first && cls === "SeparableConv2D") throw unsupported("channelsFirst (tfjs itself cannot run it)")
  const inFirst = first
  const outFirst = first && cls !== "Conv1D" // tfjs's Conv1D returns channels-last output for channelsFirst input
  const channelAxis = outFirst ? 1 : -1
  const last = (x: tf.Tensor) => (inFirst ? toLast(x, r) : x.clone())
  const finish = (y: tf.Tensor) => (outFirst ? toFirst(y, r) : y)
  const lastShape = inFirst ? [input.shape[0]!, ...input.shape.slice(2), input.shape[1]!] : input.shape
  const [n, spatial, c] = [lastShape[0]!, lastShape.slice(1, r + 1), lastShape[r + 1]!]
  const im2col = n * product(spatial.map((s, i) => Math.ceil(s / g.strides[i]!))) * product(g.kernel) * c <= maxPatchElements

  if (cls === "Conv1D" || cls === "Conv2D" || cls === "Conv3D") {
    const convOp = (x: tf.Tensor, k: tf.Tensor): tf.Tensor =>
      r === 1
        ? tf.conv1d(x as tf.Tensor3D, k as tf.Tensor3D, g.strides[0]!, padding, "NWC", g.dilations[0]!)
        : r === 2
          ? tf.conv2d(x as tf.Tensor4D, k as tf.Tensor4D, g.strides as [number, number], padding, "NHWC", g.dilations as [number, number])
          : tf.conv3d(x as tf.Tensor5D, k as tf.Tensor5D, g.strides as [number, number, number], padding, "NDHWC", g.dilations as [number, number, number])
    return im2col
      ? {
          kernelShape,
          channelAxis,
          prepare: (x) => (inFirst ? tf.tidy(() => patches(toLast(x, r), g)) : patches(x, g)),
          apply: (p, kernel, bias) => finish(withBias(dotLast(p, kernel), bias))
        }
      : { kernelShape, channelAxis, prepare: last, apply: (x, kernel, bias) => finish(withBias(convOp(x, kernel), bias)) }
  }

  if (cls === "DepthwiseConv2D" || cls === "SeparableConv2D") {
    const [dwShape, pwShape] = kernelShapes as [readonly number[], readonly number[] | undefined]
    const [taps, mult] = [g.kernel[0]! * g.kernel[1]!, dwShape[3]!]
    const out = outSize(spatial, g)
    const m = n * out[0]! * out[1]!
    // prepared: [C, M, T] — each channel's patches; depthwise(p, k) = per channel [M, T]·[T, mult] → [N, oh, ow, C·mult]
    const depthwise = (p: tf.Tensor, k: tf.Tensor) => {
      const kc = tf.transpose(tf.reshape(k, [taps, c, mult]), [1, 0, 2]) as tf.Tensor3D
      const y = tf.matMul(p as tf.Tensor3D, kc) // [C, M, mult]
      return tf.reshape(tf.transpose(y, [1, 0, 2]), [n, out[0]!, out[1]!, c * mult])
    }
    const prepare = (x: tf.Tensor) =>
      tf.tidy(() => tf.transpose(tf.reshape(patches(inFirst ? toLast(x, r) : x, g), [m, taps, c]), [2, 0, 1]))
    if (pwShape === undefined) {
      return im2col
        ? { kernelShape, channelAxis, prepare, apply: (p, kernel, bias) => finish(withBias(depthwise(p, kernel), bias)) }
        : {
            kernelShape,
            channelAxis,
            prepare: last,
            apply: (x, kernel, bias) =>
              finish(withBias(tf.depthwiseConv2d(x as tf.Tensor4D, kernel as tf.Tensor4D, g.strides as [number, number], padding), bias))
          }
    }
    const dwSize = product(dwShape)
    const split = (k: tf.Tensor) => [tf.reshape(tf.slice(k, [0], [dwSize]), [...dwShape]), tf.reshape(tf.slice(k, [dwSize], [product(pwShape)]), [...pwShape])]
    const packedShape = [dwSize + product(pwShape)]
    return im2col
      ? {
          kernelShape: packedShape,
          channelAxis,
          prepare,
          apply: (p, kernel, bias) => {
            const [dw, pw] = split(kernel)
            return withBias(dotLast(depthwise(p, dw!), pw!), bias)
          }
        }
      : {
          kernelShape: packedShape,
          channelAxis,
          prepare: last,
          apply: (x, kernel, bias) => {
            const [dw, pw] = split(kernel)
            const d = tf.depthwiseConv2d(x as tf.Tensor4D, dw as tf.Tensor4D, g.strides as [number, number], padding, "NHWC", g.dilations as [number, number])
            return withBias(dotLast(d, pw!), bias)
          }
        }
  }

  // Conv2DTranspose / Conv3DTranspose: kernel [...k, filters, inC].
  const outLen = spatial.map((s, i) => (padding === "same" ? s * g.strides[i]! : s * g.strides[i]! + Math.max(g.kernel[i]! - g.strides[i]!, 0)))
  const pads = spatial.map((s, i): [number, number] => {
    const [k, st, o] = [g.kernel[i]!, g.strides[i]!, outLen[i]!]
    const before = padding === "same" ? Math.floor(Math.max(0, (s - 1) * st + k - o) / 2) : 0
    const left = k - 1 - before
    return [left, o + k - 1 - ((s - 1) * st + 1) - left]
  })
  const unit: Geometry = { kernel: g.kernel, strides: perAxis(1, r, 1), dilations: perAxis(1, r, 1), padding: "valid" }
  const flipped = (k: tf.Tensor) =>
    tf.transpose(tf.reverse(k, Array.from({ length: r }, (_, i) => i)), [...Array.from({ length: r }, (_, i) => i), r + 1, r])
  const bigPatches = n * product(outLen) * product(g.kernel) * c > maxPatchElements
  if (bigPatches) throw unsupported(`its patch matrix would exceed ${maxPatchElements} elements: learn it on a smaller batch`)
  return {
    kernelShape,
    channelAxis,
    prepare: (x) => tf.tidy(() => patches(dilateAndPad(inFirst ? toLast(x, r) : x, g.strides, pads), unit)),
    apply: (p, kernel, bias) => finish(withBias(dotLast(p, flipped(kernel)), bias))
  }
}
