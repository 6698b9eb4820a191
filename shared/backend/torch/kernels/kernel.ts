/**
 * The shape shared by every `torch` kernel: tfjs hands a kernel its inputs by name (or as a list), the backend,
 * and attrs; the kernel writes scalar arguments to the shim's exchange area and runs one or more shim ops.
 */
import type { KernelConfig, KernelFunc, TensorInfo } from "@tensorflow/tfjs"
import type { TorchBackend } from "../backend.ts"

export interface TorchKernelArgs {
  // The engine passes untyped maps; each kernel names what it reads.
  readonly inputs: any // eslint-disable-line @typescript-eslint/no-explicit-any
  readonly backend: TorchBackend
  readonly attrs: any // eslint-disable-line @typescript-eslint/no-explicit-any
}

export type TorchKernelFunc = (args: TorchKernelArgs) => TensorInfo | TensorInfo[]

export const kernel = (kernelName: string, fn: TorchKernelFunc): KernelConfig => ({
  kernelName,
  backendName: "torch",
  kernelFunc: fn as unknown as KernelFunc
})
