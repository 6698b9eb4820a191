/**
 * The two gradients of a 2-D convolution (NHWC) for wasm, written as forward `Conv2D`s so they run on XNNPACK.
 *
 * Forward, per spatial axis: y[o] = Σ_k x[o·s + k − p] · w[k]   (stride s, leading pad p; tfjs has no dilation
 * in conv gradients: its Conv2D gradient rejects dilation > 1 before these kernels are reached).
 *
 * - filter gradient  dw[k] = Σ_o x[o·s + k − p] · dy[o]: a convolution of x with dy as the filter, dilated by s,
 *   with batch and channel axes swapped (N becomes the contracted "channel" axis, Cin becomes the "batch").
 * - input gradient   dx[i] = Σ_k z[i + p − k] · w[k] where z is dy with s − 1 zeros after every element:
 *   a stride-1 convolution of z with the filter rotated 180° and its in/out channels swapped. For a square stride
 *   s > 1 most of z is zeros, so conv2d-input-phases.ts computes the same thing as s² smaller convolutions.
 * Both take the output size from dy itself. It can exceed what the attributes imply: tfjs's Conv2D gradient drops
 * `dimRoundingMode`, so after a forward pass that rounded its size up, dy has an extra row/column reaching into
 * implicit padding. The cpu backend then ignores that row (its gradient is wrong there); here it counts.
 */
import { backend_util, type TensorInfo } from "@tensorflow/tfjs"
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm"
import { convWithPads, gatherTaps, requireNHWC, reversed, type ConvAttrs, type Shape4 } from "./conv-parts.ts"
import { inputGradByPhases } from "./conv2d-input-phases.ts"
import { composed } from "./scope.ts"

/** dw [fh,fw,Cin,Cout] from x [N,H,W,Cin] and dy [N,Ho,Wo,Cout]. */
export const conv2DBackpropFilter = (
  backend: BackendWasm,
  x: TensorInfo,
  dy: TensorInfo,
  attrs: ConvAttrs & { readonly filterShape: Shape4 }
): TensorInfo => {
  requireNHWC("Conv2DBackpropFilter", attrs.dataFormat)
  const info = backend_util.computeConv2DInfo(
    x.shape as Shape4, attrs.filterShape, attrs.strides, 1, attrs.pad, attrs.dimRoundingMode, false, "channelsLast"
  )
  const { filterHeight: fh, filterWidth: fw, strideHeight: sh, strideWidth: sw, inHeight: h, inWidth: w } = info
  const [, ho, wo] = dy.shape as Shape4
  const top = info.padInfo.top
  const left = info.padInfo.left
  return composed(backend, (s) => {
    const xT = s.transpose(x, [3, 1, 2, 0]) // [Cin,H,W,N]
    const dyT = s.transpose(dy, [1, 2, 0, 3]) // [Ho,Wo,N,Cout]: dy as a filter contracting N
    const out = convWithPads(s, xT, dyT, {
      top,
      left,
      // chosen so the output is exactly fh × fw: H + top + bottom − ((Ho − 1)·sh + 1) + 1 = fh
      bottom: fh + (ho - 1) * sh - h - top,
      right: fw + (wo - 1) * sw - w - left
    }, [sh, sw]) // [Cin,fh,fw,Cout]
    return s.transpose(out, [1, 2, 0, 3])
  })
}

/** dx [N,H,W,Cin] from dy [N,Ho,Wo,Cout] and the filter [fh,fw,Cin,Cout]. */
export const conv2DBackpropInput = (
  backend: BackendWasm,
  dy: TensorInfo,
  filter: TensorInfo,
  attrs: ConvAttrs & { readonly inputShape: Shape4 }
): TensorInfo => {
  requireNHWC("Conv2DBackpropInput", attrs.dataFormat)
  const info = backend_util.computeConv2DInfo(
    attrs.inputShape, filter.shape as Shape4, attrs.strides, 1, attrs.pad, attrs.dimRoundingMode, false,
    "channelsLast"
  )
  const { filterHeight: fh, filterWidth: fw, strideHeight: sh, strideWidth: sw, inHeight: h, inWidth: w } = info
  const [n, ho, wo, cOut] = dy.shape as Shape4
  if (sh === sw && sh > 1) return inputGradByPhases(backend, dy, filter, info)
  return composed(backend, (s) => {
    // z: dy with (s − 1) zeros after each element along H and W; its length is Ho·sh (the trailing zeros are
    // cropped or padded away below).
    const z = sh === 1 && sw === 1 ? dy : s.reshape(
      s.run("PadV2", { x: s.reshape(dy, [n, ho, 1, wo, 1, cOut]) }, {
        paddings: [[0, 0], [0, 0], [0, sh - 1], [0, 0], [0, sw - 1], [0, 0]],
        constantValue: 0
      }),
      [n, ho * sh, wo * sw, cOut]
    )
    const rotated = gatherTaps(s, s.transpose(filter, [0, 1, 3, 2]), reversed(fh), reversed(fw)) // [fh,fw,Cout,Cin]
    const top = fh - 1 - info.padInfo.top
    const left = fw - 1 - info.padInfo.left
    return convWithPads(s, z, rotated, {
      top,
      left,
      // chosen so the output is exactly H × W: Ho·sh + top + bottom − fh + 1 = H
      bottom: h + fh - 1 - ho * sh - top,
      right: w + fw - 1 - wo * sw - left
    }, [1, 1])
  })
}
