/**
 * Slice for wasm as block copies.
 *
 * The shipped kernel copies one innermost row per `subarray` + `set` (a fresh view object per pixel in NHWC, where
 * the innermost row is a pixel's channels): 1.7 ms per step of the 4-conv CNN goes to the gradients of its zero
 * padding. Here the trailing axes the slice keeps whole are merged with the last one it cuts, so each copy is as
 * long as memory allows (for an NHWC crop: a whole row of W·C values).
 */
import { slice_util, util, type KernelFunc, type TensorInfo } from "@tensorflow/tfjs"
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm"

export interface SliceAttrs {
  readonly begin: number | Array<number>
  readonly size: number | Array<number>
}

export const slice = (shipped: KernelFunc, backend: BackendWasm, x: TensorInfo, attrs: SliceAttrs): TensorInfo => {
  if (x.dtype === "string" || x.shape.length === 0) {
    return shipped({ inputs: { x }, backend, attrs: attrs as never }) as TensorInfo
  }
  const [begin, size] = slice_util.parseSliceParams(x as never, attrs.begin, attrs.size) as [number[], number[]]
  const out = backend.makeOutput(size, x.dtype)
  if (util.sizeFromShape(size) === 0) return out
  const shape = x.shape
  const strides = util.computeStrides(shape)
  // Axes after `cut` are kept whole, so one copy spans size[cut] · (their product) values.
  let cut = shape.length - 1
  while (cut > 0 && size[cut] === shape[cut]) cut--
  const chunk = util.sizeFromShape(size.slice(cut))
  const stride = (d: number) => (d < strides.length ? strides[d]! : 1)
  const src = backend.typedArrayFromHeap(x) // views after makeOutput: a malloc may detach earlier ones
  const dst = backend.typedArrayFromHeap(out)
  const index = new Array<number>(cut).fill(0) // odometer over the axes before `cut`
  const count = util.sizeFromShape(size.slice(0, cut))
  for (let k = 0, to = 0; k < count; k++, to += chunk) {
    let from = begin[cut]! * stride(cut)
    for (let d = 0; d < cut; d++) from += (begin[d]! + index[d]!) * stride(d)
    if (chunk >= 16) dst.set(src.subarray(from, from + chunk), to)
    else for (let i = 0; i < chunk; i++) dst[to + i] = src[from + i]!
    for (let d = cut - 1; d >= 0; d--) {
      if (++index[d]! < size[d]!) break
      index[d] = 0
    }
  }
  return out
}
