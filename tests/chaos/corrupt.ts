/**
 * Corruption: damage one file of a finished cache (a blob, a step entry, a checkpoint) by truncating it, flipping a
 * bit, or leaving it half-written (the file gone and a `*.tmp` holding half of it, as a kill mid-write leaves it),
 * re-run the same command, and check that the damage is reported once, recomputed, and changes no result.
 *
 * A finished cache holds no checkpoints (a finished step deletes its own), so the checkpoint cases start from a copy
 * whose last `train` entry is removed and whose re-run is killed the moment train's first checkpoint lands.
 */
import { cp, readFile, rm, stat, writeFile } from "node:fs/promises"
import { basename, join } from "node:path"
import { createRng } from "../../shared/random.ts"
import { auditCache, differences, entriesByStep, readResults, stable } from "./compare.ts"
import { type Line, listFiles, runProcess } from "./proc.ts"

export interface CorruptOptions {
  readonly command: ReadonlyArray<string>
  /** A cache a run of `command` finished in, and that run's results. */
  readonly cleanCache: string
  readonly expected: unknown
  readonly workDir: string
  readonly seed: number
  readonly log: (line: string) => void
  readonly timeoutMs: number
}

export interface CorruptCase {
  readonly name: string
  readonly ok: boolean
  readonly problems: ReadonlyArray<string>
}

type Damage = "truncate" | "bitflip" | "half-written"

/** Damages `file` in place. */
const damage = async (file: string, how: Damage, rng: () => number): Promise<void> => {
  const bytes = new Uint8Array(await readFile(file))
  if (how === "truncate") return writeFile(file, bytes.subarray(0, Math.floor(bytes.length / 2)))
  if (how === "bitflip") {
    // Inside the middle half: past any header, so the damage is in the data, not only in framing.
    const at = Math.floor(bytes.length / 4 + rng() * (bytes.length / 2))
    bytes[at] = bytes[at]! ^ (1 << Math.floor(rng() * 8))
    return writeFile(file, bytes)
  }
  await writeFile(`${file}.4242.deadbeef.tmp`, bytes.subarray(0, Math.floor(bytes.length / 2)))
  await rm(file)
}

const idOf = (file: string) => basename(file).replace(/\.json$/, "")

const tail = (lines: ReadonlyArray<Line>, n = 6) => lines.slice(-n).map((l) => `    | ${l.text}`).join("\n")

/** The largest blob a step's entry names (its main artifact). */
const blobOf = async (cache: string, entry: string): Promise<string> => {
  const text = await readFile(join(cache, entry), "utf8")
  const hashes = [...new Set(text.match(/[0-9a-f]{64}/g) ?? [])]
  const sized = await Promise.all(
    hashes.map(async (h) => ({ h, size: (await stat(join(cache, "blobs", h.slice(0, 2), h)).catch(() => undefined))?.size ?? -1 }))
  )
  const best = sized.filter((s) => s.size >= 0).sort((a, b) => b.size - a.size)[0]
  if (!best) throw new Error(`${entry} names no blob present in ${cache}`)
  return join("blobs", best.h.slice(0, 2), best.h)
}

export const runCorruptions = async (o: CorruptOptions): Promise<ReadonlyArray<CorruptCase>> => {
  const rng = createRng(o.seed).next
  const args = (cache: string, out: string) => [...o.command, "--cache", cache, "--out", out]
  const steps = await entriesByStep(o.cleanCache, "steps")
  const entry = (step: string, i = 0) => {
    const files = steps.get(step) ?? []
    if (files.length === 0) throw new Error(`no ${step} entry in ${o.cleanCache}`)
    return files[Math.min(i, files.length - 1)]!
  }

  // A cache with a checkpoint: the last train entry removed, its re-run killed when train saves its first checkpoint.
  const ckptCache = join(o.workDir, "with-checkpoint")
  await cp(o.cleanCache, ckptCache, { recursive: true })
  const trains = steps.get("train") ?? []
  await rm(join(ckptCache, trains.at(-1)!))
  const cut = await runProcess({
    args: args(ckptCache, join(o.workDir, "with-checkpoint-out")),
    kill: { kind: "file", dir: ckptCache, match: /^checkpoints\/[0-9a-f]+\.json$/, occurrence: 1 },
    timeoutMs: o.timeoutMs
  })
  const checkpoints = (await listFiles(join(ckptCache, "checkpoints"))).filter((f) => f.endsWith(".json"))
  const checkpoint = checkpoints[0] ? join("checkpoints", checkpoints[0]) : undefined
  if (!cut.killed || !checkpoint) o.log(`corruptions: could not make a cache with a checkpoint (killed: ${cut.killed}); checkpoint cases fail`)

  const targets: Array<{ name: string; base: string; file: () => Promise<string | undefined>; how: Damage }> = [
    { name: "dataset blob truncated", base: o.cleanCache, how: "truncate", file: () => blobOf(o.cleanCache, entry("prepare-dataset")) },
    { name: "dataset blob bit-flipped", base: o.cleanCache, how: "bitflip", file: () => blobOf(o.cleanCache, entry("prepare-dataset")) },
    { name: "weights blob half-written", base: o.cleanCache, how: "half-written", file: () => blobOf(o.cleanCache, entry("learn-layer-init", 1)) },
    { name: "learn-layer-init entry truncated", base: o.cleanCache, how: "truncate", file: async () => entry("learn-layer-init", 2) },
    { name: "train entry bit-flipped", base: o.cleanCache, how: "bitflip", file: async () => entry("train", 0) },
    { name: "evaluate entry half-written", base: o.cleanCache, how: "half-written", file: async () => entry("evaluate", 1) },
    { name: "checkpoint truncated", base: ckptCache, how: "truncate", file: async () => checkpoint },
    { name: "checkpoint bit-flipped", base: ckptCache, how: "bitflip", file: async () => checkpoint },
    { name: "checkpoint half-written", base: ckptCache, how: "half-written", file: async () => checkpoint },
    { name: "checkpoint's weights blob bit-flipped", base: ckptCache, how: "bitflip", file: async () => checkpoint && blobOf(ckptCache, checkpoint) }
  ]

  const cases: CorruptCase[] = []
  for (const [i, t] of targets.entries()) {
    const problems: string[] = []
    const rel = await t.file()
    if (rel === undefined) {
      cases.push({ name: t.name, ok: false, problems: ["no such file to damage (see above)"] })
      continue
    }
    const cache = join(o.workDir, `case-${i}-cache`)
    const out = join(o.workDir, `case-${i}-out`)
    await cp(t.base, cache, { recursive: true })
    await damage(join(cache, rel), t.how, rng)
    const id = idOf(rel)
    const run = await runProcess({ args: args(cache, out), timeoutMs: o.timeoutMs })
    const warnings = run.lines.filter((l) => /^warning:/.test(l.text)).map((l) => l.text)
    // A claim taken over from the process killed to make the checkpoint is news of its own, not a corruption report.
    const naming = warnings.filter((w) => w.includes(id.slice(0, 10)) && !/took over/.test(w))
    if (run.exitCode !== 0) problems.push(`re-run exited ${run.timedOut ? "by timeout" : run.exitCode}:\n${tail(run.lines)}`)
    else {
      const diff = differences(o.expected, stable(await readResults(out)))
      if (diff.length > 0) problems.push(`results differ: ${diff.join("; ")}`)
    }
    if (t.how !== "half-written" && naming.length !== 1) {
      problems.push(`expected one warning naming ${id.slice(0, 10)}, got ${naming.length}: ${warnings.join(" | ") || "(no warnings)"}`)
    }
    const audit = await auditCache(cache)
    if (audit.bad.length > 0) problems.push(`cache still holds bad files: ${audit.bad.join("; ")}`)
    // Only a finished cache's files come back: a checkpoint and the blobs it names are gone once the step finishes.
    if (run.exitCode === 0 && t.base === o.cleanCache && !(await stat(join(cache, rel)).catch(() => undefined))) {
      problems.push(`${rel} was not recomputed`)
    }
    const staleTmp = t.how === "half-written" && audit.tmp.some((f) => f.includes("4242.deadbeef"))
    cases.push({ name: t.name, ok: problems.length === 0, problems })
    o.log(
      `  ${problems.length === 0 ? "ok  " : "FAIL"} ${t.name} (${rel.slice(0, 24)}…): ${naming.length} warning(s) naming it` +
        (staleTmp ? "; the leftover *.tmp is still there (never swept)" : "") +
        (problems.length ? `\n    ${problems.join("\n    ")}` : "")
    )
  }
  return cases
}
