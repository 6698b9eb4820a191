/**
 * Pieces shared by the convolution kernels: NHWC checks, a Conv2D that accepts negative padding, the filter rotation.
 */
import type { backend_util, TensorInfo } from "@tensorflow/tfjs"
import type { KernelScope, Sides } from "./scope.ts"

export type Pad = "valid" | "same" | number | backend_util.ExplicitPadding
export type Shape4 = [number, number, number, number]

export interface ConvAttrs {
  readonly strides: number | [number, number]
  readonly pad: Pad
  readonly dataFormat: "NHWC" | "NCHW"
  readonly dimRoundingMode?: "floor" | "round" | "ceil"
}

export const requireNHWC = (kernel: string, dataFormat: string) => {
  // The wasm forward Conv2D itself only accepts NHWC, so NCHW never reaches a gradient on this backend.
  if (dataFormat === "NCHW") throw new Error(`wasm ${kernel}: dataFormat NCHW is not supported; use NHWC`)
}

/**
 * A stride-1 Conv2D of x [N,H,W,C] with explicit pads that may be negative: negative pads crop x first,
 * because XNNPACK (like TF) accepts only non-negative padding; positive ones are left to the convolution.
 */
export const convWithPads = (
  s: KernelScope,
  x: TensorInfo,
  filter: TensorInfo,
  pads: Sides,
  dilations: [number, number]
): TensorInfo => {
  const input = s.padOrCrop(x, {
    top: Math.min(0, pads.top),
    bottom: Math.min(0, pads.bottom),
    left: Math.min(0, pads.left),
    right: Math.min(0, pads.right)
  })
  const pad: backend_util.ExplicitPadding = [
    [0, 0],
    [Math.max(0, pads.top), Math.max(0, pads.bottom)],
    [Math.max(0, pads.left), Math.max(0, pads.right)],
    [0, 0]
  ]
  return s.run("Conv2D", { x: input, filter }, {
    strides: [1, 1],
    pad,
    dataFormat: "NHWC",
    dilations,
    dimRoundingMode: undefined
  })
}

/**
 * A new filter whose tap (i, j) is tap (rows[i], cols[j]) of `filter` [fh,fw,A,B]: each tap is a contiguous A·B
 * block, so this is block copies on the wasm heap. It rotates a filter 180° (reversed indices) and picks the
 * sub-filters of strided input gradients; the shipped Reverse takes 55 ms on a 3×3×512×512 filter, StridedSlice
 * 0.5 ms on a 2×2×64×32 one.
 */
export const gatherTaps = (
  s: KernelScope,
  filter: TensorInfo,
  rows: ReadonlyArray<number>,
  cols: ReadonlyArray<number>
): TensorInfo => {
  const [, fw, a, b] = filter.shape as Shape4
  const block = a * b
  const out = s.adopt(s.backend.makeOutput([rows.length, cols.length, a, b], "float32"))
  // Views after the allocation: a malloc may grow the wasm memory and detach views taken before it.
  const src = s.backend.typedArrayFromHeap(filter) as Float32Array
  const dst = s.backend.typedArrayFromHeap(out) as Float32Array
  rows.forEach((r, i) =>
    cols.forEach((c, j) => {
      const from = (r * fw + c) * block
      dst.set(src.subarray(from, from + block), (i * cols.length + j) * block)
    })
  )
  return out
}

/** 0, 1, ..., n − 1 reversed. */
export const reversed = (n: number): Array<number> => Array.from({ length: n }, (_, i) => n - 1 - i)
