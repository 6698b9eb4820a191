/**
 * Kernels registered for the tfjs `wasm` backend so it can train CNNs.
 *
 * tfjs-backend-wasm 4.22 ships no `Conv2DBackpropFilter` (tfjs issue #8474), so a conv net fails at its first
 * backward pass. `registerWasmKernels()` adds it, and replaces shipped kernels:
 * - `Conv2D`, `MaxPool`, `AvgPool`: unchanged, except output sizes rounded up by `dimRoundingMode`, which the
 *   shipped kernels leave partly unwritten (see rounded-output.ts).
 * - `Conv2DBackpropInput`: the shipped one is a scalar loop; here Conv2Ds of the rotated filter (XNNPACK).
 * - `BatchMatMul`: the shipped one has no fast path for transposed operands (both dense-layer gradients).
 * - `MaxPoolGrad`: the shipped one is wrong for windows of values ≤ 0 and for ties (see max-pool-grad.ts).
 * - `Slice` (the gradient of padding): the shipped one copies a pixel at a time.
 * Each is composed from shipped wasm kernels plus block copies and loops on the wasm heap, and is checked against
 * the `cpu` backend in tests/backend.
 */
import { getKernel, registerKernel, unregisterKernel, type KernelConfig, type KernelFunc } from "@tensorflow/tfjs"
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm"
import { BackendUnavailable } from "./errors.ts"
import { batchMatMul } from "./kernels/batch-mat-mul.ts"
import { conv2DBackpropFilter, conv2DBackpropInput } from "./kernels/conv2d.ts"
import { maxPoolGrad } from "./kernels/max-pool-grad.ts"
import { convGeometry, exactPadding, poolGeometry } from "./kernels/rounded-output.ts"
import { slice } from "./kernels/slice.ts"

/** Marks a kernel function as ours, so registering twice changes nothing. */
const OURS = Symbol.for("lwi.wasm-kernel")

// The engine hands kernels untyped inputs and attrs; each adapter below names what it reads.
type Args = { inputs: any; backend: any; attrs?: any } // eslint-disable-line @typescript-eslint/no-explicit-any

interface KernelSpec {
  readonly kernelName: string
  /** Builds the kernel; `shipped` is the kernel tfjs-backend-wasm registered under this name, if any. */
  readonly make: (shipped: KernelFunc | undefined) => (args: Args) => unknown
}

const specs: ReadonlyArray<KernelSpec> = [
  ...(["Conv2D", "MaxPool", "AvgPool"] as const).map((kernelName): KernelSpec => ({
    kernelName,
    make: (shipped) => {
      if (shipped === undefined) throw shippedMissing(kernelName)
      return exactPadding(shipped, kernelName === "Conv2D" ? convGeometry : poolGeometry)
    }
  })),
  {
    kernelName: "Conv2DBackpropFilter",
    make: () => ({ inputs, backend, attrs }) => conv2DBackpropFilter(backend, inputs.x, inputs.dy, attrs)
  },
  {
    kernelName: "Conv2DBackpropInput",
    make: () => ({ inputs, backend, attrs }) => conv2DBackpropInput(backend, inputs.dy, inputs.filter, attrs)
  },
  {
    kernelName: "MaxPoolGrad",
    make: () => ({ inputs, backend, attrs }) => maxPoolGrad(backend, inputs.dy, inputs.input, attrs)
  },
  {
    kernelName: "Slice",
    make: (shipped) => {
      if (shipped === undefined) throw shippedMissing("Slice")
      return ({ inputs, backend, attrs }) => slice(shipped, backend, inputs.x, attrs)
    }
  },
  {
    kernelName: "BatchMatMul",
    make: (shipped) => {
      if (shipped === undefined) throw shippedMissing("BatchMatMul")
      return ({ inputs, backend, attrs }) => batchMatMul(shipped, backend as BackendWasm, inputs.a, inputs.b, attrs)
    }
  }
]

/** The kernels `registerWasmKernels` installs, by name. */
export const wasmKernelNames: ReadonlyArray<string> = specs.map((k) => k.kernelName)

const shippedMissing = (kernel: string) =>
  new BackendUnavailable({
    backend: "wasm",
    reason: `the shipped wasm kernel ${kernel} is not registered, so @tensorflow/tfjs-backend-wasm is not loaded yet`,
    tried: [],
    fix: `import "@tensorflow/tfjs-backend-wasm" (or call selectBackend) before registerWasmKernels()`
  })

/**
 * Registers the kernels above for backend "wasm", replacing shipped ones of the same name.
 * Idempotent. Call it after @tensorflow/tfjs-backend-wasm is imported (it registers its own kernels on import, and
 * would overwrite ours), before or after `tf.setBackend("wasm")`: a replaced kernel keeps the shipped setup
 * function, which the backend runs when it initializes.
 */
export const registerWasmKernels = (): void => {
  if (getKernel("Conv2DBackpropInput", "wasm") === undefined) throw shippedMissing("Conv2DBackpropInput")
  for (const spec of specs) {
    const current = getKernel(spec.kernelName, "wasm") as KernelConfig | undefined
    if (current !== undefined && OURS in current.kernelFunc) continue
    const kernelFunc = spec.make(current?.kernelFunc)
    Object.defineProperty(kernelFunc, OURS, { value: true })
    if (current !== undefined) unregisterKernel(spec.kernelName, "wasm")
    registerKernel({
      kernelName: spec.kernelName,
      backendName: "wasm",
      kernelFunc: kernelFunc as KernelFunc,
      ...(current?.setupFunc ? { setupFunc: current.setupFunc } : {}),
      ...(current?.disposeFunc ? { disposeFunc: current.disposeFunc } : {})
    })
  }
}
