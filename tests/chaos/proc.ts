/**
 * Running lwi's CLIs as real processes for the chaos harness: every line they print is time-stamped (ms since
 * spawn), a kill can be armed on a line pattern (+ a delay), on a plain delay, or on the moment a file appears in
 * a watched directory (e.g. the first `*.tmp` of an artifact being written), and the result says whether the kill
 * landed and which line was the last one seen before it.
 */
import { type FSWatcher, watch } from "node:fs"
import { readdir } from "node:fs/promises"
import { join, resolve } from "node:path"

/** The repository root (tests/chaos/ is two levels down). */
export const repoRoot = resolve(import.meta.dir, "../..")

export interface Line {
  readonly t: number
  readonly text: string
}

/** When to SIGKILL the process; omitted means let it run to the end (or to `timeoutMs`). */
export type KillAt =
  | { readonly kind: "after"; readonly ms: number }
  | { readonly kind: "line"; readonly match: RegExp; readonly occurrence: number; readonly ms: number }
  | { readonly kind: "file"; readonly dir: string; readonly match: RegExp; readonly occurrence: number }

export interface RunSpec {
  /** Arguments after `bun`, e.g. ["run", "pipelines/x.ts", "--quick"]. */
  readonly args: ReadonlyArray<string>
  /** Wrap the command (e.g. ["bash", "-c", "ulimit -f 64; exec \"$@\"", "sh"]); the bun command is appended. */
  readonly wrap?: ReadonlyArray<string>
  readonly kill?: KillAt
  /** Hard limit: SIGKILL after this long and report `timedOut`. */
  readonly timeoutMs?: number
  readonly env?: Readonly<Record<string, string>>
}

export interface RunOutcome {
  readonly exitCode: number | null
  readonly killed: boolean
  readonly timedOut: boolean
  /** ms since spawn when the kill was sent. */
  readonly killedAt?: number
  /** stdout and stderr lines, interleaved in arrival order. */
  readonly lines: ReadonlyArray<Line>
  readonly ms: number
}

export const bunCommand = (args: ReadonlyArray<string>): string[] => [process.execPath, ...args]

/** Spawns the command in the repository root and resolves when it has exited. */
export const runProcess = async (spec: RunSpec): Promise<RunOutcome> => {
  const cmd = [...(spec.wrap ?? []), ...bunCommand(spec.args)]
  const t0 = performance.now()
  const now = () => performance.now() - t0
  const proc = Bun.spawn(cmd, {
    cwd: repoRoot,
    stdout: "pipe",
    stderr: "pipe",
    stdin: "ignore",
    env: { ...process.env, ...spec.env, NO_COLOR: "1" }
  })
  const lines: Line[] = []
  let killedAt: number | undefined
  let timedOut = false
  const timers: ReturnType<typeof setTimeout>[] = []
  let watcher: FSWatcher | undefined
  const kill = () => {
    if (killedAt !== undefined || proc.exitCode !== null) return
    killedAt = now()
    proc.kill("SIGKILL")
  }
  const k = spec.kill
  if (k?.kind === "after") timers.push(setTimeout(kill, k.ms))
  if (k?.kind === "file") {
    let seen = 0
    watcher = watch(k.dir, { recursive: true }, (_event, name) => {
      if (name && k.match.test(String(name)) && ++seen === k.occurrence) kill()
    })
  }
  if (spec.timeoutMs) {
    timers.push(
      setTimeout(() => {
        if (killedAt === undefined && proc.exitCode === null) {
          timedOut = true
          kill()
        }
      }, spec.timeoutMs)
    )
  }
  let matched = 0
  const onLine = (text: string) => {
    lines.push({ t: now(), text })
    if (k?.kind === "line" && k.match.test(text) && ++matched === k.occurrence) {
      if (k.ms <= 0) kill()
      else timers.push(setTimeout(kill, k.ms))
    }
  }
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    const decoder = new TextDecoder()
    let rest = ""
    for await (const chunk of stream) {
      rest += decoder.decode(chunk, { stream: true })
      let nl: number
      while ((nl = rest.indexOf("\n")) >= 0) {
        onLine(rest.slice(0, nl).replace(/\r/g, ""))
        rest = rest.slice(nl + 1)
      }
    }
    if (rest.length > 0) onLine(rest)
  }
  await Promise.all([pump(proc.stdout), pump(proc.stderr), proc.exited])
  for (const t of timers) clearTimeout(t)
  watcher?.close()
  return {
    exitCode: proc.exitCode,
    killed: killedAt !== undefined && !timedOut,
    timedOut,
    ...(killedAt !== undefined ? { killedAt } : {}),
    lines,
    ms: now()
  }
}

/** All files under `dir` (relative paths), recursively; [] when it does not exist or is not a directory. */
export const listFiles = async (dir: string): Promise<string[]> => {
  try {
    const entries = await readdir(dir, { recursive: true, withFileTypes: true })
    return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name).slice(dir.length + 1))
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    if (code === "ENOENT" || code === "ENOTDIR") return []
    throw e
  }
}
