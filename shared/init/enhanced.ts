/**
 * The maths of the "enhanced" initialization (a compound distribution over a base init): the kernel's weights are
 * split into groups, and each group gets its own variance v drawn from a law whose mean is the base's per-weight
 * variance σ², so the layer's average variance is the base's while groups differ in scale.
 *
 *   law "gamma"    v ~ Gamma(shape ½, scale 2σ²) = σ²·χ²₁        E[v] = σ², Var[v] = ½·(2σ²)² = 2σ⁴
 *                  (the enhanced normal: a group is N(0, v))
 *   law "uniform"  v = 3σ²·u², u ~ U(0, 1)                        E[v] = σ², Var[v] = 9σ⁴·(1/5 − 1/9) = 0.8σ⁴
 *                  (the enhanced uniform: a U(±b) base, b = √3·σ, becomes U(±√3·b·u) per group — the reference
 *                  implementation's bound √(3·(b·u)²))
 *
 *   per "filter"   a group is one output unit: the strided slice over the last axis (fanIn weights)
 *   per "slice"    a group is one (input channel, output unit) pair: the kh·kw spatial sub-vector of a conv kernel
 *                  (in the reference implementation's PyTorch layout, weight[out][in]); a dense kernel has no spatial
 *                  axis, so there each weight is its own group (what the reference code does for Linear layers too)
 *
 * Source: the enhancedInit reference implementation (PyTorch; `dim` 1 = per filter, 2 = per sub-filter). Its paper's
 * own accuracy figures are not known here.
 */
import { fans, type KernelShape } from "./fans.ts"
import { gamma, normalCdf, type Rng } from "./random.ts"

export type EnhancedLaw = "gamma" | "uniform"
export type EnhancedGroup = "filter" | "slice"

/** How many groups a kernel of `shape` has; weight i (row-major, tfjs layout) belongs to group i % groups. */
export const groupCount = (shape: KernelShape, per: EnhancedGroup): number => {
  const { units, fanIn, size } = fans(shape)
  // fanIn = receptive·in: a slice is the receptive field of one (in, out) pair.
  return per === "filter" ? units : (size / fanIn) * shape[shape.length - 2]!
}

/** One group's multiplier √(v/σ²) on a base draw of variance σ² (independent of σ², so drawn without it). */
export const drawGroupScale = (rng: Rng, law: EnhancedLaw): number =>
  law === "gamma" ? Math.sqrt(gamma(rng, 0.5, 2)) : Math.sqrt(3) * rng.next()

/** The law of x = v/σ² (a group's variance over the base's): its moments, CDF and density. */
export interface VarianceLaw {
  readonly mean: number
  readonly variance: number
  readonly cdf: (x: number) => number
  readonly density: (x: number) => number
  /** The upper end of its support (Infinity for gamma). */
  readonly max: number
}

export const varianceLaws: { readonly [L in EnhancedLaw]: VarianceLaw } = {
  // χ²₁: P(X ≤ x) = P(|Z| ≤ √x) = 2Φ(√x) − 1.
  gamma: {
    mean: 1,
    variance: 2,
    cdf: (x) => (x <= 0 ? 0 : 2 * normalCdf(Math.sqrt(x)) - 1),
    density: (x) => (x <= 0 ? 0 : Math.exp(-x / 2) / Math.sqrt(2 * Math.PI * x)),
    max: Number.POSITIVE_INFINITY
  },
  // X = 3U²: P(X ≤ x) = √(x/3) on [0, 3].
  uniform: {
    mean: 1,
    variance: 0.8,
    cdf: (x) => (x <= 0 ? 0 : x >= 3 ? 1 : Math.sqrt(x / 3)),
    density: (x) => (x <= 0 || x > 3 ? 0 : 1 / (2 * Math.sqrt(3 * x))),
    max: 3
  }
}

/** Each group's sample variance (about its own mean) in a kernel of `shape`: what a histogram of the draw shows. */
export const groupVariances = (w: ArrayLike<number>, shape: KernelShape, per: EnhancedGroup): Float64Array => {
  const groups = groupCount(shape, per)
  const sums = new Float64Array(groups)
  const squares = new Float64Array(groups)
  for (let i = 0; i < w.length; i++) {
    const g = i % groups
    sums[g] = sums[g]! + w[i]!
    squares[g] = squares[g]! + w[i]! * w[i]!
  }
  const n = w.length / groups
  return sums.map((s, g) => squares[g]! / n - (s / n) ** 2)
}

/** A histogram of `xs` on [0, max) in `bins` equal bins, as densities (share / width); values ≥ max are counted. */
export const histogram = (xs: ArrayLike<number>, max: number, bins: number) => {
  const width = max / bins
  const counts = new Array<number>(bins).fill(0)
  let above = 0
  for (let i = 0; i < xs.length; i++) {
    const k = Math.floor(xs[i]! / width)
    if (k >= bins) above++
    else counts[Math.max(0, k)]!++
  }
  return {
    bins: counts.map((c, k) => ({ low: k * width, high: (k + 1) * width, density: c / xs.length / width })),
    above: above / xs.length
  }
}

/** Largest gap between the empirical CDF of `xs` and `cdf` (the Kolmogorov–Smirnov distance). */
export const ksDistance = (xs: ArrayLike<number>, cdf: (x: number) => number): number => {
  const s = Float64Array.from(xs).sort()
  let d = 0
  s.forEach((x, i) => (d = Math.max(d, Math.abs(cdf(x) - i / s.length), Math.abs(cdf(x) - (i + 1) / s.length))))
  return d
}
