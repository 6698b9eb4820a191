/**
 * The tensor environment: everything outside a step's own code that can change the numbers it computes. It goes
 * into the cache key of every step whose code uses tensors (shared/engine/runner.ts) and into results.json, so a
 * kernel change, a libtorch or BLAS swap or a tfjs upgrade recomputes results instead of serving old ones.
 *
 *   backend   the active tfjs backend's name
 *   tfjs      the version of @tensorflow/tfjs-core (all tfjs packages are pinned together)
 *   kernels   the code hash (shared/engine/code.ts) of the module that registers the backend's kernels, for the
 *             backends whose kernels are lwi's own code (torch: shared/backend/torch/backend.ts and everything it
 *             imports; wasm: shared/backend/wasm-kernels.ts)
 *   native    the native libraries the process has mapped that compute tensors (lwi's shim, libtorch, c10, the BLAS
 *             and OpenMP runtimes, XNNPACK...), each as file name + size, and the shim's content hash: installing
 *             OpenBLAS in place of the reference BLAS changes float rounding in dense layers, and this sees it
 *   isa       the widest x86 vector extension the CPU has (kernels dispatch on it, so it can change rounding)
 *   threads   the intra-op thread count: only when it changes results (measured for torch: see
 *             `threadsChangeResults` below and tests/backend-torch/threads.test.ts)
 */
import * as tf from "@tensorflow/tfjs"
import { existsSync, readFileSync, realpathSync, statSync } from "node:fs"
import { basename } from "node:path"
import { fileURLToPath } from "node:url"
import { makeCodeHasher, owningPackage } from "../engine/code.ts"
import { sha256Hex } from "../engine/hash.ts"

export type TensorEnvironment = {
  readonly backend: string
  readonly tfjs: string
  readonly kernels: string | null
  readonly native: ReadonlyArray<string>
  readonly shim: string | null
  readonly isa: string
  readonly threads?: number
}

/**
 * Backends for which the intra-op thread count changes results bit for bit. Measured on torch (libtorch 1.13 +
 * OpenBLAS, 1 vs 2 threads): see tests/backend-torch/threads.test.ts, which fails when this stops being true.
 */
export const threadsChangeResults: ReadonlySet<string> = new Set(["torch"])

const kernelModules: Record<string, string> = {
  torch: "./torch/backend.ts",
  wasm: "./wasm-kernels.ts"
}

/** Native libraries that compute tensors, as they appear in /proc/self/maps. */
const nativePattern = /(libshim|libtorch|libc10|blas|lapack|gomp|omp|dnnl|mkl|xnnpack|tensorflow)/i

const packageVersion = (name: string): string => owningPackage(fileURLToPath(import.meta.resolve(name)))?.version ?? "unknown"

/** Mapped native libraries (Linux): resolved file name and size, sorted; [] where /proc is absent. */
const mappedLibraries = (): { libraries: string[]; shim: string | null } => {
  if (!existsSync("/proc/self/maps")) return { libraries: [], shim: null }
  const paths = new Set<string>()
  for (const line of readFileSync("/proc/self/maps", "utf8").split("\n")) {
    const file = line.slice(line.indexOf("/"))
    if (line.includes("/") && file.includes(".so") && nativePattern.test(basename(file))) paths.add(file.trim())
  }
  let shim: string | null = null
  const libraries = [...paths].flatMap((p) => {
    try {
      const real = realpathSync(p)
      if (basename(real) === "libshim.so") shim = sha256Hex(readFileSync(real))
      return [`${basename(real)}:${statSync(real).size}`]
    } catch {
      return [] // unmapped since (deleted file): nothing to fingerprint
    }
  })
  return { libraries: [...new Set(libraries)].sort(), shim }
}

const isaLevel = (): string => {
  if (!existsSync("/proc/cpuinfo")) return process.arch
  const flags = /^flags\s*:(.*)$/m.exec(readFileSync("/proc/cpuinfo", "utf8"))?.[1]?.split(" ") ?? []
  for (const level of ["avx512f", "avx2", "avx", "sse4_2"]) if (flags.includes(level)) return `${process.arch}-${level}`
  return process.arch
}

/** The environment of the active backend; call after the backend is set up (shared/backend/setup.ts). */
export const tensorEnvironment = (threads: number | undefined): TensorEnvironment => {
  const backend = tf.getBackend()
  const module = kernelModules[backend]
  const { libraries, shim } = mappedLibraries()
  return {
    backend,
    tfjs: packageVersion("@tensorflow/tfjs-core"),
    kernels: module ? makeCodeHasher().fingerprint(new URL(module, import.meta.url).href).hash : null,
    native: libraries,
    shim,
    isa: isaLevel(),
    ...(threadsChangeResults.has(backend) ? { threads: threads ?? 0 } : {})
  }
}
