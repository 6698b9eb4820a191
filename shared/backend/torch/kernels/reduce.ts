/** Reductions, scans and softmax. tfjs hands axes as a number or a list, possibly negative. */
import { util, type KernelConfig, type TensorInfo } from "@tensorflow/tfjs"
import type { TorchBackend } from "../backend.ts"
import type { OpName } from "../native.ts"
import { kernel } from "./kernel.ts"

const reduce = (backend: TorchBackend, op: OpName, x: TensorInfo, axis: number | number[] | undefined, keepDims: boolean) => {
  const axes = util.parseAxisParam(axis ?? (null as unknown as number[]), x.shape)
  backend.native.ints[0] = axes.length
  const next = backend.setInts(axes, 1)
  backend.native.ints[next] = keepDims ? 1 : 0
  return backend.run(backend.op[op], x)
}

const scan = (backend: TorchBackend, op: OpName, x: TensorInfo, attrs: { axis: number; exclusive: boolean; reverse: boolean }) => {
  backend.setInts([util.parseAxisParam(attrs.axis, x.shape)[0]!, attrs.exclusive ? 1 : 0, attrs.reverse ? 1 : 0])
  return backend.run(backend.op[op], x)
}

const reductions: Record<string, OpName> = { Sum: "sum", Mean: "mean", Min: "min", Prod: "prod", All: "all", Any: "any" }

export const reduceKernels: ReadonlyArray<KernelConfig> = [
  ...Object.entries(reductions).map(([name, op]) =>
    kernel(name, ({ inputs, backend, attrs }) => reduce(backend, op, inputs.x, attrs.axis, attrs.keepDims))
  ),
  kernel("Max", ({ inputs, backend, attrs }) => reduce(backend, "max", inputs.x, attrs.reductionIndices, attrs.keepDims)),
  kernel("ArgMax", ({ inputs, backend, attrs }) => {
    backend.native.ints[0] = util.parseAxisParam(attrs.axis, inputs.x.shape)[0]!
    return backend.run(backend.op.argmax, inputs.x)
  }),
  kernel("ArgMin", ({ inputs, backend, attrs }) => {
    backend.native.ints[0] = util.parseAxisParam(attrs.axis, inputs.x.shape)[0]!
    return backend.run(backend.op.argmin, inputs.x)
  }),
  kernel("Cumsum", ({ inputs, backend, attrs }) => scan(backend, "cumsum", inputs.x, attrs)),
  kernel("Cumprod", ({ inputs, backend, attrs }) => scan(backend, "cumprod", inputs.x, attrs)),
  kernel("Softmax", ({ inputs, backend, attrs }) => {
    backend.native.ints[0] = attrs.dim ?? -1
    return backend.run(backend.op.softmax, inputs.logits)
  }),
  kernel("LogSoftmax", ({ inputs, backend, attrs }) => {
    backend.native.ints[0] = attrs.axis ?? -1
    return backend.run(backend.op.log_softmax, inputs.logits)
  })
]
