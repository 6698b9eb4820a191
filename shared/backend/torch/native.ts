/**
 * The shim (./shim.cpp) as seen from JS: built by scripts/build-torch-shim.sh, opened with bun:ffi.
 *
 * A tensor is a `Handle` (an `at::Tensor*`). Scalar arguments are written into `ints` / `floats` / `ptrs`, views
 * over the shim's static exchange area, right before `call`; the result's dtype and shape come back in `meta`.
 */
import { CString, dlopen, FFIType, toArrayBuffer, type Pointer } from "bun:ffi"
import { existsSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { TorchOpError } from "./errors.ts"

export type Handle = Pointer

/** Every op of the shim's table that the kernels use; `load` fails when the shim lacks one. */
export const opNames = [
  "identity", "neg", "abs", "sign", "sqrt", "rsqrt", "square", "exp", "expm1", "log", "log1p", "sin", "cos", "tan",
  "asin", "acos", "atan", "sinh", "cosh", "tanh", "asinh", "acosh", "atanh", "sigmoid", "relu", "relu6", "elu",
  "selu", "softplus", "ceil", "floor", "round", "reciprocal", "erf", "logical_not", "is_nan", "is_inf",
  "is_finite", "zeros_like", "ones_like", "contiguous", "step", "leaky_relu", "clip", "cast",
  "add", "sub", "mul", "div", "floor_div", "mod", "pow", "maximum", "minimum", "squared_difference", "atan2",
  "equal", "not_equal", "less", "less_equal", "greater", "greater_equal", "logical_and", "logical_or",
  "logical_xor", "prelu", "elu_grad", "where", "add_n",
  "reshape", "transpose", "slice", "strided_slice", "concat", "stack", "select", "narrow", "tile", "reverse", "pad",
  "mirror_pad", "gather", "one_hot", "unsorted_segment_sum", "fill", "range", "linspace",
  "sum", "mean", "max", "min", "prod", "all", "any", "argmax", "argmin", "cumsum", "cumprod",
  "matmul", "softmax", "log_softmax", "batch_norm", "sgd_update",
  "conv2d", "conv2d_backprop_input", "conv2d_backprop_filter", "max_pool", "max_pool_grad", "avg_pool",
  "avg_pool_grad"
] as const
export type OpName = (typeof opNames)[number]

/** tfjs dtypes as the shim numbers them. */
export const dtypeCode = { float32: 0, int32: 1, bool: 2 } as const
export type TorchDtype = keyof typeof dtypeCode
const dtypeOf: ReadonlyArray<TorchDtype> = ["float32", "int32", "bool"]

/**
 * Sees every tensor the shim makes or frees while set (shared/backend/torch/replay.ts records a training step with it).
 * `before` runs ahead of each op with its inputs (the exchange area already written), `after` once it returned.
 */
export interface NativeTap {
  readonly before: (op: number, a: Handle | null, b: Handle | null, c: Handle | null) => void
  readonly after: (op: number, a: Handle | null, b: Handle | null, c: Handle | null, result: Handle) => void
  readonly extra: (result: Handle) => void
  readonly fromValues: (values: Float32Array | Int32Array | Uint8Array, shape: ReadonlyArray<number>, dtype: TorchDtype, result: Handle) => void
  readonly free: (h: Handle) => void
}

/** A replay program built in the shim (shim-replay.h); freed with `freeProgram`. */
export type ProgramHandle = Pointer

export type ConvAlgorithm = "auto" | "gemm" | "aten" | "winograd" | "direct"
const convAlgorithmCode: Record<ConvAlgorithm, number> = { auto: 0, gemm: 1, aten: 2, winograd: 3, direct: 4 }

export interface Native {
  /** Op indices by name. */
  readonly op: Readonly<Record<OpName, number>>
  readonly ints: Int32Array
  readonly floats: Float64Array
  /** Tensor handles for list ops (concat, stack, add_n) and extra inputs. */
  readonly ptrs: Float64Array
  /** Runs op `op` on up to three tensors; throws TorchOpError with ATen's message. */
  readonly call: (op: number, a?: Handle | null, b?: Handle | null, c?: Handle | null) => Handle
  /** The next further result of the last `call` (ops with several outputs); throws when there is none. */
  readonly extra: () => Handle
  /** dtype and shape of the last result (or of the last `describe`d handle). */
  readonly resultDtype: () => TorchDtype
  readonly resultShape: () => number[]
  readonly describe: (h: Handle) => void
  readonly fromValues: (values: Float32Array | Int32Array | Uint8Array, shape: ReadonlyArray<number>, dtype: TorchDtype) => Handle
  readonly read: (h: Handle, out: Float32Array | Int32Array | Uint8Array) => void
  readonly free: (h: Handle) => void
  /** Tensors the shim has handed out and not yet freed. */
  readonly live: () => number
  readonly setThreads: (n: number) => void
  /**
   * Convolution algorithm (shim-conv.h): "auto" picks by shape among Winograd, the tap GEMM and ATen (the default),
   * "direct" by shape without Winograd (the rule before it, for A/B runs), "gemm" forces one sgemm per filter
   * tap wherever it applies (float NHWC, not depthwise), "aten" forces ATen's (oneDNN's) convolution, "winograd"
   * forces Winograd F(2×2, 3×3) (shim-winograd.h) wherever it applies (3×3, stride 1, undilated) and picks by shape
   * elsewhere. For tests and measurements.
   */
  readonly setConvAlgorithm: (algorithm: ConvAlgorithm) => void
  /**
   * Flush denormal floats to zero inside every op (FTZ/DAZ on ATen's pool threads, and on the calling thread for
   * the length of a call only), on by default; returns how many pool threads now flush. See shim.cpp.
   */
  readonly setFlushDenormals: (on: boolean) => number
  /** The calling thread's MXCSR between calls (JS's own arithmetic must keep denormals: FTZ/DAZ bits clear). */
  readonly callerCsr: () => number
  readonly threads: () => number
  readonly opName: (op: number) => string
  /** Installs (or, with undefined, removes) a tap on call/extra/fromValues/free. */
  readonly setTap: (tap: NativeTap | undefined) => void
  /** Builds a replay program from its streams (layout in shim-replay.h) and constant tensors (the program keeps its own reference). */
  readonly buildProgram: (code: Int32Array, floats: Float64Array, consts: ReadonlyArray<Handle>) => ProgramHandle
  /**
   * Runs a program on `inputs` (handles); writes a handle per output into `outputs`. On entry `outputs[j]` may offer
   * input i's tensor for output j (i + 1; 0 = a new handle): see run_program in shim-replay.h. Throws TorchOpError.
   */
  readonly replay: (program: ProgramHandle, inputs: Float64Array, outputs: Float64Array) => void
  readonly freeProgram: (program: ProgramHandle) => void
}

const symbols = {
  lwi_meta: { args: [], returns: FFIType.ptr },
  lwi_ints: { args: [], returns: FFIType.ptr },
  lwi_floats: { args: [], returns: FFIType.ptr },
  lwi_ptrs: { args: [], returns: FFIType.ptr },
  lwi_error: { args: [], returns: FFIType.ptr },
  lwi_live: { args: [], returns: FFIType.i32 },
  lwi_init: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 },
  lwi_set_threads: { args: [FFIType.i32], returns: FFIType.void },
  lwi_get_threads: { args: [], returns: FFIType.i32 },
  lwi_conv_algorithm: { args: [FFIType.i32], returns: FFIType.void },
  lwi_flush_denormals: { args: [FFIType.i32], returns: FFIType.i32 },
  lwi_caller_csr: { args: [], returns: FFIType.i32 },
  lwi_op: { args: [FFIType.ptr], returns: FFIType.i32 },
  lwi_from: { args: [FFIType.ptr, FFIType.i32, FFIType.ptr, FFIType.i32, FFIType.f64], returns: FFIType.ptr },
  lwi_read: { args: [FFIType.ptr, FFIType.ptr, FFIType.f64], returns: FFIType.i32 },
  lwi_describe: { args: [FFIType.ptr], returns: FFIType.i32 },
  lwi_free: { args: [FFIType.ptr], returns: FFIType.void },
  lwi_call: { args: [FFIType.i32, FFIType.ptr, FFIType.ptr, FFIType.ptr], returns: FFIType.ptr },
  lwi_extra: { args: [], returns: FFIType.ptr },
  lwi_program: { args: [FFIType.ptr, FFIType.i32, FFIType.ptr, FFIType.i32, FFIType.ptr, FFIType.i32], returns: FFIType.ptr },
  lwi_replay: { args: [FFIType.ptr, FFIType.ptr, FFIType.i32, FFIType.ptr], returns: FFIType.i32 },
  lwi_program_free: { args: [FFIType.ptr], returns: FFIType.void }
} as const

/** The repository root, found from this file (shared/backend/torch/native.ts). */
const repoRoot = () => join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..")

/**
 * Runs scripts/build-torch-shim.sh (a no-op when the library for these sources is cached, 10–30 s otherwise) and
 * returns the library's path, or throws with the script's one-line reason.
 */
export const buildShim = async (): Promise<string> => {
  const script = join(repoRoot(), "scripts", "build-torch-shim.sh")
  if (!existsSync(script)) throw new Error(`missing ${script}`)
  const run = Bun.spawn(["bash", script], { stdout: "pipe", stderr: "pipe", env: process.env })
  const [stdout, stderr, exitCode] = await Promise.all([
    new Response(run.stdout).text(),
    new Response(run.stderr).text(),
    run.exited
  ])
  const reasons = stderr.trim().split("\n").filter((l) => l !== "" && !l.includes("compiling"))
  if (exitCode !== 0) throw new Error(reasons.at(-1) ?? `build-torch-shim.sh exited with ${exitCode}`)
  const path = stdout.trim().split("\n").at(-1) ?? ""
  if (!existsSync(path)) throw new Error(`build-torch-shim.sh printed "${path}", which does not exist`)
  return path
}

export interface ShimOptions {
  /** Intra-op threads (at::set_num_threads); ATen's default when absent. */
  readonly threads?: number
  /** Keep freed native memory for reuse instead of returning it to the OS (see lwi_init in shim.cpp); true. */
  readonly keepFreedMemory?: boolean
  /** Flush denormals to zero in native ops (see `Native.setFlushDenormals`); true. */
  readonly flushDenormals?: boolean
}

/** Opens the shim at `path`, applies `opts`, and resolves every op. Throws why not. */
export const openShim = (path: string, opts: ShimOptions = {}): Native => {
  const lib = dlopen(path, symbols)
  const s = lib.symbols
  // bun:ffi returns pointers as numbers at run time; its types also allow bigint.
  const asPtr = (p: unknown) => p as Pointer | null
  const view = <T>(p: unknown, bytes: number, make: (b: ArrayBuffer) => T): T => {
    if (p === null) throw new Error("shim returned a null exchange area")
    return make(toArrayBuffer(p as Pointer, 0, bytes))
  }
  const meta = view(s.lwi_meta(), 34 * 4, (b) => new Int32Array(b))
  const ints = view(s.lwi_ints(), 4096 * 4, (b) => new Int32Array(b))
  const floats = view(s.lwi_floats(), 64 * 8, (b) => new Float64Array(b))
  const ptrs = view(s.lwi_ptrs(), 4096 * 8, (b) => new Float64Array(b))
  const lastError = () => {
    const p = asPtr(s.lwi_error())
    return p === null ? "unknown error" : new CString(p).toString()
  }
  if (s.lwi_init(opts.threads ?? 0, opts.keepFreedMemory === false ? 0 : 1) < 0) {
    throw new Error(`shim init failed: ${lastError()}`)
  }
  s.lwi_flush_denormals(opts.flushDenormals === false ? 0 : 1)

  const op = {} as Record<OpName, number>
  const names: Array<string> = []
  for (const name of opNames) {
    const i = s.lwi_op(Buffer.from(`${name}\0`))
    if (i < 0) throw new Error(`shim at ${path} has no op "${name}" (stale build?)`)
    op[name] = i
    names[i] = name
  }
  const opName = (i: number) => names[i] ?? `#${i}`
  const shapeBuf = new Int32Array(64)
  let tap: NativeTap | undefined

  return {
    op,
    ints,
    floats,
    ptrs,
    call: (i, a = null, b = null, c = null) => {
      tap?.before(i, a, b, c)
      const h = asPtr(s.lwi_call(i, a, b, c))
      if (h === null) throw new TorchOpError({ op: opName(i), reason: lastError() })
      tap?.after(i, a, b, c, h)
      return h
    },
    extra: () => {
      const h = asPtr(s.lwi_extra())
      if (h === null) throw new TorchOpError({ op: "extra", reason: "the last call left no further result" })
      tap?.extra(h)
      return h
    },
    resultDtype: () => dtypeOf[meta[0]!]!,
    resultShape: () => {
      const rank = meta[1]!
      const shape = new Array<number>(rank)
      for (let i = 0; i < rank; i++) shape[i] = meta[2 + i]!
      return shape
    },
    describe: (h) => void s.lwi_describe(h),
    fromValues: (values, shape, dtype) => {
      for (let i = 0; i < shape.length; i++) shapeBuf[i] = shape[i]!
      const h = asPtr(s.lwi_from(values.length > 0 ? values : null, dtypeCode[dtype], shapeBuf, shape.length, values.byteLength))
      if (h === null) throw new TorchOpError({ op: "write", reason: lastError() })
      tap?.fromValues(values, shape, dtype, h)
      return h
    },
    read: (h, out) => {
      if (s.lwi_read(h, out.length > 0 ? out : null, out.byteLength) !== 0) {
        throw new TorchOpError({ op: "read", reason: lastError() })
      }
    },
    free: (h) => {
      tap?.free(h)
      s.lwi_free(h)
    },
    live: () => s.lwi_live(),
    setThreads: (n) => s.lwi_set_threads(n),
    setConvAlgorithm: (a) => s.lwi_conv_algorithm(convAlgorithmCode[a]),
    setFlushDenormals: (on) => s.lwi_flush_denormals(on ? 1 : 0),
    callerCsr: () => s.lwi_caller_csr(),
    threads: () => s.lwi_get_threads(),
    opName,
    setTap: (t) => void (tap = t),
    buildProgram: (code, floats, consts) => {
      const cs = Float64Array.from(consts as ReadonlyArray<number>)
      const p = asPtr(s.lwi_program(code, code.length, floats.length > 0 ? floats : null, floats.length, cs.length > 0 ? cs : null, cs.length))
      if (p === null) throw new TorchOpError({ op: "program", reason: lastError() })
      return p
    },
    replay: (program, inputs, outputs) => {
      if (s.lwi_replay(program, inputs.length > 0 ? inputs : null, inputs.length, outputs) !== 0) {
        throw new TorchOpError({ op: "replay", reason: lastError() })
      }
    },
    freeProgram: (program) => s.lwi_program_free(program)
  }
}
