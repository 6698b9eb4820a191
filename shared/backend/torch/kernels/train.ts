/** Training kernels beyond tfjs's own: the one-pass SGD update that shared/train/optim.ts uses when registered. */
import type { KernelConfig, TensorInfo } from "@tensorflow/tfjs"
import { sgdUpdateKernel } from "../../../train/optim.ts"
import { kernel } from "./kernel.ts"

export const trainKernels: ReadonlyArray<KernelConfig> = [
  // inputs w, g, v?; attrs lr, momentum → [w'] or [w', v'] (shim-loops.h sgd_update)
  kernel(sgdUpdateKernel, ({ inputs, backend, attrs }) => {
    backend.native.floats[0] = attrs.lr
    backend.native.floats[1] = attrs.momentum
    const v = (inputs.v as TensorInfo | undefined) ?? null
    const w = backend.run(backend.op.sgd_update, inputs.w, inputs.g, v)
    return v === null ? [w] : [w, backend.extra()]
  })
]
