/** Kernels that move values around without arithmetic: reshapes, slices, joins, pads, gathers, fills. */
import { backend_util, slice_util, util, type KernelConfig, type TensorInfo } from "@tensorflow/tfjs"
import type { TorchBackend } from "../backend.ts"
import { TorchUnsupported } from "../errors.ts"
import { dtypeCode } from "../native.ts"
import { kernel } from "./kernel.ts"

const reshape = (backend: TorchBackend, x: TensorInfo, shape: ReadonlyArray<number>) => {
  backend.native.ints[0] = shape.length
  backend.setInts(shape, 1)
  return backend.run(backend.op.reshape, x)
}

const join = (backend: TorchBackend, op: number, xs: ReadonlyArray<TensorInfo>, axis: number) => {
  xs.forEach((x, i) => (backend.native.ptrs[i] = backend.handle(x) as number))
  backend.native.ints[0] = xs.length
  backend.native.ints[1] = axis
  return backend.run(op)
}

const writeValues = (backend: TorchBackend, values: Float32Array | Int32Array, shape: number[], dtype: "float32" | "int32"): TensorInfo =>
  ({ dataId: backend.write(values, shape, dtype), shape, dtype })

/** tfjs's range: each value is the previous plus `step`, in the output's precision (as the cpu backend). */
const rangeValues = (start: number, stop: number, step: number, dtype: "float32" | "int32") => {
  const empty = start === stop || (start < stop && step < 0) || (stop < start && step > 1)
  const n = empty ? 0 : Math.abs(Math.ceil((stop - start) / step))
  const values = dtype === "int32" ? new Int32Array(n) : new Float32Array(n)
  const s = stop < start && step === 1 ? -1 : step
  if (n > 0) values[0] = start
  for (let i = 1; i < n; i++) values[i] = values[i - 1]! + s
  return values
}

export const shapeKernels: ReadonlyArray<KernelConfig> = [
  kernel("Reshape", ({ inputs, backend, attrs }) =>
    reshape(backend, inputs.x, util.inferFromImplicitShape(attrs.shape, util.sizeFromShape(inputs.x.shape)))
  ),
  kernel("ExpandDims", ({ inputs, backend, attrs }) => {
    const x = inputs.input as TensorInfo
    const shape = x.shape.slice()
    const dim = attrs.dim < 0 ? attrs.dim + x.shape.length + 1 : attrs.dim
    shape.splice(dim, 0, 1)
    return reshape(backend, x, shape)
  }),
  kernel("Transpose", ({ inputs, backend, attrs }) => {
    const perm = attrs.perm as number[]
    backend.native.ints[0] = perm.length
    backend.setInts(perm, 1)
    return backend.run(backend.op.transpose, inputs.x)
  }),
  kernel("Slice", ({ inputs, backend, attrs }) => {
    const x = inputs.x as TensorInfo
    const [begin, size] = slice_util.parseSliceParams(x as never, attrs.begin, attrs.size) as [number[], number[]]
    backend.native.ints[0] = x.shape.length
    backend.setInts(begin, 1)
    backend.setInts(size, 1 + x.shape.length)
    return backend.run(backend.op.slice, x)
  }),
  kernel("StridedSlice", ({ inputs, backend, attrs }) => {
    const x = inputs.x as TensorInfo
    const info = slice_util.sliceInfo(
      x.shape, attrs.begin, attrs.end, attrs.strides, attrs.beginMask, attrs.endMask, attrs.ellipsisMask,
      attrs.newAxisMask, attrs.shrinkAxisMask
    )
    if (info.isIdentity) return reshape(backend, x, info.finalShape)
    // Per input dim: first index, step, count (finalShapeSparse omits shrunk dims, so count from begin/end).
    const counts = slice_util.computeOutShape(info.begin, info.end, info.strides)
    const ints = backend.native.ints
    const rank = x.shape.length
    ints[0] = rank
    for (let d = 0; d < rank; d++) {
      ints[1 + 3 * d] = info.begin[d]!
      ints[2 + 3 * d] = info.strides[d]!
      ints[3 + 3 * d] = Math.max(0, counts[d]!)
    }
    ints[1 + 3 * rank] = info.finalShape.length
    backend.setInts(info.finalShape, 2 + 3 * rank)
    return backend.run(backend.op.strided_slice, x)
  }),
  kernel("Concat", ({ inputs, backend, attrs }) => {
    const xs = inputs as TensorInfo[]
    return join(backend, backend.op.concat, xs, util.parseAxisParam(attrs.axis, xs[0]!.shape)[0]!)
  }),
  kernel("Pack", ({ inputs, backend, attrs }) => {
    const xs = inputs as TensorInfo[]
    const axis = attrs.axis < 0 ? attrs.axis + xs[0]!.shape.length + 1 : attrs.axis
    return join(backend, backend.op.stack, xs, axis)
  }),
  kernel("Unpack", ({ inputs, backend, attrs }) => {
    const x = inputs.value as TensorInfo
    const axis = util.parseAxisParam(attrs.axis, x.shape)[0]!
    return Array.from({ length: x.shape[axis]! }, (_, i) => {
      backend.native.ints[0] = axis
      backend.native.ints[1] = i
      return backend.run(backend.op.select, x)
    })
  }),
  kernel("SplitV", ({ inputs, backend, attrs }) => {
    const x = inputs.x as TensorInfo
    const axis = util.parseAxisParam(attrs.axis, x.shape)[0]!
    const sizes = backend_util.prepareSplitSize(x as never, attrs.numOrSizeSplits, axis)
    let start = 0
    return sizes.map((size) => {
      backend.setInts([axis, start, size])
      start += size
      return backend.run(backend.op.narrow, x)
    })
  }),
  kernel("Tile", ({ inputs, backend, attrs }) => {
    const reps = attrs.reps as number[]
    backend.native.ints[0] = reps.length
    backend.setInts(reps, 1)
    return backend.run(backend.op.tile, inputs.x)
  }),
  kernel("Reverse", ({ inputs, backend, attrs }) => {
    const dims = util.parseAxisParam(attrs.dims, inputs.x.shape)
    backend.native.ints[0] = dims.length
    backend.setInts(dims, 1)
    return backend.run(backend.op.reverse, inputs.x)
  }),
  kernel("PadV2", ({ inputs, backend, attrs }) => {
    const paddings = attrs.paddings as Array<[number, number]>
    backend.native.ints[0] = paddings.length
    backend.setInts(paddings.flat(), 1)
    backend.native.floats[0] = attrs.constantValue ?? 0
    return backend.run(backend.op.pad, inputs.x)
  }),
  kernel("MirrorPad", ({ inputs, backend, attrs }) => {
    const paddings = attrs.paddings as Array<[number, number]>
    backend.native.ints[0] = paddings.length
    const next = backend.setInts(paddings.flat(), 1)
    backend.native.ints[next] = attrs.mode === "symmetric" ? 1 : 0
    return backend.run(backend.op.mirror_pad, inputs.x)
  }),
  kernel("GatherV2", ({ inputs, backend, attrs }) => {
    const x = inputs.x as TensorInfo
    const indices = inputs.indices as TensorInfo
    const batchDims = (attrs.batchDims ?? 0) < 0 ? attrs.batchDims + indices.shape.length : attrs.batchDims ?? 0
    backend.native.ints[0] = util.parseAxisParam(attrs.axis, x.shape)[0]!
    backend.native.ints[1] = batchDims
    return backend.run(backend.op.gather, x, indices)
  }),
  kernel("OneHot", ({ inputs, backend, attrs }) => {
    const dtype = attrs.dtype as string
    if (!(dtype in dtypeCode)) throw new TorchUnsupported({ kernel: "OneHot", what: `dtype ${dtype}` })
    backend.native.ints[0] = attrs.depth
    backend.native.ints[1] = dtypeCode[dtype as keyof typeof dtypeCode]
    backend.native.floats[0] = attrs.onValue
    backend.native.floats[1] = attrs.offValue
    return backend.run(backend.op.one_hot, inputs.indices)
  }),
  kernel("UnsortedSegmentSum", ({ inputs, backend, attrs }) => {
    backend.native.ints[0] = attrs.numSegments
    return backend.run(backend.op.unsorted_segment_sum, inputs.x, inputs.segmentIds)
  }),
  kernel("Fill", ({ backend, attrs }) => {
    const dtype = attrs.dtype as string
    if (typeof attrs.value !== "number" || !(dtype in dtypeCode)) {
      throw new TorchUnsupported({ kernel: "Fill", what: `a ${dtype} fill` })
    }
    const shape = attrs.shape as number[]
    backend.native.ints[0] = shape.length
    const next = backend.setInts(shape, 1)
    backend.native.ints[next] = dtypeCode[dtype as keyof typeof dtypeCode]
    backend.native.floats[0] = attrs.value
    return backend.run(backend.op.fill)
  }),
  kernel("Range", ({ backend, attrs }) => {
    const values = rangeValues(attrs.start, attrs.stop, attrs.step, attrs.dtype)
    return writeValues(backend, values, [values.length], attrs.dtype)
  }),
  kernel("LinSpace", ({ backend, attrs }) => {
    const values = new Float32Array(attrs.num)
    const step = (attrs.stop - attrs.start) / (attrs.num - 1)
    if (attrs.num > 0) values[0] = attrs.start
    for (let i = 1; i < values.length; i++) values[i] = values[i - 1]! + step
    return writeValues(backend, values, [values.length], "float32")
  })
]
