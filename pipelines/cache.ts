/**
 * cache — what the step cache holds, and a bounded cache: `gc` keeps what the runs reference and deletes the rest.
 * Not a pipeline (it runs no steps); its flags are parsed the pipelines' way. Usage in shared/engine/CACHE.md.
 *
 *   bun run pipelines/cache.ts status [--cache DIR] [--runs DIR]... [--json]
 *   bun run pipelines/cache.ts gc [--keep-last N] [--runs DIR]... [--grace MIN] [--dry-run] [--json]
 */
import { Cause, Effect, Exit } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { UsageError, helpText, parseFlags } from "../shared/engine/flags.ts"
import type { StoreError } from "../shared/engine/errors.ts"
import {
  type CacheNotFound,
  type CacheStatus,
  type GcResult,
  type Keep,
  type NoRunsToKeep,
  type Tally,
  cacheStatus,
  collectGarbage
} from "../shared/engine/gc.ts"
import type { UnreadableRun } from "../shared/engine/run-log.ts"
import { markdownTable } from "../shared/engine/report.ts"

const flags = {
  cache: { kind: "string", default: ".lwi/cache", env: "LWI_CACHE", doc: "the cache directory" },
  runs: {
    kind: "string",
    default: "runs",
    doc: "where runs' results.json are (repeatable, or comma-separated); their steps are what gc keeps"
  },
  keepLast: { kind: "string", default: "", doc: "gc: keep only the N newest runs (default: every run found)" },
  grace: {
    kind: "number",
    default: 60,
    check: "number >= 0",
    doc: "minutes: younger files are kept whatever references them (a running step writes blobs first)"
  },
  dryRun: { kind: "boolean", default: false, doc: "gc: say what would be deleted, delete nothing" },
  json: { kind: "boolean", default: false, doc: "print JSON instead of tables" },
  help: { kind: "boolean", default: false, doc: "show this help" }
} as const

const program = "bun run pipelines/cache.ts <status|gc>"
const help = () =>
  [
    helpText(program, "size of the step cache by step and by run; gc keeps what runs reference", flags),
    "",
    "Commands:",
    "  status  sizes: by step, shared blobs, checkpoints, unreferenced blobs, claims, temp files; and by run",
    "  gc      delete step entries no kept run used, checkpoints with no claim, blobs nothing kept names,",
    "          temp files and dropped run-log records; files younger than --grace stay"
  ].join("\n")

/** `--runs a --runs b,c` → one `--runs=a,b,c` (the flag parser takes each flag once). */
const joinRepeated = (argv: ReadonlyArray<string>, name: string): string[] => {
  const values: string[] = []
  const rest: string[] = []
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!
    if (a.startsWith(`--${name}=`)) values.push(a.slice(name.length + 3))
    else if (a === `--${name}` && argv[i + 1] !== undefined && !argv[i + 1]!.startsWith("--")) values.push(argv[++i]!)
    else rest.push(a)
  }
  return values.length ? [...rest, `--${name}=${values.join(",")}`] : rest
}

const mib = (bytes: number) => (bytes < 1024 ? `${bytes} B` : bytes < 2 ** 20 ? `${(bytes / 1024).toFixed(1)} KiB` : `${(bytes / 2 ** 20).toFixed(1)} MiB`)
const count = (t: Tally, what: string) => `${t.count} ${what} (${mib(t.bytes)})`

const renderStatus = (s: CacheStatus, graceMinutes: number) => {
  const row = (label: string, entries: Tally | undefined, blobs: Tally | undefined, note = "") => [
    label,
    entries ? entries.count : "",
    entries ? mib(entries.bytes) : "",
    blobs ? blobs.count : "",
    blobs ? mib(blobs.bytes) : "",
    mib((entries?.bytes ?? 0) + (blobs?.bytes ?? 0)),
    note
  ]
  const rows = [
    ...s.steps.map((r) => row(r.step, r.entries, r.blobs)),
    row("(blobs shared by several steps)", undefined, s.sharedBlobs, "counted once, here"),
    row("checkpoints", s.checkpoints.entries, s.checkpoints.blobs, "blobs named by no step entry"),
    row("unreferenced blobs", undefined, s.unreferencedBlobs, `${s.unreferencedBlobs.young} younger than ${graceMinutes} min`),
    row("unreadable step entries", s.unreadableEntries, undefined),
    row("claims in progress", { count: s.claims.length, bytes: 0 }, undefined, s.claims.map((c) => `${c.key.slice(0, 10)} ${c.ageSeconds}s`).join(", ")),
    row("run log", s.runLog, undefined, "records"),
    row("temp files", s.temps, undefined),
    row("other files", s.other, undefined),
    row("total", undefined, undefined, `${s.total.count} files`)
  ]
  rows[rows.length - 1]![5] = mib(s.total.bytes)
  const runs = s.runs.map((r) => [
    r.pipeline,
    r.startedAt,
    r.out.startsWith(process.cwd() + path.sep) ? path.relative(process.cwd(), r.out) : r.out,
    r.source === "results" ? "results.json" : `run log (${r.status})`,
    `${r.present}/${r.keys}`,
    mib(r.bytes),
    mib(r.ownBytes),
    r.current ? "yes" : "no"
  ])
  return [
    `cache ${s.root}: ${mib(s.total.bytes)} in ${s.total.count} files`,
    "",
    markdownTable(["step", "entries", "entry size", "blobs", "blob size", "total", "note"], rows),
    "",
    `Runs (${s.runs.length}). Rows overlap: runs share entries; "own" is what no other run references.`,
    `"current": its out dir still shows it, so gc keeps it by default.`,
    "",
    s.runs.length ? markdownTable(["pipeline", "started", "out", "from", "keys in cache", "size", "own", "current"], runs) : "(no runs found)"
  ].join("\n")
}

const renderGc = (r: GcResult, keep: string) => {
  const verb = r.dryRun ? "would delete" : "deleted"
  const d = r.deleted
  const freed = d.steps.bytes + d.checkpoints.bytes + d.blobs.bytes + d.temps.bytes + d.runRecords.bytes
  return [
    `gc ${r.root} (keep ${keep}: ${r.keptRuns.length} run${r.keptRuns.length === 1 ? "" : "s"}; grace ${r.graceMinutes} min)${r.dryRun ? " — dry run" : ""}`,
    ...r.keptRuns.map((k) => `  kept run: ${k.pipeline} ${k.startedAt} ${k.out}`),
    ...r.liveRuns.map((k) => `  running (pid ${k.pid}): ${k.pipeline} ${k.startedAt}; everything written since it started is kept`),
    `${verb} ${count(d.steps, "step entries")}, ${count(d.checkpoints, "checkpoints")}, ${count(d.blobs, "blobs")}, ` +
      `${count(d.temps, "temp files")}, ${count(d.runRecords, "run-log records")}: ${mib(freed)} in all`,
    `kept ${count(r.kept.steps, "step entries")}, ${count(r.kept.checkpoints, "checkpoints")}, ${count(r.kept.blobs, "blobs")}, ` +
      `${r.kept.runRecords.count} run-log records` +
      (r.keptYoung ? `; ${r.keptYoung} of these files only because they are younger than ${r.graceMinutes} min or a live run's` : "") +
      (r.skipped ? `; ${r.skipped} files changed during gc and were left alone` : "")
  ].join("\n")
}

interface Printed {
  readonly text: string
  readonly problems: ReadonlyArray<{ readonly file: string; readonly problem: string }>
  readonly notes: ReadonlyArray<string>
}

const fail = (message: string, code: number) => {
  process.stderr.write(`error: ${message}\n`)
  return code
}

export const main = async (argv: ReadonlyArray<string>, env: Readonly<Record<string, string | undefined>> = process.env) => {
  const [command, ...rest] = argv
  let config: ReturnType<typeof parseFlags<typeof flags>>
  try {
    config = parseFlags(flags, joinRepeated(command?.startsWith("--") ? argv : rest, "runs"), env)
  } catch (e) {
    if (!(e instanceof UsageError)) throw e
    return fail(`${e.message}\nrun with --help to see the flags`, 2)
  }
  if (config.help) {
    process.stdout.write(`${help()}\n`)
    return 0
  }
  if (command !== "status" && command !== "gc") {
    const what = command === undefined || command.startsWith("--") ? "no command given" : `unknown command "${command}"`
    return fail(`${what}; use \`${program}\` (see --help)`, 2)
  }
  let keep: Keep = "runs"
  if (config.keepLast !== "") {
    if (command !== "gc") return fail("--keep-last applies to gc only", 2)
    if (!/^\d+$/.test(config.keepLast)) return fail(`--keep-last must be a whole number of runs (was "${config.keepLast}")`, 2)
    keep = { last: Number(config.keepLast) }
  }
  if (config.dryRun && command !== "gc") return fail("--dry-run applies to gc only", 2)
  const runsDirs = config.runs.split(",").filter((d) => d !== "")
  for (const dir of runsDirs) {
    if (fs.existsSync(dir) && fs.statSync(dir).isDirectory()) continue
    if (config.explicit.has("runs")) return fail(`--runs ${dir}: no such directory; name the directory your runs' --out went under`, 2)
    process.stderr.write(`note: no runs directory ${dir} here; only the run log tells which runs used the cache\n`)
  }
  const root = path.resolve(config.cache)
  const work: Effect.Effect<Printed, CacheNotFound | NoRunsToKeep | UnreadableRun | StoreError> =
    command === "status"
      ? Effect.map(cacheStatus(root, runsDirs, { graceMinutes: config.grace }), (s) => ({
          ...s,
          text: config.json ? JSON.stringify(s, null, 2) : renderStatus(s, config.grace)
        }))
      : Effect.map(collectGarbage(root, { keep, runsDirs, graceMinutes: config.grace, dryRun: config.dryRun }), (r) => ({
          ...r,
          text: config.json ? JSON.stringify(r, null, 2) : renderGc(r, keep === "runs" ? "runs found" : `last ${keep.last}`)
        }))
  const exit = await Effect.runPromiseExit(work)
  if (Exit.isFailure(exit)) {
    const error = Cause.findErrorOption(exit.cause)
    return fail(error._tag === "Some" ? error.value.message : Cause.pretty(exit.cause), 1)
  }
  const { text, problems, notes } = exit.value
  for (const p of problems) process.stderr.write(`warning: ${p.file}: ${p.problem}; ignored\n`)
  for (const n of notes) process.stderr.write(`note: ${n}\n`)
  process.stdout.write(`${text}\n`)
  return 0
}

if (import.meta.main) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e) => {
      process.stderr.write(`internal error (please report): ${(e as Error).stack ?? e}\n`)
      process.exit(70)
    }
  )
}
