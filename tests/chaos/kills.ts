/**
 * Kills: SIGKILL a small pipeline at seeded random moments, re-run the same command (same --cache, same --out) until
 * it completes, and compare its results with an uninterrupted run's in a separate cache.
 *
 * Kill moments come from the uninterrupted run's own timeline: a random time over the whole run, or a random delay
 * inside a phase, counted from the line that starts it in *this* run ("▶ prepare-dataset", "▶ learn-layer-init",
 * "▶ train"), or the instant a `*.tmp` file appears in the cache (an artifact or entry being written). Which phase a
 * kill hit is read from the last line the process printed before it, or "write" when it left a `*.tmp` behind.
 */
import { mkdir } from "node:fs/promises"
import { join } from "node:path"
import { createRng, type Rng } from "../../shared/random.ts"
import { auditCache, differences, readResults, stable } from "./compare.ts"
import { type KillAt, type Line, listFiles, runProcess } from "./proc.ts"

export type Phase = "start" | "data" | "lw" | "train" | "write"
export const PHASES: ReadonlyArray<Phase> = ["start", "data", "lw", "train", "write"]

export interface KillOptions {
  /** The pipeline command after `bun`, without --cache / --out. */
  readonly command: ReadonlyArray<string>
  readonly kills: number
  readonly seed: number
  readonly workDir: string
  readonly log: (line: string) => void
  /** Per run; a run that takes longer is a failure (a hang). */
  readonly timeoutMs: number
}

export interface KillRecord {
  readonly chain: number
  readonly plan: string
  readonly phase: Phase
  readonly lastLine: string
  readonly atMs: number
  survived?: boolean
}

export interface KillReport {
  readonly kills: ReadonlyArray<KillRecord>
  readonly failures: ReadonlyArray<string>
}

/** Step durations of a run, from its "▶ name [key]" and "✓ name [key] ..." lines. */
const stepDurations = (lines: ReadonlyArray<Line>): Map<string, number[]> => {
  const started = new Map<string, number>()
  const out = new Map<string, number[]>()
  for (const { t, text } of lines) {
    const m = /^([▶✓]) ([\w-]+) \[(\w+)\]/.exec(text)
    if (!m) continue
    if (m[1] === "▶") started.set(m[3]!, t)
    else if (started.has(m[3]!)) out.set(m[2]!, [...(out.get(m[2]!) ?? []), t - started.get(m[3]!)!])
  }
  return out
}

export const phaseOf = (line: string | undefined): Phase => {
  if (line === undefined || /^backend:/.test(line)) return "start"
  if (/^results:/.test(line)) return "write"
  if (/^data:|prepare-dataset|sample-minibatch|not found locally/.test(line)) return "data"
  if (/init-weights|learn-layer-init|freeze/.test(line)) return "lw"
  if (/train|evaluate|resuming/.test(line)) return "train"
  return "start"
}

const KINDS = ["time", "data", "lw", "train", "write"] as const

/** A seeded kill plan: what to wait for and how long after it. */
const planKill = (kind: (typeof KINDS)[number], rng: Rng, ref: { ms: number; steps: Map<string, number[]> }, cache: string): KillAt => {
  const longest = (step: string) => Math.max(20, ...(ref.steps.get(step) ?? [100]))
  switch (kind) {
    case "time":
      return { kind: "after", ms: Math.round(rng.next() * ref.ms) }
    case "data":
      return { kind: "line", match: /^▶ prepare-dataset/, occurrence: 1, ms: Math.round(rng.next() * longest("prepare-dataset")) }
    case "lw":
      return { kind: "line", match: /^▶ learn-layer-init/, occurrence: 1 + rng.int(2), ms: Math.round(rng.next() * longest("learn-layer-init")) }
    case "train":
      return { kind: "line", match: /^▶ train/, occurrence: 1, ms: Math.round(rng.next() * longest("train")) }
    case "write":
      // Artifacts and entries only: the run manifest and claims are written at start-up, before any step.
      return { kind: "file", dir: cache, match: /^(blobs|steps|checkpoints)\/.*\.tmp$/, occurrence: 1 + rng.int(4) }
  }
}

const describePlan = (k: KillAt): string =>
  k.kind === "after"
    ? `${k.ms} ms after spawn`
    : k.kind === "line"
      ? `${k.ms} ms after line "${k.match.source.replace(/^\^/, "").replace("\\u25B6", "▶")}" #${k.occurrence}`
      : `when artifact *.tmp #${k.occurrence} appears in the cache`

const tail = (lines: ReadonlyArray<Line>, n = 6) => lines.slice(-n).map((l) => `    | ${l.text}`).join("\n")

export interface Reference {
  readonly cache: string
  readonly out: string
  readonly lines: ReadonlyArray<Line>
  readonly ms: number
  /** The results without what may differ between honest runs (compare.ts `stable`). */
  readonly expected: unknown
}

/** The uninterrupted run everything is compared with, in a cache of its own. */
export const runReference = async (command: ReadonlyArray<string>, workDir: string, timeoutMs: number): Promise<Reference> => {
  const cache = join(workDir, "reference-cache")
  const out = join(workDir, "reference-out")
  const run = await runProcess({ args: [...command, "--cache", cache, "--out", out], timeoutMs })
  if (run.exitCode !== 0) throw new Error(`the uninterrupted reference run failed (exit ${run.exitCode}):\n${tail(run.lines, 12)}`)
  return { cache, out, lines: run.lines, ms: run.ms, expected: stable(await readResults(out)) }
}

export const runKills = async (o: KillOptions, ref: Reference): Promise<KillReport> => {
  const rng = createRng(o.seed)
  const failures: string[] = []
  const args = (cache: string, out: string) => [...o.command, "--cache", cache, "--out", out]
  const expected = ref.expected
  const timeline = { ms: ref.ms, steps: stepDurations(ref.lines) }

  const kills: KillRecord[] = []
  let chain = 0
  while (kills.length < o.kills || kills.some((k) => k.survived === undefined)) {
    chain++
    const cache = join(o.workDir, `chain-${chain}-cache`)
    const out = join(o.workDir, `chain-${chain}-out`)
    await mkdir(cache, { recursive: true })
    const mine: KillRecord[] = []
    let verdict: boolean | undefined
    for (let attempt = 1; verdict === undefined; attempt++) {
      const wantKill = kills.length < o.kills && attempt <= 40
      const plan = wantKill ? planKill(KINDS[rng.int(KINDS.length)]!, rng, timeline, cache) : undefined
      const tmpBefore = new Set((await listFiles(cache)).filter((f) => f.endsWith(".tmp")))
      const run = await runProcess({ args: args(cache, out), ...(plan ? { kill: plan } : {}), timeoutMs: o.timeoutMs })
      if (run.killed) {
        const tmpAfter = (await listFiles(cache)).filter((f) => f.endsWith(".tmp") && !tmpBefore.has(f))
        // Nothing prints after SIGKILL: every line that arrived was printed before the kill, even if read after it.
        const lastLine = run.lines.at(-1)?.text ?? "(nothing printed yet)"
        const record: KillRecord = {
          chain,
          plan: describePlan(plan!),
          phase: tmpAfter.length > 0 ? "write" : phaseOf(lastLine === "(nothing printed yet)" ? undefined : lastLine),
          lastLine,
          atMs: Math.round(run.killedAt!)
        }
        mine.push(record)
        kills.push(record)
        o.log(`  kill ${kills.length} (chain ${chain}): ${record.plan} → ${record.phase} [${lastLine}]${tmpAfter.length ? ` left ${tmpAfter.join(", ")}` : ""}`)
        continue
      }
      if (run.exitCode !== 0) {
        verdict = false
        failures.push(
          `chain ${chain}: the re-run after kill ${kills.length} (${mine.at(-1)?.plan ?? "none"}) exited ${run.timedOut ? "by timeout" : run.exitCode}:\n${tail(run.lines)}`
        )
        break
      }
      const diff = differences(expected, stable(await readResults(out)))
      const audit = await auditCache(cache)
      if (diff.length > 0) failures.push(`chain ${chain}: results differ from the uninterrupted run:\n    ${diff.join("\n    ")}`)
      if (audit.bad.length > 0) failures.push(`chain ${chain}: cache holds bad files after completing: ${audit.bad.join("; ")}`)
      verdict = diff.length === 0 && audit.bad.length === 0
      o.log(`  chain ${chain}: completed after ${mine.length} kill(s); results ${diff.length === 0 ? "equal" : "DIFFER"}; ${audit.tmp.length} stale *.tmp file(s) left in the cache`)
    }
    for (const k of mine) k.survived = verdict === true
  }
  return { kills, failures }
}

export const phaseCounts = (kills: ReadonlyArray<KillRecord>): string =>
  PHASES.map((p) => [p, kills.filter((k) => k.phase === p).length] as const)
    .filter(([, n]) => n > 0)
    .map(([p, n]) => `${p} ${n}`)
    .join(", ")
