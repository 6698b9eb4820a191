/**
 * Pick the tfjs backend for a run: the fastest one that loads here and computes a tiny smoke op correctly.
 *
 * Order when nothing is preferred:
 *   tensorflow  libtensorflow through @tensorflow/tfjs-node-gpu, else @tensorflow/tfjs-node (optional packages;
 *               absent on an offline install, so imported dynamically and skipped when missing)
 *   torch       libtorch (ATen) through lwi's bun:ffi shim, when libtorch and g++ are on the machine
 *   wasm        XNNPACK in WebAssembly, plus the training kernels of ./wasm-kernels.ts
 *   cpu         plain JavaScript, always there: LeNet trains at ≈ 8 img/s (wasm: ≈ 2,500)
 * `prefer` (the caller resolves `--backend` / `LWI_BACKEND`) forces one and fails loudly instead of falling back.
 */
import * as tf from "@tensorflow/tfjs"
import { existsSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { BadConfig } from "../errors.ts"
import { BackendUnavailable, type BackendAttempt } from "./errors.ts"
import { registerWasmKernels } from "./wasm-kernels.ts"

/** Every name `prefer` accepts, fastest first: also the order tried when nothing is preferred. */
export const backendNames = ["tensorflow", "torch", "wasm", "cpu"] as const
export type BackendName = (typeof backendNames)[number]

export interface SelectBackendOptions {
  /** Force this backend; an unknown name is a BadConfig, a backend that fails is a BackendUnavailable. */
  readonly prefer?: string
  /** Intra-op threads where the backend can use them (tensorflow only, see `loadWasm` for why not wasm). */
  readonly threads?: number
  /** Receives one line naming the chosen backend. */
  readonly log?: (line: string) => void
}

export interface BackendChoice {
  readonly name: BackendName
  readonly tried: Array<BackendAttempt>
}

/** A backend that can be tried: `load` makes it the active tfjs backend or throws why it cannot. */
export interface BackendCandidate {
  readonly name: BackendName
  /** Returns a short description for the log line ("XNNPACK+SIMD, 1 thread"). */
  readonly load: (threads: number | undefined) => Promise<string>
}

export const selectBackend = (opts: SelectBackendOptions = {}): Promise<BackendChoice> =>
  selectFrom(defaultCandidates, opts)

/** `selectBackend` over an explicit candidate list (tests pass fakes). */
export const selectFrom = async (
  candidates: ReadonlyArray<BackendCandidate>,
  opts: SelectBackendOptions = {}
): Promise<BackendChoice> => {
  const log = opts.log ?? (() => {})
  const allowed = candidates.map((c) => c.name)
  const forced = opts.prefer === undefined || opts.prefer === "" ? undefined : opts.prefer.trim().toLowerCase()
  if (forced !== undefined && !allowed.includes(forced as BackendName)) {
    throw new BadConfig({ field: "backend", value: opts.prefer ?? "", expected: `one of ${allowed.join(", ")}` })
  }
  const order = forced === undefined ? candidates : candidates.filter((c) => c.name === forced)
  const tried: Array<BackendAttempt> = []
  for (const candidate of order) {
    try {
      const detail = await candidate.load(opts.threads)
      smokeTest()
      tried.push({ name: candidate.name, ok: true })
      const skipped = tried.filter((t) => !t.ok).map((t) => `${t.name}: ${t.reason}`)
      log(`backend: ${candidate.name} (${detail})${skipped.length > 0 ? `; skipped ${skipped.join("; ")}` : ""}`)
      return { name: candidate.name, tried }
    } catch (e) {
      tried.push({ name: candidate.name, ok: false, reason: describe(e) })
    }
  }
  throw new BackendUnavailable({
    backend: forced ?? "any",
    reason: forced === undefined ? "no backend loaded" : tried[0]?.reason ?? "it failed to load",
    tried,
    ...(forced === "tensorflow"
      ? { fix: "install @tensorflow/tfjs-node (or -gpu) with network access, or choose --backend wasm" }
      : {})
  })
}

/** conv → matmul → gradient of the filter, checked against values worked out by hand; throws on a mismatch. */
const smokeTest = (): void => {
  const got = tf.tidy(() => {
    const x = tf.tensor4d([1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 3, 3, 1])
    const f = tf.tensor4d([1, 0, 0, 1], [2, 2, 1, 1])
    // y = conv(x, f) = [[1+5, 2+6], [4+8, 5+9]] = [6, 8, 12, 14]; d(Σy)/df = sums of the 2×2 shifted windows.
    const g = tf.grad((w) => tf.sum(tf.conv2d(x, w as tf.Tensor4D, 1, "valid")))(f)
    const y = tf.matMul(tf.reshape(tf.conv2d(x, f, 1, "valid"), [1, 4]), tf.ones([4, 1]))
    return [...y.dataSync(), ...g.dataSync()]
  })
  const want = [40, 12, 16, 24, 28]
  if (got.some((v, i) => Math.abs(v - want[i]!) > 1e-4)) {
    throw new Error(`smoke op gave [${got.join(", ")}], expected [${want.join(", ")}]`)
  }
}

const describe = (e: unknown): string => {
  const text = e instanceof Error ? e.message : String(e)
  return text.split("\n")[0]!.slice(0, 200)
}

const isNotInstalled = (e: unknown): boolean => {
  const code = (e as { code?: unknown } | null)?.code
  return code === "ERR_MODULE_NOT_FOUND" || code === "MODULE_NOT_FOUND" ||
    /Cannot find (package|module)/.test(describe(e))
}

const activate = async (name: BackendName): Promise<void> => {
  if (!(await tf.setBackend(name))) throw new Error(`tf.setBackend("${name}") failed (see the warning above)`)
}

const loadTensorflow = async (threads: number | undefined): Promise<string> => {
  // libtensorflow reads its thread count from the environment when it loads, so set it before the import.
  if (threads !== undefined && process.env.TF_NUM_INTRAOP_THREADS === undefined) {
    process.env.TF_NUM_INTRAOP_THREADS = String(threads)
  }
  const failures: Array<string> = []
  for (const pkg of ["@tensorflow/tfjs-node-gpu", "@tensorflow/tfjs-node"]) {
    try {
      await import(/* optional dependency */ pkg)
      await activate("tensorflow")
      return `${pkg}, intra-op threads ${process.env.TF_NUM_INTRAOP_THREADS ?? "default"}`
    } catch (e) {
      failures.push(`${pkg} ${isNotInstalled(e) ? "not installed" : `failed: ${describe(e)}`}`)
    }
  }
  throw new Error(failures.join("; "))
}

/**
 * The folder holding tfjs-backend-wasm's .wasm binaries, found from the package's own entry point so it works from
 * any working directory. Emscripten's Node path reads them with fs, so a plain path (with a trailing slash) works.
 */
export const wasmBinaryDir = (): string => {
  const entry = fileURLToPath(import.meta.resolve("@tensorflow/tfjs-backend-wasm"))
  const dir = dirname(entry)
  if (!existsSync(join(dir, "tfjs-backend-wasm-simd.wasm"))) {
    throw new Error(`no tfjs-backend-wasm-simd.wasm next to ${entry}; reinstall @tensorflow/tfjs-backend-wasm`)
  }
  return `${dir}/`
}

/**
 * Threads: single-threaded, always. tfjs-backend-wasm turns its threaded build off under Node/Bun
 * (`WASM_HAS_MULTITHREAD_SUPPORT` is false when IS_NODE; tfjs issue #3830), and forcing the flag on fails under
 * Bun: Emscripten starts its pthread pool with `new Worker("blob:...")`, which Bun's node:worker_threads rejects
 * ("The worker script or module filename must be an absolute path..."). A trial that got past that (worker and
 * main script written to files, the rollup helpers the worker lacks prepended, workers unref'd so the process can
 * exit) initialized, but `getThreadsCount()` stayed 1 and a 32×14×14×6 → 16 conv ran 5–10× slower than the
 * single-threaded SIMD build. `threads` still goes to `setThreadsCount` (ignored by the single-threaded build, used
 * if a later tfjs runs threads under Node) and the log line says when it was not honored.
 */
const loadWasm = async (threads: number | undefined): Promise<string> => {
  const wasm = await import("@tensorflow/tfjs-backend-wasm")
  registerWasmKernels()
  if (!("wasm" in tf.engine().registry)) {
    // Paths and thread count are read when the backend initializes; set them only before that. (Not via
    // tf.findBackend: it starts the initialization it reports on.)
    wasm.setWasmPaths(wasmBinaryDir())
    if (threads !== undefined) wasm.setThreadsCount(threads)
  }
  await activate("wasm")
  const simd = await tf.env().getAsync("WASM_HAS_SIMD_SUPPORT")
  const n = wasm.getThreadsCount()
  return `XNNPACK${simd ? "+SIMD" : ""}, ${n} thread${n === 1 ? "" : "s"}${
    threads !== undefined && threads !== n ? ` (${threads} asked; the threaded build does not run under Node/Bun)` : ""
  }`
}

/**
 * libtorch (ATen) through lwi's bun:ffi shim (shared/backend/torch): measured 1.3–1.6× PyTorch on LeNet and
 * 0.6–1.0× on ResNet18 here, against wasm's ~0.2× on ResNet18 (BENCHMARKS.md, shared/backend/torch/README.md).
 * Needs libtorch + g++ (scripts/setup.sh installs them where apt is at hand); otherwise one line says why.
 */
const loadTorch = async (threads: number | undefined): Promise<string> => {
  const { registerTorchBackend } = await import("./torch/backend.ts")
  const r = await registerTorchBackend(threads === undefined ? {} : { threads })
  if (!r.ok) throw new Error(r.reason)
  await activate("torch")
  return `libtorch via bun:ffi, ${threads ?? "ATen's default"} thread${threads === 1 ? "" : "s"}`
}

const loadCpu = async (): Promise<string> => {
  await activate("cpu")
  return "pure JavaScript, 1 thread"
}

export const defaultCandidates: ReadonlyArray<BackendCandidate> = [
  { name: "tensorflow", load: loadTensorflow },
  { name: "torch", load: loadTorch },
  { name: "wasm", load: loadWasm },
  { name: "cpu", load: loadCpu }
]
