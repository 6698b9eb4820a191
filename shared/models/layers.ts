/**
 * Building blocks shared by the factories: PyTorch-exact padding and named conv/dense/pool layers.
 *
 * Padding. PyTorch pads symmetrically (`padding=p` adds p on every side). tfjs's 'same' pads
 * total = max((⌈n/s⌉ − 1)·s + k − n, 0), putting the odd pixel at the bottom/right. The two agree only for stride 1
 * and odd k with p = (k − 1)/2. Elsewhere (5×5 stride 2 pad 2 on 28 px: tfjs pads 1/2, PyTorch 2/2; 3×3 stride 2
 * pad 1 on 32 px: tfjs 0/1, PyTorch 1/1) the outputs shift by a pixel, so we pad explicitly
 * (`zeroPadding2d`, named `<conv>.pad`) and convolve 'valid'. Max pooling pads with −∞ in PyTorch, which zero
 * padding only matches for non-negative inputs; `NegInfPadding2D` pads with −∞ instead.
 */
import * as tf from "@tensorflow/tfjs"

type SymbolicTensor = tf.SymbolicTensor
type LayerArgs = NonNullable<ConstructorParameters<typeof tf.layers.Layer>[0]>

const single = (inputs: tf.Tensor | tf.Tensor[]): tf.Tensor => (Array.isArray(inputs) ? inputs[0]! : inputs)

/** Pads the two spatial axes of NHWC input with −∞ (for max pooling, where padding must never win). */
export class NegInfPadding2D extends tf.layers.Layer {
  static readonly className = "NegInfPadding2D"
  readonly pad: number
  constructor(args: LayerArgs & { pad?: number } = {}) {
    super(args)
    this.pad = args.pad ?? 1
  }
  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    const s = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape
    const grow = (d: number | null | undefined) => (d === null || d === undefined ? null : d + 2 * this.pad)
    return [s[0] ?? null, grow(s[1]), grow(s[2]), s[3] ?? null]
  }
  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const p = this.pad
    return tf.pad(single(inputs), [[0, 0], [p, p], [p, p], [0, 0]], Number.NEGATIVE_INFINITY)
  }
  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), pad: this.pad }
  }
}
tf.serialization.registerClass(NegInfPadding2D)

/**
 * While `withPlaceholderWeights` runs, conv and dense kernels start as zeros instead of tfjs's Glorot draw: for models
 * whose weights are loaded right after building, where the draw is wasted work (for ResNet18, ~11 M random numbers
 * made in JS: about 1 s of every step that builds it).
 */
let placeholder = false
export const withPlaceholderWeights = <A>(build: () => A): A => {
  const before = placeholder
  placeholder = true
  try {
    return build()
  } finally {
    placeholder = before
  }
}
const kernelInit = () => (placeholder ? { kernelInitializer: "zeros" as const } : {})

export interface ConvSpec {
  readonly name: string
  readonly filters: number
  readonly kernel: number
  readonly stride: number
  /** PyTorch's `padding`: pixels added on every side. */
  readonly pad: number
  readonly bias: boolean
}

/** A conv with PyTorch padding semantics. Its layer is named `spec.name`; an explicit pad layer `<name>.pad`. */
export const conv2d = (x: SymbolicTensor, spec: ConvSpec): SymbolicTensor => {
  const { name, filters, kernel, stride, pad, bias } = spec
  const sameMatches = stride === 1 && kernel % 2 === 1 && pad === (kernel - 1) / 2
  const padded =
    pad === 0 || sameMatches
      ? x
      : (tf.layers.zeroPadding2d({ padding: pad, name: `${name}.pad` }).apply(x) as SymbolicTensor)
  return tf.layers
    .conv2d({
      name,
      filters,
      kernelSize: kernel,
      strides: stride,
      padding: sameMatches ? "same" : "valid",
      useBias: bias,
      ...kernelInit()
    })
    .apply(padded) as SymbolicTensor
}

export const dense = (x: SymbolicTensor, name: string, units: number): SymbolicTensor =>
  tf.layers.dense({ name, units, ...kernelInit() }).apply(x) as SymbolicTensor

/** Max pool with PyTorch padding semantics (−∞ padding). */
export const maxPool = (x: SymbolicTensor, name: string, size: number, stride: number, pad = 0): SymbolicTensor => {
  const padded = pad === 0 ? x : (new NegInfPadding2D({ pad, name: `${name}.pad` }).apply(x) as SymbolicTensor)
  return tf.layers.maxPooling2d({ name, poolSize: size, strides: stride, padding: "valid" }).apply(padded) as SymbolicTensor
}

/**
 * Batch norm with PyTorch's defaults: eps 1e-5, momentum 0.1 (Keras counts momentum the other way: 0.9).
 */
export const batchNorm = (x: SymbolicTensor, name: string): SymbolicTensor =>
  tf.layers.batchNormalization({ name, axis: -1, epsilon: 1e-5, momentum: 0.9 }).apply(x) as SymbolicTensor

export const apply = (layer: tf.layers.Layer, x: SymbolicTensor | SymbolicTensor[]): SymbolicTensor =>
  layer.apply(x) as SymbolicTensor
