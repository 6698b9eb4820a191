/**
 * Data-free weight initializers: `(config, kernel shape, seed) → Float32Array` in tfjs layout (dense [in, out],
 * conv [kh, kw, inC, outC]). Every initializer also states the variance it aims at, so tests (and the "enhanced"
 * variants) can check draws against the formula.
 *
 *   heuristic       U(±1/√fanIn)                        PyTorch's default for Linear/Conv (kaiming_uniform, a=√5)
 *   xavierUniform   U(±g·√(6/(fanIn+fanOut)))           Glorot & Bengio 2010
 *   xavierNormal    N(0, g²·2/(fanIn+fanOut))
 *   kaimingUniform  U(±g·√(3/fanIn))                    He et al. 2015, fan-in mode
 *   kaimingNormal   N(0, g²/fanIn)
 *   orthogonal      g·Q, Q orthonormal                   Saxe et al. 2014 (see orthogonal.ts)
 *   random          N(0, 1)                              the unscaled baseline that explodes/vanishes with depth
 *   normal          N(mean, std²), optionally truncated  LW's near-zero start (see `lwStart` below)
 *   enhanced        base init, each filter's (or kh·kw slice's) variance v ~ Gamma(½, 2σ²) or 3σ²·U(0,1)²  (enhanced.ts)
 *   fixup           base init scaled by L^(−1/(2m−2)) in residual branches; branch ends and classifier zero
 *
 * The data-dependent LSUV lives in lsuv.ts: it needs a forward pass, so it is not in this registry.
 * Biases are not drawn here: callers (models/weights.ts) set them to zero.
 */
import { fans, gain, type KernelShape, type Nonlinearity } from "./fans.ts"
import { orthogonalKernel } from "./orthogonal.ts"
import { type BaseInitConfigSchema, type InitConfigSchema } from "./schema.ts"
import { drawGroupScale, groupCount } from "./enhanced.ts"
import { createRng, normalArray, normalCdf, truncatedNormalArray, uniformArray, type Rng, type Truncation } from "./random.ts"

/** Initializers that only need a shape (and, for Fixup, the layer's place in a residual net): see ./schema.ts. */
export type BaseInitConfig = typeof BaseInitConfigSchema.Type
export type InitConfig = typeof InitConfigSchema.Type

export type InitName = InitConfig["name"]
export type InitConfigOf<K extends InitName> = Extract<InitConfig, { readonly name: K }>

/**
 * Where a layer sits, for initializers that care (only Fixup). `branch`: inside a residual branch, at 0-based
 * `position` of `length` (m) weight layers, in a net of `count` (L) branches. `shortcut` layers (1×1 downsample
 * convs) are not in a branch. `classifier`: the final decision layer.
 */
export type InitContext =
  | { readonly role: "plain" | "shortcut" | "classifier" }
  | { readonly role: "branch"; readonly position: number; readonly length: number; readonly count: number }

export const plainContext: InitContext = { role: "plain" }

export interface Initializer<C extends InitConfig> {
  /** Draw a kernel of `shape`, flattened row-major. */
  readonly sample: (config: C, shape: KernelShape, rng: Rng, context: InitContext) => Float32Array
  /** The per-weight variance the draw aims at. */
  readonly variance: (config: C, shape: KernelShape, context: InitContext) => number
  /** The per-weight mean the draw aims at. */
  readonly mean: (config: C, shape: KernelShape, context: InitContext) => number
}

const zeroMean = () => 0

const xavierStd = (g: number, shape: KernelShape) => {
  const { fanIn, fanOut } = fans(shape)
  return g * Math.sqrt(2 / (fanIn + fanOut))
}

const kaimingStd = (c: { nonlinearity: Nonlinearity; negativeSlope: number }, shape: KernelShape) =>
  gain(c.nonlinearity, c.negativeSlope) / Math.sqrt(fans(shape).fanIn)

/**
 * Enhanced (./enhanced.ts): draw the base kernel, then give each group of weights — a filter (output unit, last
 * axis), or with `per: "slice"` a filter's kh·kw sub-vector for one input channel — its own variance v with mean σ²,
 * the base's variance: v ~ Gamma(½, 2σ²) (`law` "gamma", the default) or v = 3σ²u², u ~ U(0, 1) (`law` "uniform",
 * the enhanced uniform: a U(±b) base becomes U(±√3·b·u) per group). Implemented as rescaling group g by √(v_g/σ²),
 * which keeps the base's family within each group (uniform stays uniform, normal stays normal), so "gamma" over
 * Kaiming-normal and "uniform" over Kaiming-uniform are the reference implementation's two variants.
 */
const enhanced: Initializer<InitConfigOf<"enhanced">> = {
  sample: (c, shape, rng, context) => {
    const base = initializers[c.base.name] as Initializer<BaseInitConfig>
    const w = base.sample(c.base, shape, rng, context)
    if (!(base.variance(c.base, shape, context) > 0)) return w
    const groups = groupCount(shape, c.per ?? "filter")
    const scale = new Float64Array(groups)
    for (let g = 0; g < groups; g++) scale[g] = drawGroupScale(rng, c.law ?? "gamma")
    for (let i = 0; i < w.length; i++) w[i] = w[i]! * scale[i % groups]!
    return w
  },
  variance: (c, shape, context) => (initializers[c.base.name] as Initializer<BaseInitConfig>).variance(c.base, shape, context),
  mean: (c, shape, context) => (initializers[c.base.name] as Initializer<BaseInitConfig>).mean(c.base, shape, context)
}

/** Fixup's multiplier for a layer: 0 for branch ends and the classifier, L^(−1/(2m−2)) inside branches, else 1. */
export const fixupScale = (context: InitContext): number => {
  if (context.role === "classifier") return 0
  if (context.role !== "branch") return 1
  if (context.position === context.length - 1) return 0
  // m = 1 would make the exponent infinite; Fixup needs branches of at least 2 layers.
  if (context.length < 2) throw new RangeError(`fixup needs residual branches of ≥ 2 layers, got ${context.length}`)
  return Math.pow(context.count, -1 / (2 * context.length - 2))
}

/**
 * Fixup (Zhang, Dauphin & Ma 2019): the classifier and the last layer of every residual branch start at 0; the
 * other branch layers take the base init scaled by L^(−1/(2m−2)) (L branches of m layers; ResNet18: L = 8, m = 2,
 * scale 8^(−½)); layers outside branches (stem, downsample shortcuts) take the base init unscaled. Fixup's scalar
 * biases and multipliers are not added here (they are model changes, not an init).
 */
const fixup: Initializer<InitConfigOf<"fixup">> = {
  sample: (c, shape, rng, context) => {
    const s = fixupScale(context)
    const size = fans(shape).size
    if (s === 0) return new Float32Array(size)
    const w = (initializers[c.base.name] as Initializer<BaseInitConfig>).sample(c.base, shape, rng, context)
    if (s !== 1) for (let i = 0; i < size; i++) w[i] = w[i]! * s
    return w
  },
  variance: (c, shape, context) =>
    fixupScale(context) ** 2 * (initializers[c.base.name] as Initializer<BaseInitConfig>).variance(c.base, shape, context),
  mean: (c, shape, context) =>
    fixupScale(context) * (initializers[c.base.name] as Initializer<BaseInitConfig>).mean(c.base, shape, context)
}

/**
 * Exact mean and variance of N(μ, σ²) kept in [a, b]: by resampling (the truncated normal) or by clipping
 * (truncated part plus point masses on the bounds). α = (a − μ)/σ, β = (b − μ)/σ, Z = Φ(β) − Φ(α).
 */
export const normalMoments = (c: InitConfigOf<"normal">): { readonly mean: number; readonly variance: number } => {
  const { mean: mu, std: sigma, truncation } = c
  if (truncation === undefined) return { mean: mu, variance: sigma * sigma }
  const pdf = (z: number) => (Number.isFinite(z) ? Math.exp(-0.5 * z * z) / Math.sqrt(2 * Math.PI) : 0)
  const zpdf = (z: number) => (Number.isFinite(z) ? z * pdf(z) : 0)
  const alpha = (truncation.low - mu) / sigma
  const beta = (truncation.high - mu) / sigma
  const mass = normalCdf(beta) - normalCdf(alpha)
  const shift = (pdf(alpha) - pdf(beta)) / mass
  const tMean = mu + sigma * shift
  const tVar = sigma * sigma * (1 + (zpdf(alpha) - zpdf(beta)) / mass - shift * shift)
  if (truncation.method === "resample") return { mean: tMean, variance: tVar }
  const below = normalCdf(alpha)
  const above = 1 - normalCdf(beta)
  const lowSq = below > 0 ? truncation.low * truncation.low * below : 0
  const highSq = above > 0 ? truncation.high * truncation.high * above : 0
  const m = (below > 0 ? truncation.low * below : 0) + (above > 0 ? truncation.high * above : 0) + mass * tMean
  const second = lowSq + highSq + mass * (tVar + tMean * tMean)
  return { mean: m, variance: second - m * m }
}

export const initializers: { readonly [K in InitName]: Initializer<InitConfigOf<K>> } = {
  heuristic: {
    sample: (_c, shape, rng) => {
      const b = 1 / Math.sqrt(fans(shape).fanIn)
      return uniformArray(rng, fans(shape).size, -b, b)
    },
    variance: (_c, shape) => 1 / (3 * fans(shape).fanIn),
    mean: zeroMean
  },
  xavierUniform: {
    sample: (c, shape, rng) => {
      const b = Math.sqrt(3) * xavierStd(c.gain, shape)
      return uniformArray(rng, fans(shape).size, -b, b)
    },
    variance: (c, shape) => xavierStd(c.gain, shape) ** 2,
    mean: zeroMean
  },
  xavierNormal: {
    sample: (c, shape, rng) => normalArray(rng, fans(shape).size, 0, xavierStd(c.gain, shape)),
    variance: (c, shape) => xavierStd(c.gain, shape) ** 2,
    mean: zeroMean
  },
  kaimingUniform: {
    sample: (c, shape, rng) => {
      const b = Math.sqrt(3) * kaimingStd(c, shape)
      return uniformArray(rng, fans(shape).size, -b, b)
    },
    variance: (c, shape) => kaimingStd(c, shape) ** 2,
    mean: zeroMean
  },
  kaimingNormal: {
    sample: (c, shape, rng) => normalArray(rng, fans(shape).size, 0, kaimingStd(c, shape)),
    variance: (c, shape) => kaimingStd(c, shape) ** 2,
    mean: zeroMean
  },
  orthogonal: {
    sample: (c, shape, rng) => orthogonalKernel(shape, rng, c.gain),
    // Sum of squares is g²·min(fanIn, units) over fanIn·units weights.
    variance: (c, shape) => (c.gain * c.gain) / Math.max(fans(shape).fanIn, fans(shape).units),
    mean: zeroMean
  },
  random: {
    sample: (_c, shape, rng) => normalArray(rng, fans(shape).size, 0, 1),
    variance: () => 1,
    mean: zeroMean
  },
  normal: {
    sample: (c, shape, rng) =>
      c.truncation === undefined
        ? normalArray(rng, fans(shape).size, c.mean, c.std)
        : truncatedNormalArray(rng, fans(shape).size, c.mean, c.std, c.truncation),
    variance: (c) => normalMoments(c).variance,
    mean: (c) => normalMoments(c).mean
  },
  enhanced,
  fixup
}

/** Draw a kernel of `shape` for `config` from `seed`. Same (config, shape, seed, context) → same values. */
export const initialize = (
  config: InitConfig,
  shape: KernelShape,
  seed: number,
  context: InitContext = plainContext
): Float32Array => (initializers[config.name] as Initializer<InitConfig>).sample(config, shape, createRng(seed), context)

/** The variance `config` aims at for `shape` (see `Initializer.variance`). */
export const initVariance = (config: InitConfig, shape: KernelShape, context: InitContext = plainContext): number =>
  (initializers[config.name] as Initializer<InitConfig>).variance(config, shape, context)

/** The mean `config` aims at for `shape`. */
export const initMean = (config: InitConfig, shape: KernelShape, context: InitContext = plainContext): number =>
  (initializers[config.name] as Initializer<InitConfig>).mean(config, shape, context)

/**
 * LW's near-zero start. The thesis draws the initial weights of the layer being learned "from a normal in
 * [0, 0.1]". We read that as the normal's parameters: mean 0, standard deviation 0.1 (`lwStart`) — a small,
 * zero-centred start that the per-layer optimization then moves to mean 0 / variance 1 outputs. The literal
 * alternative — values confined to the interval [0, 0.1] — is `lwStartInterval`: N(0, 0.1²) truncated to
 * [0, 0.1] by resampling (all weights positive, mean ≈ 0.046). Which one the thesis meant is not stated; both
 * are here so an experiment can compare them.
 */
export const lwStart: InitConfigOf<"normal"> = { name: "normal", mean: 0, std: 0.1 }
export const lwStartInterval: InitConfigOf<"normal"> = {
  name: "normal",
  mean: 0,
  std: 0.1,
  truncation: { low: 0, high: 0.1, method: "resample" }
}

/** One default config per initializer, each default explained. */
export const defaultInitConfigs: { readonly [K in InitName]: InitConfigOf<K> } = {
  heuristic: { name: "heuristic" },
  // Glorot's derivation assumes a linear (or tanh near 0) unit: gain 1.
  xavierUniform: { name: "xavierUniform", gain: 1 },
  xavierNormal: { name: "xavierNormal", gain: 1 },
  // He et al. derived fan-in Kaiming for ReLU nets; negativeSlope only matters for leakyRelu (PyTorch's 0.01).
  kaimingUniform: { name: "kaimingUniform", nonlinearity: "relu", negativeSlope: 0.01 },
  kaimingNormal: { name: "kaimingNormal", nonlinearity: "relu", negativeSlope: 0.01 },
  // Saxe et al. use gain 1 for linear nets; PyTorch's default too.
  orthogonal: { name: "orthogonal", gain: 1 },
  random: { name: "random" },
  normal: lwStart,
  // The enhanced variant is defined relative to a base; Kaiming-normal is the standard for the ReLU nets studied.
  enhanced: { name: "enhanced", base: { name: "kaimingNormal", nonlinearity: "relu", negativeSlope: 0.01 } },
  // Fixup's paper initializes the non-zero layers with He (Kaiming) normal.
  fixup: { name: "fixup", base: { name: "kaimingNormal", nonlinearity: "relu", negativeSlope: 0.01 } }
}
