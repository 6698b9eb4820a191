/**
 * Dense, convolution, pooling and batch-norm kernels, forward and backward. tfjs's own geometry helpers
 * (computeConv2DInfo / computePool2DInfo) decide output sizes and padding; the shim only executes them, so 'same',
 * 'valid', explicit padding and dimRoundingMode mean exactly what they mean on the cpu backend.
 */
import { backend_util, type KernelConfig, type TensorInfo } from "@tensorflow/tfjs"
import type { TorchBackend } from "../backend.ts"
import { TorchUnsupported } from "../errors.ts"
import { kernel } from "./kernel.ts"

type ConvInfo = backend_util.Conv2DInfo

/** The fused activations the shim knows (shim.cpp `enum Act`). */
const activations: Record<string, number> = { linear: 0, relu: 1, relu6: 2, elu: 3, sigmoid: 4, leakyrelu: 5, prelu: 6 }

const activationCode = (kernelName: string, activation: string | undefined) => {
  const code = activations[activation ?? "linear"]
  if (code === undefined) throw new TorchUnsupported({ kernel: kernelName, what: `activation ${activation}` })
  return code
}

/**
 * Writes the window geometry (shim.cpp `Window`) and the conv extras:
 *   [sh sw pt pb pl pr dh dw kh kw oh ow, depthwise, nchw, activation, inN inH inW inC, filter shape ×4]
 */
const writeWindow = (backend: TorchBackend, c: ConvInfo, depthwise: boolean, activation = 0, filterShape?: ReadonlyArray<number>) => {
  const p = c.padInfo
  return backend.setInts([
    c.strideHeight, c.strideWidth, p.top, p.bottom, p.left, p.right, c.dilationHeight, c.dilationWidth,
    c.filterHeight, c.filterWidth, c.outHeight, c.outWidth,
    depthwise ? 1 : 0, c.dataFormat === "channelsFirst" ? 1 : 0, activation,
    c.batchSize, c.inHeight, c.inWidth, c.inChannels,
    ...(filterShape ?? [0, 0, 0, 0])
  ])
}

const convInfo = (xShape: number[], filterShape: number[], attrs: any, depthwise: boolean): ConvInfo => // eslint-disable-line @typescript-eslint/no-explicit-any
  backend_util.computeConv2DInfo(
    xShape as [number, number, number, number], filterShape as [number, number, number, number], attrs.strides,
    attrs.dilations ?? 1, attrs.pad, attrs.dimRoundingMode, depthwise,
    backend_util.convertConv2DDataFormat(attrs.dataFormat ?? "NHWC")
  )

/** Conv2D / DepthwiseConv2dNative, optionally fused with bias and activation. */
const conv = (name: string, depthwise: boolean) =>
  kernel(name, ({ inputs, backend, attrs }) => {
    const x = inputs.x as TensorInfo
    const filter = inputs.filter as TensorInfo
    writeWindow(backend, convInfo(x.shape, filter.shape, attrs, depthwise), depthwise, activationCode(name, attrs.activation))
    backend.native.floats[0] = attrs.leakyreluAlpha ?? 0.2
    if (inputs.preluActivationWeights) backend.native.ptrs[0] = backend.handle(inputs.preluActivationWeights) as number
    return backend.run(backend.op.conv2d, x, filter, inputs.bias ?? null)
  })

const convBackpropInput = (name: string, depthwise: boolean) =>
  kernel(name, ({ inputs, backend, attrs }) => {
    const dy = inputs.dy as TensorInfo
    const filter = inputs.filter as TensorInfo
    const n = writeWindow(backend, convInfo(attrs.inputShape, filter.shape, attrs, depthwise), depthwise)
    // Deferred: the fused conv's gradient computes dx even for the first layer, where nothing uses it.
    return backend.defer(backend.op.conv2d_backprop_input, n, [dy, filter], [...attrs.inputShape], "float32")
  })

const convBackpropFilter = (name: string, depthwise: boolean) =>
  kernel(name, ({ inputs, backend, attrs }) => {
    const x = inputs.x as TensorInfo
    writeWindow(backend, convInfo(x.shape, attrs.filterShape, attrs, depthwise), depthwise, 0, attrs.filterShape)
    return backend.run(backend.op.conv2d_backprop_filter, x, inputs.dy)
  })

const poolInfo = (xShape: number[], attrs: any): ConvInfo => // eslint-disable-line @typescript-eslint/no-explicit-any
  backend_util.computePool2DInfo(
    xShape as [number, number, number, number], attrs.filterSize, attrs.strides, 1, attrs.pad, attrs.dimRoundingMode
  )

const pool = (name: string, op: "max_pool" | "avg_pool") =>
  kernel(name, ({ inputs, backend, attrs }) => {
    const x = inputs.x as TensorInfo
    writeWindow(backend, poolInfo(x.shape, attrs), false)
    return backend.run(backend.op[op], x)
  })

/**
 * tfjs's MaxPool/AvgPool gradients drop `dimRoundingMode` when they call the grad kernels, so with 'ceil' or
 * 'round' the attrs describe a smaller output than `dy` has. The geometry is taken from the rounding mode that
 * gives dy's shape (the forward pass's), so the gradient matches the forward.
 */
const poolGradInfo = (xShape: number[], dyShape: number[], attrs: any): ConvInfo => { // eslint-disable-line @typescript-eslint/no-explicit-any
  const fits = (c: ConvInfo) => c.outHeight === dyShape[1] && c.outWidth === dyShape[2]
  const given = poolInfo(xShape, attrs)
  if (fits(given) || typeof attrs.pad !== "number") return given
  for (const dimRoundingMode of ["ceil", "round", "floor"]) {
    const c = poolInfo(xShape, { ...attrs, dimRoundingMode })
    if (fits(c)) return c
  }
  return given
}

const poolGrad = (name: string, op: "max_pool_grad" | "avg_pool_grad") =>
  kernel(name, ({ inputs, backend, attrs }) => {
    const x = inputs.input as TensorInfo
    const dy = inputs.dy as TensorInfo
    writeWindow(backend, poolGradInfo(x.shape, dy.shape, attrs), false)
    return backend.run(backend.op[op], dy, x)
  })

const matMul = (name: string) =>
  kernel(name, ({ inputs, backend, attrs }) => {
    backend.setInts([attrs.transposeA ? 1 : 0, attrs.transposeB ? 1 : 0, activationCode(name, attrs.activation)])
    backend.native.floats[0] = attrs.leakyreluAlpha ?? 0.2
    if (inputs.preluActivationWeights) backend.native.ptrs[0] = backend.handle(inputs.preluActivationWeights) as number
    return backend.run(backend.op.matmul, inputs.a, inputs.b, inputs.bias ?? null)
  })

export const nnKernels: ReadonlyArray<KernelConfig> = [
  matMul("BatchMatMul"),
  matMul("_FusedMatMul"),
  conv("Conv2D", false),
  conv("FusedConv2D", false),
  conv("DepthwiseConv2dNative", true),
  conv("FusedDepthwiseConv2D", true),
  convBackpropInput("Conv2DBackpropInput", false),
  convBackpropInput("DepthwiseConv2dNativeBackpropInput", true),
  convBackpropFilter("Conv2DBackpropFilter", false),
  convBackpropFilter("DepthwiseConv2dNativeBackpropFilter", true),
  pool("MaxPool", "max_pool"),
  pool("AvgPool", "avg_pool"),
  poolGrad("MaxPoolGrad", "max_pool_grad"),
  poolGrad("AvgPoolGrad", "avg_pool_grad"),
  kernel("FusedBatchNorm", ({ inputs, backend, attrs }) => {
    const ptrs = backend.native.ptrs
    ptrs[0] = inputs.offset ? (backend.handle(inputs.offset) as number) : 0
    ptrs[1] = inputs.scale ? (backend.handle(inputs.scale) as number) : 0
    backend.native.floats[0] = attrs.varianceEpsilon ?? 0.001
    return backend.run(backend.op.batch_norm, inputs.x, inputs.mean, inputs.variance)
  })
]
