/**
 * MaxPoolGrad for wasm with the `cpu` backend's exact semantics: each output's gradient goes to the FIRST
 * strict maximum of its window (row-major scan from −∞); padding never wins; overlapping windows add up.
 *
 * The shipped wasm kernel starts its running max at `numeric_limits<float>::min()` (the smallest POSITIVE float),
 * so a window of values ≤ 0 (after tanh, or zeros after ReLU) sends its gradient to the wrong cell, and it keeps
 * the LAST of tied maxima. It is also slow: ~2 ms for LeNet's first pool at batch 32.
 *
 * A composition of shipped kernels (window transpose + ArgMax + OneHot + scatter) was exact but no faster: the wasm
 * ArgMax, Cast and broadcasting compares each cost more than the whole job. So this one is a plain loop over the
 * wasm heap, channels innermost (NHWC keeps them contiguous): one read of x and dy, one write of dx.
 */
import { backend_util, type TensorInfo } from "@tensorflow/tfjs"
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm"

type Shape4 = [number, number, number, number]

export interface MaxPoolGradAttrs {
  readonly filterSize: number | [number, number]
  readonly strides: number | [number, number]
  readonly pad: "valid" | "same" | number | backend_util.ExplicitPadding
  readonly dimRoundingMode?: "floor" | "round" | "ceil"
}

/** dx [N,H,W,C] from dy [N,Ho,Wo,C] and the pooled input x [N,H,W,C] (float32). */
export const maxPoolGrad = (
  backend: BackendWasm,
  dy: TensorInfo,
  x: TensorInfo,
  attrs: MaxPoolGradAttrs
): TensorInfo => {
  const info = backend_util.computePool2DInfo(
    x.shape as Shape4, attrs.filterSize, attrs.strides, 1, attrs.pad, attrs.dimRoundingMode
  )
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: c } = info
  // The output size comes from dy: tfjs's MaxPool gradient drops `dimRoundingMode`, so after a forward pass that
  // rounded its size up, dy is a row/column larger than the attributes imply (that row's windows run into padding).
  const [, ho, wo] = dy.shape as Shape4
  const { filterHeight: fh, filterWidth: fw, strideHeight: sh, strideWidth: sw } = info
  const { top, left } = info.padInfo
  // Allocate first: a malloc may grow the wasm memory and detach views taken before it.
  const out = backend.makeOutput(x.shape, "float32")
  const xs = backend.typedArrayFromHeap(x) as Float32Array
  const dys = backend.typedArrayFromHeap(dy) as Float32Array
  const dx = backend.typedArrayFromHeap(out) as Float32Array
  dx.fill(0)
  const best = new Float32Array(c)
  const at = new Int32Array(c)
  const rowStride = w * c
  for (let b = 0; b < n; b++) {
    const xBatch = b * h * rowStride
    for (let oh = 0; oh < ho; oh++) {
      const r0 = oh * sh - top
      const rFrom = Math.max(0, r0)
      const rTo = Math.min(h, r0 + fh)
      for (let ow = 0; ow < wo; ow++) {
        const q0 = ow * sw - left
        const qFrom = Math.max(0, q0)
        const qTo = Math.min(w, q0 + fw)
        for (let ch = 0; ch < c; ch++) {
          best[ch] = -Infinity
          at[ch] = -1
        }
        for (let r = rFrom; r < rTo; r++) {
          for (let q = qFrom; q < qTo; q++) {
            const cell = xBatch + r * rowStride + q * c
            for (let ch = 0; ch < c; ch++) {
              const v = xs[cell + ch]!
              if (v > best[ch]!) {
                best[ch] = v
                at[ch] = cell + ch
              }
            }
          }
        }
        const dyAt = ((b * ho + oh) * wo + ow) * c
        for (let ch = 0; ch < c; ch++) {
          const i = at[ch]!
          if (i >= 0) dx[i] = dx[i]! + dys[dyAt + ch]!
        }
      }
    }
  }
  return out
}
