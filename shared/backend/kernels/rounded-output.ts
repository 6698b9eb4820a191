/**
 * Forward Conv2D, MaxPool and AvgPool when `dimRoundingMode` rounds the output size up.
 *
 * tfjs then allocates an output row/column that reaches past the stated padding (3×3 stride 2 pad 1 on 8 pixels:
 * (8 − 3 + 2)/2 + 1 = 4.5 → 5). The shipped wasm kernels hand XNNPACK the stated padding, XNNPACK sizes its output
 * from it (4), and the fifth row is never written: uninitialized memory. Here the bottom/right padding is made
 * exactly what the output needs (cropping the input when it needs less), as the cpu backend implicitly does, and
 * the shipped kernel is called with it. Every call without a rounding mode goes straight to the shipped kernel.
 */
import { backend_util, type KernelFunc, type TensorInfo } from "@tensorflow/tfjs"
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm"
import type { Shape4 } from "./conv-parts.ts"
import { composed } from "./scope.ts"

type Args = { inputs: Record<string, TensorInfo>; backend: BackendWasm; attrs?: Record<string, unknown> }

/** The output geometry of the op for these inputs and attributes. */
type Geometry = (inputs: Record<string, TensorInfo>, attrs: Record<string, unknown>) => backend_util.Conv2DInfo

export const convGeometry: Geometry = ({ x, filter }, a) =>
  backend_util.computeConv2DInfo(
    x!.shape as Shape4, filter!.shape as Shape4, a.strides as never, a.dilations as never, a.pad as never,
    a.dimRoundingMode as never, false, "channelsLast"
  )

export const poolGeometry: Geometry = ({ x }, a) =>
  backend_util.computePool2DInfo(
    x!.shape as Shape4, a.filterSize as never, a.strides as never, 1, a.pad as never, a.dimRoundingMode as never
  )

export const exactPadding = (shipped: KernelFunc, geometry: Geometry) => ({ inputs, backend, attrs = {} }: Args) => {
  const { dimRoundingMode, ...rest } = attrs
  if (dimRoundingMode == null || typeof attrs.pad === "string" || attrs.dataFormat === "NCHW") {
    return shipped({ inputs, backend, attrs: attrs as never })
  }
  const info = geometry(inputs, attrs)
  const { top, left } = info.padInfo
  const bottom = (info.outHeight - 1) * info.strideHeight + info.effectiveFilterHeight - info.inHeight - top
  const right = (info.outWidth - 1) * info.strideWidth + info.effectiveFilterWidth - info.inWidth - left
  return composed(backend, (s) => {
    const x = s.padOrCrop(inputs.x!, { top: 0, left: 0, bottom: Math.min(0, bottom), right: Math.min(0, right) })
    const pad = [[0, 0], [top, Math.max(0, bottom)], [left, Math.max(0, right)], [0, 0]]
    return s.adopt(shipped({ inputs: { ...inputs, x }, backend, attrs: { ...rest, pad } as never }) as TensorInfo)
  })
}
