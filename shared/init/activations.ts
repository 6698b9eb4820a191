/**
 * Activations, twice: as tensor functions (for per-layer maths) and as tfjs layers (for model factories).
 *
 *   linear, sigmoid, tanh, relu tfjs's `activation` layer (linear: the identity, for deep-linear baselines)
 *   leakyRelu(α)                tfjs's `leakyReLU` layer; α = 0.01 by default (PyTorch's)
 *   prelu(α learnable)          `LwiPReLU` below: ONE learnable slope per layer (PyTorch's `nn.PReLU()` default,
 *                               initial 0.25) or one per channel; tfjs's own PReLU learns one per *element*
 *   elu(α)                      tfjs's layer for α = 1 (it refuses other α); `LwiELU` below otherwise
 *   wibRelu                     `WibReLU` below: relu(x) − μ, μ = 1/√(2π) unless estimated (shared/models/wib-shift.ts)
 *
 * WIB-ReLU (Olimov et al. 2021) subtracts a constant μ, not a batch or running mean: as built, E[relu(z)] =
 * 1/√(2π) ≈ 0.3989 for z ~ N(0, 1); shared/models/wib-shift.ts replaces it per layer by E[relu(z)] estimated from the
 * layer's actual pre-activations at init (the `wibRelu` tensor function below keeps the fixed one). With the fixed μ
 * the output has mean 0 exactly when the input is standard normal (what LW's per-layer targets produce: mean 0, unit
 * variance pre-activations); for z ~ N(0, σ²) the mean is (σ − 1)/√(2π). Output variance for a standard-normal
 * input: ½ − 1/(2π) ≈ 0.3408.
 *
 * The custom classes are registered with `tf.serialization.registerClass` when this module is imported (as tfjs
 * registers its own), so saved models that use them load back.
 */
import * as tf from "@tensorflow/tfjs"

export type ActivationName = "linear" | "sigmoid" | "tanh" | "relu" | "leakyRelu" | "prelu" | "elu" | "wibRelu"

export type ActivationConfig =
  | { readonly name: "linear" }
  | { readonly name: "sigmoid" }
  | { readonly name: "tanh" }
  | { readonly name: "relu" }
  | { readonly name: "wibRelu" }
  | { readonly name: "leakyRelu"; readonly alpha: number }
  | { readonly name: "prelu"; readonly alpha: number; readonly perChannel: boolean }
  | { readonly name: "elu"; readonly alpha: number }

/** A name (takes the defaults below) or a full config. */
export type ActivationSpec = ActivationName | ActivationConfig

export const defaultActivations: { readonly [K in ActivationName]: Extract<ActivationConfig, { name: K }> } = {
  linear: { name: "linear" },
  sigmoid: { name: "sigmoid" },
  tanh: { name: "tanh" },
  relu: { name: "relu" },
  wibRelu: { name: "wibRelu" },
  // PyTorch's nn.LeakyReLU default negative slope.
  leakyRelu: { name: "leakyRelu", alpha: 0.01 },
  // PyTorch's nn.PReLU(): one slope for the whole layer, initial 0.25 (He et al. 2015).
  prelu: { name: "prelu", alpha: 0.25, perChannel: false },
  // Clevert et al. 2016 use α = 1.
  elu: { name: "elu", alpha: 1 }
}

export const resolveActivation = (spec: ActivationSpec): ActivationConfig =>
  typeof spec === "string" ? defaultActivations[spec] : spec

/** E[relu(z)] for z ~ N(0, 1): what WIB-ReLU subtracts. */
export const WIB_RELU_SHIFT = 1 / Math.sqrt(2 * Math.PI)

// ---- tensor functions -------------------------------------------------------------------------------------------

export const wibRelu = (x: tf.Tensor): tf.Tensor => tf.tidy(() => tf.sub(tf.relu(x), WIB_RELU_SHIFT))

/** ELU with any α. relu(x) + α(e^min(x,0) − 1): no `where`, so no inf·0 in the gradient for large x. */
export const elu = (x: tf.Tensor, alpha = 1): tf.Tensor =>
  alpha === 1
    ? tf.elu(x)
    : tf.tidy(() => tf.add(tf.relu(x), tf.mul(alpha, tf.sub(tf.exp(tf.minimum(x, 0)), 1))))

/** PReLU with a given slope tensor (scalar, or per channel: shape [C], broadcast over the last axis). */
export const prelu = (x: tf.Tensor, alpha: tf.Tensor): tf.Tensor => tf.prelu(x, alpha)

/**
 * The activation as a tensor function. PReLU's slope is fixed at its initial value here; the learnable version
 * is the layer (or call `prelu` with your own variable).
 */
export const activationFn = (spec: ActivationSpec): ((x: tf.Tensor) => tf.Tensor) => {
  const c = resolveActivation(spec)
  switch (c.name) {
    case "linear":
      return (x) => tf.clone(x)
    case "sigmoid":
      return (x) => tf.sigmoid(x)
    case "tanh":
      return (x) => tf.tanh(x)
    case "relu":
      return (x) => tf.relu(x)
    case "wibRelu":
      return wibRelu
    case "leakyRelu":
      return (x) => tf.leakyRelu(x, c.alpha)
    case "prelu":
      return (x) => tf.tidy(() => tf.prelu(x, tf.scalar(c.alpha)))
    case "elu":
      return (x) => elu(x, c.alpha)
  }
}

// ---- layers -----------------------------------------------------------------------------------------------------

type LayerArgs = NonNullable<ConstructorParameters<typeof tf.layers.Layer>[0]>

const single = (inputs: tf.Tensor | tf.Tensor[]): tf.Tensor => (Array.isArray(inputs) ? inputs[0]! : inputs)

/**
 * relu(x) − μ, μ a non-trainable scalar weight `shift` of the layer: 1/√(2π) as built (the fixed shift), or an
 * estimate written in by shared/models/wib-shift.ts. Being a weight, μ travels with the model's weights artifact, so
 * every cache key downstream of an estimate sees it.
 */
export class WibReLU extends tf.layers.Layer {
  static readonly className = "WibReLU"
  private shiftWeight: tf.LayerVariable | undefined
  constructor(args: LayerArgs = {}) {
    super(args)
    this.supportsMasking = true
  }
  override build(_inputShape: tf.Shape | tf.Shape[]): void {
    this.shiftWeight = this.addWeight("shift", [], "float32", tf.initializers.constant({ value: WIB_RELU_SHIFT }), undefined, false)
    this.built = true
  }
  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    if (this.shiftWeight === undefined) throw new Error(`${this.name}: called before build`)
    const shift = this.shiftWeight.read()
    return tf.tidy(() => tf.sub(tf.relu(single(inputs)), shift))
  }
  /** The μ it subtracts now. */
  get shift(): number {
    if (this.shiftWeight === undefined) throw new Error(`${this.name}: read before build`)
    return this.shiftWeight.read().dataSync()[0]!
  }
  set shift(value: number) {
    if (this.shiftWeight === undefined) throw new Error(`${this.name}: written before build`)
    const w = this.shiftWeight
    tf.tidy(() => void w.write(tf.scalar(value)))
  }
}
tf.serialization.registerClass(WibReLU)

/** ELU with any α (tfjs's ELU layer throws for α ≠ 1). */
export class LwiELU extends tf.layers.Layer {
  static readonly className = "LwiELU"
  readonly alpha: number
  constructor(args: LayerArgs & { alpha?: number } = {}) {
    super(args)
    this.alpha = args.alpha ?? 1
    this.supportsMasking = true
  }
  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return elu(single(inputs), this.alpha)
  }
  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), alpha: this.alpha }
  }
}
tf.serialization.registerClass(LwiELU)

/** PReLU with one learnable slope per layer (`perChannel: false`) or per channel (last axis). Weight: `alpha`. */
export class LwiPReLU extends tf.layers.Layer {
  static readonly className = "LwiPReLU"
  readonly initialAlpha: number
  readonly perChannel: boolean
  private alphaWeight: tf.LayerVariable | undefined
  constructor(args: LayerArgs & { alpha?: number; perChannel?: boolean } = {}) {
    super(args)
    this.initialAlpha = args.alpha ?? 0.25
    this.perChannel = args.perChannel ?? false
  }
  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape
    const channels = shape[shape.length - 1]
    if (this.perChannel && (channels === null || channels === undefined)) {
      throw new Error(`${this.name}: per-channel PReLU needs a known last axis, got [${shape.join(", ")}]`)
    }
    this.alphaWeight = this.addWeight(
      "alpha",
      this.perChannel ? [channels as number] : [],
      "float32",
      tf.initializers.constant({ value: this.initialAlpha })
    )
    this.built = true
  }
  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    if (this.alphaWeight === undefined) throw new Error(`${this.name}: called before build`)
    return tf.prelu(single(inputs), this.alphaWeight.read())
  }
  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), alpha: this.initialAlpha, perChannel: this.perChannel }
  }
}
tf.serialization.registerClass(LwiPReLU)

/** The activation as a named tfjs layer. */
export const activationLayer = (spec: ActivationSpec, name: string): tf.layers.Layer => {
  const c = resolveActivation(spec)
  switch (c.name) {
    case "linear":
    case "sigmoid":
    case "tanh":
    case "relu":
      return tf.layers.activation({ activation: c.name, name })
    case "wibRelu":
      return new WibReLU({ name })
    case "leakyRelu":
      return tf.layers.leakyReLU({ alpha: c.alpha, name })
    case "prelu":
      return new LwiPReLU({ alpha: c.alpha, perChannel: c.perChannel, name })
    case "elu":
      return c.alpha === 1 ? tf.layers.activation({ activation: "elu", name }) : new LwiELU({ alpha: c.alpha, name })
  }
}

/** The class names of every activation layer this module creates (for walking a model's graph). */
export const activationClassNames: ReadonlySet<string> = new Set([
  "Activation",
  "LeakyReLU",
  "ReLU",
  "ELU",
  "PReLU",
  WibReLU.className,
  LwiELU.className,
  LwiPReLU.className
])

// ---- output range and variance: what a target on an activation's output can ask ---------------------------------

/**
 * An activation as LW names it: a tfjs activation identifier ("sigmoid", "hardSigmoid", "softsign", "relu6", ...)
 * or one of lwi's names ("leakyRelu", "prelu", "wibRelu"); "linear" is the identity (no activation).
 */
export type ActivationKind = string

/**
 * The output range [min, max] of the activations whose range lwi states exactly (±Infinity: unbounded that way), and
 * the scalar function of the bounded ones, for the numeric estimates below. An activation missing here (ELU and
 * SELU, whose minimum depends on α; swish, GELU, ...) is taken as unbounded both ways: no target is called
 * unreachable for it.
 */
const activationRanges: {
  readonly [kind: string]: { readonly range: readonly [number, number]; readonly f?: (x: number) => number }
} = {
  sigmoid: { range: [0, 1], f: (x) => 1 / (1 + Math.exp(-x)) },
  // tfjs's hard sigmoid: clip(0.2·x + 0.5, 0, 1) (Keras's; PyTorch's Hardsigmoid uses x/6 + 1/2).
  hardSigmoid: { range: [0, 1], f: (x) => Math.min(1, Math.max(0, 0.2 * x + 0.5)) },
  tanh: { range: [-1, 1], f: Math.tanh },
  softsign: { range: [-1, 1], f: (x) => x / (1 + Math.abs(x)) },
  relu6: { range: [0, 6], f: (x) => Math.min(6, Math.max(0, x)) },
  relu: { range: [0, Infinity] },
  softplus: { range: [0, Infinity] },
  thresholdedRelu: { range: [0, Infinity] }
}

/** Activations lwi knows to be unbounded above, beyond those of the table (any variance is reachable). */
const unboundedActivations: ReadonlySet<ActivationKind> = new Set([
  "linear",
  "elu",
  "selu",
  "swish",
  "mish",
  "gelu",
  "gelu_new",
  "leakyRelu",
  "prelu",
  "wibRelu"
])

const boundedActivation = (kind: ActivationKind) => {
  const r = activationRanges[kind]
  return r !== undefined && Number.isFinite(r.range[1] - r.range[0]) ? { range: r.range, f: r.f! } : undefined
}

export const isBoundedActivation = (kind: ActivationKind): boolean => boundedActivation(kind) !== undefined

/** [min, max] of the activation's output; (−∞, ∞) when lwi does not state it (no claim). */
export const outputRange = (kind: ActivationKind): readonly [number, number] =>
  activationRanges[kind]?.range ?? [-Infinity, Infinity]

/**
 * The supremum of Var f(z) over Gaussian pre-activations z ~ N(μ, σ²): for an activation whose output lies in
 * [min, max], (max − min)²/4 (Popoviciu's inequality), approached as σ grows (half the mass in each saturated
 * tail) and never reached — sigmoid and hard-sigmoid 0.25, tanh and softsign 1, relu6 9. Infinity for an unbounded
 * activation; undefined for one lwi does not know (no claim either way).
 */
export const outputVarianceBound = (kind: ActivationKind): number | undefined => {
  const b = boundedActivation(kind)
  if (b !== undefined) return (b.range[1] - b.range[0]) ** 2 / 4
  return kind in activationRanges || unboundedActivations.has(kind) ? Infinity : undefined
}

/**
 * Var f(z) for z ~ N(mean, sd²), by the trapezoid rule over mean ± 10·sd (4,001 points; the functions are
 * bounded, so the tails beyond contribute < 1e-20). Only for the bounded activations (undefined otherwise).
 */
export const gaussianOutputVariance = (kind: ActivationKind, sd: number, mean = 0): number | undefined => {
  const b = boundedActivation(kind)
  if (b === undefined) return undefined
  if (sd === 0) return 0
  const n = 4000
  const h = 20 / n
  let m1 = 0
  let m2 = 0
  for (let i = 0; i <= n; i++) {
    const u = -10 + i * h
    const w = (Math.exp(-0.5 * u * u) / Math.sqrt(2 * Math.PI)) * h * (i === 0 || i === n ? 0.5 : 1)
    const y = b.f(mean + sd * u)
    m1 += w * y
    m2 += w * y * y
  }
  return Math.max(0, m2 - m1 * m1)
}

/**
 * The spread σ of a centred Gaussian pre-activation at which a bounded activation's output variance equals
 * `target` (Var f(σz) grows with σ for these activations: bisection on log σ). undefined when no σ gives it
 * (target ≥ the bound, or ≤ 0) or the activation is not a bounded one. How saturated a target is: tanh's output
 * variance 0.9 needs σ ≈ 5.
 */
export const preActivationSdFor = (kind: ActivationKind, target: number): number | undefined => {
  const bound = outputVarianceBound(kind)
  if (!isBoundedActivation(kind) || bound === undefined || !(target > 0 && target < bound)) return undefined
  let [lo, hi] = [1e-6, 1e6]
  for (let i = 0; i < 100; i++) {
    const mid = Math.sqrt(lo * hi)
    if (gaussianOutputVariance(kind, mid)! < target) lo = mid
    else hi = mid
  }
  return Math.sqrt(lo * hi)
}

/**
 * The activation a tfjs layer applies, as an ActivationKind: an `Activation` layer's identifier, lwi's and tfjs's
 * activation layers by class, the fused activation of a Conv/Dense (`activation: "tanh"`); undefined (no layer) is
 * the identity, "linear". A ReLU layer with a `maxValue` other than 6, a Softmax, or an unknown class: undefined
 * (LW makes no claim about their range).
 */
export const activationKindOf = (layer: tf.layers.Layer | undefined): ActivationKind | undefined => {
  if (layer === undefined) return "linear"
  const config = layer.getConfig()
  switch (layer.getClassName()) {
    case "ReLU":
      return config.maxValue === undefined || config.maxValue === null ? "relu" : config.maxValue === 6 ? "relu6" : undefined
    case "LeakyReLU":
      return "leakyRelu"
    case "ELU":
    case LwiELU.className:
      return "elu"
    case "PReLU":
    case LwiPReLU.className:
      return "prelu"
    case WibReLU.className:
      return "wibRelu"
    case "ThresholdedReLU":
      return "thresholdedRelu"
    case "Softmax":
      return undefined
  }
  const name = config.activation
  if (typeof name !== "string") return undefined
  return name === "softmax" ? undefined : name
}
