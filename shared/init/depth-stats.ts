/**
 * How a plain MLP's forward signal and backward gradient change across its depth at initialization (the deep-stats
 * study, pipelines/deep-stats.ts): the measurement, the mean-field prediction it is read against, and the trend.
 *
 *   h_0 = x ~ N(0, 1)        [batch, width]
 *   z_l = h_{l−1}·W_l + b_l  h_l = φ(z_l)        l = 1..L (the hidden layers; "forward" statistics are of h_l)
 *   logits = h_L·W_{L+1} + b_{L+1}
 *   g_l = ∂loss/∂h_l         ("backward" statistics: the gradient with respect to each layer's activation)
 *
 * The loss is the mean softmax cross-entropy against fixed random labels (a classifier at the start of training),
 * or the sum of the logits (∂loss/∂logits = 1 everywhere, so g_L depends on the readout weights alone).
 *
 * Mean-field (Poole et al. 2016, Schoenholz et al. 2017) for i.i.d. zero-mean weights of variance σ² and fan-in n:
 *   q_l = n·σ²·E[h_{l−1}²]           Var(z_l), with E[h_0²] = 1
 *   Var(h_l) = E[φ(√q_l u)²] − E[φ(√q_l u)]²                     u ~ N(0, 1)
 *   E[g_{l−1}²] = n_out·σ²·E[φ′(√q_l u)²]·E[g_l²]               (gradient independence)
 * ReLU: E[φ²] = q/2, E[φ′²] = ½, so n·σ² = 2 (Kaiming) holds both and n·σ² = 1 (Xavier, fanIn = fanOut) halves
 * both per layer. tanh with n·σ² = 1 (Xavier) sits at the edge: q shrinks like 1/(2l), a power law, not geometrically.
 */
import * as tf from "@tensorflow/tfjs"

/** A dense layer's weights: kernel [in, out], bias [out]. */
export interface DenseWeights {
  readonly kernel: tf.Tensor2D
  readonly bias: tf.Tensor1D
}

/** The activations the study knows φ and φ′ of (for the mean-field prediction as well as the forward pass). */
export type DepthActivation = "relu" | "tanh" | "linear" | "sigmoid"

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x))
const scalarActivations: {
  readonly [K in DepthActivation]: { readonly f: (x: number) => number; readonly df: (x: number) => number; readonly t: (x: tf.Tensor) => tf.Tensor }
} = {
  relu: { f: (x) => Math.max(0, x), df: (x) => (x > 0 ? 1 : 0), t: (x) => tf.relu(x) },
  tanh: { f: Math.tanh, df: (x) => 1 - Math.tanh(x) ** 2, t: (x) => tf.tanh(x) },
  linear: { f: (x) => x, df: () => 1, t: (x) => tf.clone(x) },
  sigmoid: { f: sigmoid, df: (x) => sigmoid(x) * (1 - sigmoid(x)), t: (x) => tf.sigmoid(x) }
}

export type DepthLoss = { readonly kind: "cross-entropy"; readonly labels: Int32Array } | { readonly kind: "sum" }

export interface Moments {
  readonly mean: number
  readonly variance: number
}

/**
 * Mean and population variance (÷ N) of every value, summed in float64 (two passes): a float32 sum of values near
 * 1e-39, where a vanishing signal ends, would round them to 0.
 */
export const moments = (values: ArrayLike<number>): Moments => {
  const n = values.length
  if (n === 0) return { mean: Number.NaN, variance: Number.NaN }
  let sum = 0
  for (let i = 0; i < n; i++) sum += values[i]!
  const mean = sum / n
  let squares = 0
  for (let i = 0; i < n; i++) squares += (values[i]! - mean) ** 2
  return { mean, variance: squares / n }
}

/** One hidden layer's statistics over the whole batch (every element pooled); NaN where the values are not finite. */
export interface DepthLayerStats {
  /** 1-based: layer 1 is the first hidden layer. */
  readonly layer: number
  readonly forwardMean: number
  readonly forwardVar: number
  readonly gradMean: number
  readonly gradVar: number
}

/**
 * Forward the batch `x` [batch, width] through `hidden` (each followed by `activation`) and `readout`, take `loss`,
 * and return each hidden layer's activation and activation-gradient moments, and the loss. The gradients come from
 * autodiff: a zero tensor ε_l is added to each h_l and ∂loss/∂ε_l = ∂loss/∂h_l (adding 0 leaves every value as it was).
 */
export const depthStats = (
  hidden: ReadonlyArray<DenseWeights>,
  readout: DenseWeights,
  activation: DepthActivation,
  x: tf.Tensor2D,
  loss: DepthLoss
): { readonly layers: DepthLayerStats[]; readonly loss: number } => {
  const phi = scalarActivations[activation].t
  const kept: tf.Tensor[] = []
  const forward = (...eps: tf.Tensor[]): tf.Scalar => {
    let h: tf.Tensor = x
    hidden.forEach((l, i) => {
      h = tf.add(phi(tf.add(tf.matMul(h as tf.Tensor2D, l.kernel), l.bias)), eps[i]!)
      kept.push(tf.keep(h))
    })
    const logits = tf.add(tf.matMul(h as tf.Tensor2D, readout.kernel), readout.bias)
    if (loss.kind === "sum") return tf.sum(logits)
    const y = tf.oneHot(tf.tensor1d(loss.labels, "int32"), readout.kernel.shape[1])
    return tf.neg(tf.mean(tf.sum(tf.mul(y, tf.logSoftmax(logits)), 1))) as tf.Scalar
  }
  const eps = hidden.map((l) => tf.zeros([x.shape[0], l.kernel.shape[1]]))
  try {
    const { value, grads } = tf.valueAndGrads(forward)(eps)
    const lossValue = value.dataSync()[0]!
    value.dispose()
    const layers = hidden.map((_, i) => {
      const f = moments(kept[i]!.dataSync())
      const g = moments(grads[i]!.dataSync())
      return { layer: i + 1, forwardMean: f.mean, forwardVar: f.variance, gradMean: g.mean, gradVar: g.variance }
    })
    tf.dispose(grads)
    return { layers, loss: lossValue }
  } finally {
    tf.dispose(kept)
    tf.dispose(eps)
  }
}

/**
 * E[g(u)] for u ~ N(0, 1), by the midpoint rule over ±10 (4,000 cells). 0 is a cell edge, so a g with a kink or a
 * step at 0 (ReLU, its derivative) is integrated as accurately as a smooth one: the trapezoid rule would weigh ReLU′(0) = 0
 * by half a cell and lose 0.2 % of E[ReLU′²] per layer, 10 % over 50 layers.
 */
export const gaussianExpectation = (g: (u: number) => number): number => {
  const n = 4000
  const h = 20 / n
  let sum = 0
  for (let i = 0; i < n; i++) {
    const u = -10 + (i + 0.5) * h
    sum += Math.exp(-0.5 * u * u) * g(u)
  }
  return (sum * h) / Math.sqrt(2 * Math.PI)
}

export interface MeanFieldLayer {
  readonly layer: number
  /** Predicted Var(h_l). */
  readonly forwardVar: number
  /** Predicted E[g_l²] / E[g_L²]: the gradient's second moment relative to the last hidden layer's. */
  readonly gradRatio: number
}

/**
 * The mean-field prediction for `depth` hidden layers of `width` units on a unit-variance input of `width` features,
 * every kernel i.i.d. with zero mean and variance `weightVariance` (biases 0). Orthogonal kernels are not i.i.d.,
 * but preserve norms exactly: the forward prediction with σ² = 1/n is theirs too.
 */
export const meanField = (c: { readonly depth: number; readonly width: number; readonly weightVariance: number; readonly activation: DepthActivation }): MeanFieldLayer[] => {
  const { f, df } = scalarActivations[c.activation]
  const gain = c.width * c.weightVariance
  let secondMoment = 1 // E[h_0²] of a N(0, 1) input
  const forward = Array.from({ length: c.depth }, () => {
    const sd = Math.sqrt(gain * secondMoment)
    const m1 = gaussianExpectation((u) => f(sd * u))
    secondMoment = gaussianExpectation((u) => f(sd * u) ** 2)
    return { forwardVar: Math.max(0, secondMoment - m1 * m1), slope: gaussianExpectation((u) => df(sd * u) ** 2) }
  })
  // E[g_{l−1}²] = n·σ²·E[φ′(z_l)²]·E[g_l²], from the top (ratio 1 at layer L) down.
  const ratios = new Array<number>(c.depth).fill(1)
  for (let l = c.depth - 1; l >= 1; l--) ratios[l - 1] = ratios[l]! * gain * forward[l]!.slope
  return forward.map((s, i) => ({ layer: i + 1, forwardVar: s.forwardVar, gradRatio: ratios[i]! }))
}

export type Trend = "holds" | "shrinks" | "grows" | "underflows" | "overflows"

export interface DepthTrend {
  readonly trend: Trend
  readonly first: number
  readonly last: number
  /** last / first. */
  readonly ratio: number
  /** The geometric mean factor per layer over the whole depth: ratio^(1/(L−1)). */
  readonly perLayer: number
  /** The same over the deeper half only (a power-law decay slows down there; a geometric one does not). */
  readonly perLayerDeeperHalf: number
  /** The first layer (1-based) whose value is 0 or not finite, if any. */
  readonly brokeAt: number | null
}

/**
 * A statistic across depth in one word: it `holds` when the last layer's value is within `band`× of the first's
 * (10 by default: one decade either way), else it `shrinks` or `grows`; `underflows` when it reaches 0 (below float32)
 * and `overflows` when it is NaN/Inf. `values[0]` is layer 1.
 */
export const depthTrend = (values: ReadonlyArray<number | null>, band = 10): DepthTrend => {
  const v = values.map((x) => (x === null ? Number.NaN : x))
  const L = v.length
  const broke = v.findIndex((x) => !(Number.isFinite(x) && x > 0))
  const first = v[0] ?? Number.NaN
  const last = v[L - 1] ?? Number.NaN
  const ratio = last / first
  const perLayer = L > 1 ? ratio ** (1 / (L - 1)) : 1
  const half = Math.floor(L / 2)
  const perLayerDeeperHalf = L - 1 - half > 0 ? (last / v[half]!) ** (1 / (L - 1 - half)) : perLayer
  const trend: Trend =
    broke >= 0
      ? Number.isFinite(v[broke]!)
        ? "underflows"
        : "overflows"
      : ratio > band
        ? "grows"
        : ratio < 1 / band
          ? "shrinks"
          : "holds"
  return { trend, first, last, ratio, perLayer, perLayerDeeperHalf, brokeAt: broke >= 0 ? broke + 1 : null }
}
