/**
 * A fair peer: both sides of a benchmark run under the same environment, and each says what it ran with.
 *
 * - `sameEnvironment(threads)` is the environment every lwi run and every PyTorch peer is started with: the thread
 *   counts of OpenMP and OpenBLAS, and glibc's malloc thresholds set to what lwi's torch shim sets with mallopt
 *   (shared/backend/torch/shim.cpp, lwi_init: keep freed blocks for reuse), so neither side has an allocator the
 *   other lacks.
 * - `ranWith(...)` is what one lwi process ran with, read from the process itself: the BLAS it mapped (the resolved
 *   libblas.so.3: Debian's reference BLAS and OpenBLAS share that name), malloc settings, threads, library versions
 *   and peak RSS. bench/peers/peer_env.py reports the same fields for the PyTorch side.
 * - `runSide(cmd, threads)` runs one side (the one subprocess runner of these benches) and returns its last JSON
 *   line, with the peak RSS the kernel counted for the child.
 */
import { existsSync, readFileSync, realpathSync } from "node:fs"
import { basename } from "node:path"
import { fileURLToPath } from "node:url"
import { owningPackage } from "../shared/engine/code.ts"

/**
 * One line when the kernel's autogroup scheduling is on: it shares the CPU between sessions (shells, ssh logins,
 * terminals) whatever their nice values, so a `nice -n 19` job started from another shell takes a whole core from a
 * benchmark — on 2 cores a 2-thread run then waits on its second thread (measured: a 5× slower ResNet18 epoch,
 * BENCHMARKS.md "`npm start`, end to end"). Null when off or not Linux.
 */
export const autogroupNote = (path = "/proc/sys/kernel/sched_autogroup_enabled"): string | null => {
  if (!existsSync(path)) return null
  return readFileSync(path, "utf8").trim() === "1"
    ? `scheduler: autogroup is on (${path} = 1): nice does not keep other sessions' jobs off this run; as root: echo 0 > ${path}`
    : null
}

/** glibc's mmap and trim thresholds as lwi's torch shim sets them (32 MiB, 1 GiB). */
export const MALLOC_THRESHOLDS = { MALLOC_MMAP_THRESHOLD_: String(32 << 20), MALLOC_TRIM_THRESHOLD_: String(1 << 30) } as const

/** The environment both sides start with: same threads for every pool, same allocator settings. */
export const sameEnvironment = (threads: number): Record<string, string> => ({
  OMP_NUM_THREADS: String(threads),
  OPENBLAS_NUM_THREADS: String(threads),
  MKL_NUM_THREADS: String(threads),
  ...MALLOC_THRESHOLDS
})

/** What one side ran with; the same fields in bench/peers/peer_env.py. */
export type RanWith = {
  readonly blas: string
  readonly malloc: string
  readonly threads: number
  readonly versions: Record<string, string>
  readonly peakRssMiB: number
}

const mapped = (pattern: RegExp): string[] => {
  if (!existsSync("/proc/self/maps")) return []
  const files = new Set<string>()
  for (const line of readFileSync("/proc/self/maps", "utf8").split("\n")) {
    const at = line.indexOf("/")
    if (at >= 0 && pattern.test(basename(line.slice(at)))) files.add(line.slice(at).trim())
  }
  return [...files].flatMap((f) => {
    try {
      return [realpathSync(f)]
    } catch {
      return []
    }
  })
}

/** The BLAS libraries this process mapped, resolved (e.g. .../openblas-pthread/libblas.so.3), or "none". */
export const mappedBlas = (): string => [...new Set(mapped(/blas/i))].sort().join(", ") || "none"

/** The process's peak resident set (VmHWM), MiB; NaN where /proc is absent. */
export const peakRssMiB = (): number => {
  const m = existsSync("/proc/self/status") ? /^VmHWM:\s+(\d+) kB/m.exec(readFileSync("/proc/self/status", "utf8")) : null
  return m ? Number(m[1]) / 1024 : Number.NaN
}

/** MALLOC_* / GLIBC_TUNABLES from the environment, plus what lwi itself sets on the torch backend. */
export const mallocSettings = (backend: string): string => {
  const env = Object.entries(process.env)
    .filter(([k]) => k.startsWith("MALLOC_") || k === "GLIBC_TUNABLES")
    .map(([k, v]) => `${k}=${v}`)
    .sort()
  const own = backend === "torch" ? ["mallopt M_MMAP_THRESHOLD=32 MiB, M_TRIM_THRESHOLD=1 GiB (torch shim)"] : []
  return [...env, ...own].join("; ") || "glibc defaults"
}

const version = (pkg: string): string => owningPackage(fileURLToPath(import.meta.resolve(pkg)))?.version ?? "unknown"

/** What this lwi process ran with (call after the backend is set up and the work is done). */
export const ranWith = (backend: string, threads: number): RanWith => {
  const libtorch = mapped(/^libtorch_cpu/).map((p) => basename(p).replace(/^libtorch_cpu\.so\.?/, ""))[0]
  return {
    blas: mappedBlas(),
    malloc: mallocSettings(backend),
    threads,
    versions: { bun: Bun.version, tfjs: version("@tensorflow/tfjs-core"), ...(libtorch !== undefined ? { libtorch: libtorch || "unversioned" } : {}) },
    peakRssMiB: peakRssMiB()
  }
}

/** One line for a table's notes: "BLAS …; malloc …; 1 thread(s); versions …; peak RSS … MiB". */
export const describeRanWith = (r: RanWith | undefined): string =>
  r === undefined
    ? "not reported"
    : `BLAS ${r.blas}; malloc ${r.malloc}; ${r.threads} thread(s); ${Object.entries(r.versions).map(([k, v]) => `${k} ${v}`).join(", ")}`

/** One side's process, started under `sameEnvironment(threads)`: exit code, output, wall seconds, peak RSS. */
export const spawnSide = async (cmd: string[], threads: number, env: Record<string, string> = {}) => {
  const t0 = performance.now()
  const p = Bun.spawn(cmd, { stdout: "pipe", stderr: "pipe", env: { ...process.env, ...sameEnvironment(threads), ...env } })
  const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited])
  // Bun reports maxRSS in bytes on Linux: the child's peak, as the kernel counted it.
  return { code, stdout, stderr, seconds: (performance.now() - t0) / 1000, peakRssMiB: (p.resourceUsage()?.maxRSS ?? Number.NaN) / 2 ** 20 }
}

export type SideResult<L> = (L & { childPeakRssMiB: number; wallSeconds: number }) | { error: string }

/** Runs one side under `sameEnvironment(threads)`; its last stdout line is JSON. */
export const runSide = async <L extends object>(cmd: string[], threads: number, env: Record<string, string> = {}): Promise<SideResult<L>> => {
  const r = await spawnSide(cmd, threads, env)
  if (r.code !== 0) return { error: (r.stderr.trim().split("\n").at(-1) ?? `exit ${r.code}`).slice(0, 200) }
  const last = r.stdout.trim().split("\n").at(-1) ?? ""
  try {
    return { ...(JSON.parse(last) as L), childPeakRssMiB: r.peakRssMiB, wallSeconds: r.seconds }
  } catch {
    return { error: `no JSON on the last line of ${cmd.slice(0, 3).join(" ")}: ${last.slice(0, 120)}` }
  }
}

export const median = (xs: ReadonlyArray<number>) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length === 0 ? Number.NaN : s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
}
