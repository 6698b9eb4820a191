/**
 * Seeded random numbers for initializers: plain JS, reproducible across backends and machines (tfjs's own seeded
 * ops depend on the backend's kernels; these do not).
 *
 * Generator: mulberry32 (32-bit state, period 2^32, passes PractRand to 2^32 bytes — ample for weight draws),
 * seeded through splitmix32 so nearby seeds (0, 1, 2...) give unrelated streams. Normals by Box–Muller,
 * gammas by Marsaglia–Tsang.
 */

import { type Rng, createRng, deriveSeed, splitmix32 } from "../random.ts"

export { type Rng, createRng, deriveSeed, splitmix32 }

/** `n` draws from U(low, high). */
export const uniformArray = (rng: Rng, n: number, low: number, high: number): Float32Array => {
  const out = new Float32Array(n)
  const width = high - low
  for (let i = 0; i < n; i++) out[i] = low + width * rng.next()
  return out
}

/** `n` draws from N(mean, std²). */
export const normalArray = (rng: Rng, n: number, mean: number, std: number): Float32Array => {
  const out = new Float32Array(n)
  for (let i = 0; i < n; i++) out[i] = mean + std * rng.normal()
  return out
}

/**
 * How a normal is kept inside [low, high]: `resample` redraws values outside (a true truncated normal; its
 * variance is smaller than std²), `clip` clamps them to the bounds (mass piles up on the bounds).
 */
export type Truncation = {
  readonly low: number
  readonly high: number
  readonly method: "resample" | "clip"
}

/** `n` draws from N(mean, std²) restricted to [low, high]. */
export const truncatedNormalArray = (
  rng: Rng,
  n: number,
  mean: number,
  std: number,
  truncation: Truncation
): Float32Array => {
  const { low, high, method } = truncation
  if (!(low < high)) throw new RangeError(`truncation needs low < high, got [${low}, ${high}]`)
  const out = new Float32Array(n)
  if (method === "clip") {
    for (let i = 0; i < n; i++) out[i] = Math.min(high, Math.max(low, mean + std * rng.normal()))
    return out
  }
  // Rejection sampling. With less than 1e-4 of the mass inside, rejection would spin: refuse instead.
  const mass = normalCdf((high - mean) / std) - normalCdf((low - mean) / std)
  if (!(mass > 1e-4)) {
    throw new RangeError(`truncation [${low}, ${high}] holds ${mass} of N(${mean}, ${std}²); use method "clip"`)
  }
  for (let i = 0; i < n; i++) {
    let v = mean + std * rng.normal()
    while (v < low || v > high) v = mean + std * rng.normal()
    out[i] = v
  }
  return out
}

/** Standard normal CDF (Abramowitz–Stegun 7.1.26 erf, |error| < 1.5e-7). */
export const normalCdf = (z: number): number => {
  const x = Math.abs(z) / Math.SQRT2
  const t = 1 / (1 + 0.3275911 * x)
  const poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
  const erf = 1 - poly * Math.exp(-x * x)
  return z >= 0 ? 0.5 * (1 + erf) : 0.5 * (1 - erf)
}

/**
 * One draw from Gamma(shape k, scale θ) — mean kθ, variance kθ². Marsaglia–Tsang (2000) for k ≥ 1; for k < 1 the
 * boost Gamma(k) = Gamma(k + 1) · U^(1/k).
 */
export const gamma = (rng: Rng, shape: number, scale: number): number => {
  if (!(shape > 0) || !(scale > 0)) throw new RangeError(`gamma needs shape > 0 and scale > 0, got ${shape}, ${scale}`)
  if (shape < 1) {
    const u = 1 - rng.next()
    return gamma(rng, shape + 1, scale) * Math.pow(u, 1 / shape)
  }
  const d = shape - 1 / 3
  const c = 1 / Math.sqrt(9 * d)
  for (;;) {
    let x: number
    let v: number
    do {
      x = rng.normal()
      v = 1 + c * x
    } while (v <= 0)
    v = v * v * v
    const u = 1 - rng.next()
    if (Math.log(u) < 0.5 * x * x + d - d * v + d * Math.log(v)) return d * v * scale
  }
}
