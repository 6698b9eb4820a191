/**
 * Which runs used a cache, and which step keys each one used: what `gc` keeps.
 *
 * Two sources, read the same way:
 *   - the run log, `<cache>/runs/<startedAt>-<pipeline>-<pid>.json`, one small record per run appended by
 *     `recordRun` (atomic write; a run that records "running" at its start and its final status at its end rewrites
 *     the same file, so a reader sees one or the other, never half);
 *   - `results.json` files under the runs directories (`runs/<pipeline>/results.json` by default), whose `steps`
 *     list every key the run used.
 * A malformed record or results.json is reported (`problems`) and ignored, never fatal; one that cannot be read at
 * all (a directory, a permission error) fails with `UnreadableRun`, because gc must not guess what it referenced.
 */
import { Effect, Result, Schema } from "effect"
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { StoreError } from "./errors.ts"
import { writeFileAtomic } from "./store.ts"

/** A file that says which keys a run used exists but cannot be read. */
export class UnreadableRun extends Schema.TaggedError<UnreadableRun>()("UnreadableRun", {
  file: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `cannot read ${this.file} (${this.reason}); fix its permissions, or move it out of the runs directory`
  }
}

export const RunStatus = Schema.Literals(["running", "ok", "failed", "interrupted"])
export type RunStatus = typeof RunStatus.Type

const Key = Schema.String.check(Schema.isPattern(/^[0-9a-f]{64}$/))

/** One record of the run log. `out` is absolute, so "does its out dir still exist" reads the same from any cwd. */
export const RunRecord = Schema.Struct({
  pipeline: Schema.String,
  out: Schema.String,
  startedAt: Schema.String,
  status: RunStatus,
  pid: Schema.Int,
  keys: Schema.Array(Key)
})
export type RunRecord = typeof RunRecord.Type

/** The part of results.json that says which keys a run used (other fields are the pipeline's own). */
const ResultsHead = Schema.Struct({
  pipeline: Schema.String,
  startedAt: Schema.String,
  cache: Schema.optional(Schema.String),
  steps: Schema.Array(Schema.Struct({ name: Schema.String, key: Key }))
})

/** A run as gc sees it, from either source. */
export interface KnownRun {
  readonly source: "results" | "log"
  /** The results.json or run-log file this came from. */
  readonly file: string
  readonly pipeline: string
  readonly startedAt: string
  /** Absolute out directory (for results.json, the directory holding it). */
  readonly out: string
  readonly status: RunStatus
  readonly pid?: number
  readonly keys: ReadonlyArray<string>
}

export interface RunProblem {
  readonly file: string
  readonly problem: string
}

export const runLogDir = (cacheRoot: string) => path.join(cacheRoot, "runs")

/** `2026-12-02T19:22:08.693Z` → `2026-12-02T19-22-08.693Z`: sortable, and a legal file name everywhere. */
const fileStamp = (startedAt: string) => startedAt.replace(/:/g, "-")

/** Writes (or rewrites) this run's record in the cache's run log; returns the record's path. */
export const recordRun = (
  cacheRoot: string,
  run: { pipeline: string; out: string; startedAt: string; status: RunStatus; keys: ReadonlyArray<string> }
): Effect.Effect<string, StoreError> => {
  const record: RunRecord = {
    pipeline: run.pipeline,
    out: path.resolve(run.out),
    startedAt: run.startedAt,
    status: run.status,
    pid: process.pid,
    keys: [...new Set(run.keys)]
  }
  const file = path.join(runLogDir(cacheRoot), `${fileStamp(run.startedAt)}-${run.pipeline}-${process.pid}.json`)
  return writeFileAtomic(file, `${JSON.stringify(record)}\n`).pipe(Effect.as(file))
}

/** Reads a small JSON file: undefined when it is gone, a problem when it does not parse. */
const readJson = (file: string) =>
  Effect.tryPromise({
    try: async (): Promise<{ json: unknown } | { problem: string } | undefined> => {
      let text: string
      try {
        text = await fs.readFile(file, "utf8")
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined
        throw e
      }
      try {
        return { json: JSON.parse(text) }
      } catch (e) {
        return { problem: `not JSON (${(e as Error).message})` }
      }
    },
    catch: (e) => new UnreadableRun({ file, reason: (e as NodeJS.ErrnoException).code ?? (e as Error).message })
  })

const decodeRecord = Schema.decodeUnknownResult(RunRecord)
const decodeResultsHead = Schema.decodeUnknownResult(ResultsHead)

const schemaProblem = (what: string, e: Schema.SchemaError) => `not a ${what} (${e.message.split("\n")[0]!.slice(0, 200)})`

const listDir = (dir: string) =>
  Effect.tryPromise({
    try: async () => {
      try {
        return await fs.readdir(dir, { withFileTypes: true })
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "ENOENT") return []
        throw e
      }
    },
    catch: (e) => new StoreError({ path: dir, operation: "list", reason: (e as Error).message })
  })

/** Every record of the cache's run log, oldest first, plus the files that are not records. */
export const readRunLog = (cacheRoot: string) =>
  Effect.gen(function* () {
    const dir = runLogDir(cacheRoot)
    const runs: KnownRun[] = []
    const problems: RunProblem[] = []
    for (const entry of yield* listDir(dir)) {
      if (!entry.isFile() || !entry.name.endsWith(".json")) continue
      const file = path.join(dir, entry.name)
      const read = yield* readJson(file)
      if (read === undefined) continue
      if ("problem" in read) {
        problems.push({ file, problem: read.problem })
        continue
      }
      const decoded = decodeRecord(read.json)
      if (Result.isFailure(decoded)) {
        problems.push({ file, problem: schemaProblem("run record", decoded.failure) })
        continue
      }
      const r = decoded.success
      runs.push({ source: "log", file, pipeline: r.pipeline, startedAt: r.startedAt, out: r.out, status: r.status, pid: r.pid, keys: r.keys })
    }
    runs.sort((a, b) => a.startedAt.localeCompare(b.startedAt))
    return { runs, problems }
  })

/** Directories under a runs dir are searched this deep for results.json (runs/<pipeline>/<variant>/results.json). */
const maxDepth = 4

type ResultsRead = { readonly run: KnownRun } | { readonly problem: RunProblem } | { readonly note: string }

/** One results.json as a run, if it is one and it used the cache at `here` (a real path). */
const readResults = (file: string, here: string): Effect.Effect<ResultsRead, UnreadableRun> =>
  Effect.gen(function* () {
    const read = yield* readJson(file)
    if (read === undefined || "problem" in read) {
      return { problem: { file, problem: read?.problem ?? "gone while being read (a dangling link, or deleted)" } }
    }
    const decoded = decodeResultsHead(read.json)
    if (Result.isFailure(decoded)) {
      return { problem: { file, problem: schemaProblem("pipeline results.json", decoded.failure) } }
    }
    const r = decoded.success
    if (r.cache !== undefined && (yield* realpath(r.cache)) !== here) {
      return { note: `${file} used cache ${r.cache}, not this one; not counted` }
    }
    const run: KnownRun = {
      source: "results",
      file,
      pipeline: r.pipeline,
      startedAt: r.startedAt,
      out: path.dirname(path.resolve(file)),
      status: "ok",
      keys: r.steps.map((s) => s.key)
    }
    return { run }
  })

export interface FoundRuns {
  readonly runs: KnownRun[]
  readonly problems: RunProblem[]
  readonly notes: string[]
}

/**
 * The runs whose results.json lies under `runsDirs` and that used this cache (results.json's `cache` field). A
 * results.json written for another cache is noted and skipped: counting it would make `--keep-last` pick runs that
 * reference nothing here.
 */
export const findResults = (runsDirs: ReadonlyArray<string>, cacheRoot: string) =>
  Effect.gen(function* () {
    const found: FoundRuns = { runs: [], problems: [], notes: [] }
    const here = yield* realpath(cacheRoot)
    const visit = (dir: string, depth: number): Effect.Effect<void, StoreError | UnreadableRun> =>
      Effect.gen(function* () {
        for (const entry of yield* listDir(dir)) {
          const p = path.join(dir, entry.name)
          if (entry.name === "results.json" && entry.isDirectory()) {
            return yield* new UnreadableRun({ file: p, reason: "it is a directory" })
          }
          if (entry.isDirectory()) {
            if (depth < maxDepth) yield* visit(p, depth + 1)
          } else if (entry.name === "results.json") {
            collect(found, yield* readResults(p, here))
          }
        }
      })
    for (const dir of runsDirs) yield* visit(dir, 0)
    return found
  })

const collect = (found: FoundRuns, read: ResultsRead) => {
  if ("run" in read) found.runs.push(read.run)
  else if ("problem" in read) found.problems.push(read.problem)
  else found.notes.push(read.note)
}

/** The canonical path when it exists (so a symlinked cache matches its target), else the absolute path. */
const realpath = (p: string) => Effect.promise(() => fs.realpath(p).catch(() => path.resolve(p)))

const isDirectory = (p: string) => Effect.promise(() => fs.stat(p).then((s) => s.isDirectory(), () => false))

const identity = (r: KnownRun) => `${r.out}\0${r.startedAt}`

export interface KnownRuns extends FoundRuns {
  /** Every run, oldest first: the results.json files, and the log records that are not the same run as one of them. */
  readonly all: ReadonlyArray<KnownRun>
  /**
   * The runs whose out dir still shows them: every results.json under the runs dirs, and each log record whose out
   * dir exists and holds its results.json or whose run is the latest into that dir (a failed run writes no
   * results.json, and its finished steps are what the re-run needs).
   */
  readonly current: ReadonlyArray<KnownRun>
  /** The run log's records (a record and a results.json of the same run both appear: `all` holds one of them). */
  readonly logRecords: ReadonlyArray<KnownRun>
}

/** All that is known about the runs that used `cacheRoot`: results.json under `runsDirs` and the run log. */
export const knownRuns = (runsDirs: ReadonlyArray<string>, cacheRoot: string) =>
  Effect.gen(function* () {
    const found = yield* findResults(runsDirs, cacheRoot)
    const log = yield* readRunLog(cacheRoot)
    const here = yield* realpath(cacheRoot)
    const byIdentity = new Map(found.runs.map((r) => [identity(r), r] as const))
    const current = new Map(byIdentity)
    const byOut = new Map<string, KnownRun[]>()
    for (const r of log.runs) byOut.set(r.out, [...(byOut.get(r.out) ?? []), r])
    for (const [out, records] of byOut) {
      if (!(yield* isDirectory(out))) continue
      const latest = records.reduce((a, b) => (b.startedAt > a.startedAt ? b : a))
      current.set(identity(latest), byIdentity.get(identity(latest)) ?? latest)
      // A results.json under the runs dirs is current already; one elsewhere names the record it shows.
      if (found.runs.some((r) => r.out === out)) continue
      const read = yield* readResults(path.join(out, "results.json"), here).pipe(
        Effect.catchTag("UnreadableRun", () => Effect.succeed(undefined))
      )
      if (read === undefined || !("run" in read)) continue
      const shown = records.find((r) => r.startedAt === read.run.startedAt)
      if (shown) current.set(identity(shown), shown)
    }
    const all = [...found.runs, ...log.runs.filter((r) => !byIdentity.has(identity(r)))]
    const byAge = (a: KnownRun, b: KnownRun) => a.startedAt.localeCompare(b.startedAt)
    return {
      all: all.sort(byAge),
      current: [...current.values()].sort(byAge),
      logRecords: log.runs,
      runs: found.runs,
      problems: [...found.problems, ...log.problems],
      notes: found.notes
    } satisfies KnownRuns
  })
