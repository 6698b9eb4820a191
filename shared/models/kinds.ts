/**
 * The linear layer kinds lwi initializes and LW learns, by tfjs class name: which weights are kernels, how many
 * output units (the bias length) a kernel gives, and the shape a kernel is DRAWN with so that shared/init's
 * fan formulas (fans.ts: [...receptive, in, out]) see the layer's true fans.
 *
 *   class             kernels (tfjs layout)                                units        drawn as
 *   Dense             kernel [in, out]                                     out          as is
 *   Conv1D/2D/3D      kernel [...k, inC, outC]                             outC         as is
 *   DepthwiseConv2D   depthwise_kernel [kh, kw, C, mult]                   C·mult       [kh, kw, 1, C·mult]: each output
 *                                                                                       channel sees ONE input channel
 *                                                                                       (PyTorch's groups = C fans)
 *   SeparableConv2D   depthwise_kernel [kh, kw, C, mult],                  filters      depthwise as above; pointwise
 *                     pointwise_kernel [1, 1, C·mult, filters]                          as is
 *   Conv2D/3DTranspose kernel [...k, filters, inC]  (out and in swapped)   filters      as is: fans as Keras and PyTorch
 *                                                                                       compute them (fanIn = k·filters)
 *
 * `kind` keeps its meaning for readers of `learnableLayers`: "dense" for Dense, "conv" for every convolution.
 */
import type { Layer } from "./graph.ts"

export type LayerKind = "conv" | "dense"

export interface KindSpec {
  readonly kind: LayerKind
  /** Weight suffixes of the kernels, in the order LW packs them (the last one maps to the units). */
  readonly kernels: readonly string[]
  /** Output units (= bias length) from the kernels' shapes, in `kernels` order. */
  readonly units: (shapes: ReadonlyArray<readonly number[]>) => number
  /** The shape kernel `suffix` is drawn with by shared/init (same element order as its tfjs layout). */
  readonly drawShape: (suffix: string, shape: readonly number[]) => number[]
}

const last = (s: readonly number[]) => s[s.length - 1]!
const asIs = (_: string, shape: readonly number[]) => [...shape]
/** [kh, kw, C, mult] → [kh, kw, 1, C·mult]: row-major identical, fans of a grouped conv with groups = C. */
const depthwiseDraw = (suffix: string, shape: readonly number[]) =>
  suffix === "depthwise_kernel" ? [...shape.slice(0, -2), 1, shape[shape.length - 2]! * last(shape)] : [...shape]

const plain = (kind: LayerKind): KindSpec => ({ kind, kernels: ["kernel"], units: ([k]) => last(k!), drawShape: asIs })
const transposed: KindSpec = { kind: "conv", kernels: ["kernel"], units: ([k]) => k![k!.length - 2]!, drawShape: asIs }

export const kindSpecs: { readonly [className: string]: KindSpec } = {
  Dense: plain("dense"),
  Conv1D: plain("conv"),
  Conv2D: plain("conv"),
  Conv3D: plain("conv"),
  DepthwiseConv2D: {
    kind: "conv",
    kernels: ["depthwise_kernel"],
    units: ([k]) => k![k!.length - 2]! * last(k!),
    drawShape: depthwiseDraw
  },
  SeparableConv2D: {
    kind: "conv",
    kernels: ["depthwise_kernel", "pointwise_kernel"],
    units: ([, p]) => last(p!),
    drawShape: depthwiseDraw
  },
  Conv2DTranspose: transposed,
  Conv3DTranspose: transposed
}

export const kindSpecOf = (layer: Layer): KindSpec | undefined => kindSpecs[layer.getClassName()]
