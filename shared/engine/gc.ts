/**
 * What the cache holds and what can go: `cacheStatus` (sizes by step, by run, checkpoints, unreferenced blobs,
 * claims) and `collectGarbage` (keep what the runs reference, delete the rest). Plain functions over the directory
 * that shared/engine/store.ts writes:
 *
 *   <root>/blobs/<hh>/<sha256>       artifacts, by content; a container may name further blobs (its arrays)
 *   <root>/steps/<key>.json          { checksum, body: { step, output, ... } }  (output holds ArtifactRefs)
 *   <root>/checkpoints/<key>.json    { checksum, body: <encoded state> }          (may hold ArtifactRefs)
 *   <root>/claims/<key>.claim        a key being computed by some process
 *   <root>/runs/*.json               the run log (shared/engine/run-log.ts)
 *
 * Safe beside a running pipeline: only files older than the grace period go (a step writes its blobs before the
 * entry that names them), nothing a live run announced in the run log is touched, entries go before the blobs they
 * name, and a file is re-checked just before it is deleted. A reader that still finds a blob missing recomputes
 * (the runner verifies every blob of a hit).
 */
import { Effect, Schema } from "effect"
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { artifactHashes } from "./artifacts.ts"
import { processAlive } from "./claim.ts"
import { readBlobChildren } from "./store.ts"
import { StoreError, storeIo } from "./errors.ts"
import { type KnownRun, type KnownRuns, knownRuns } from "./run-log.ts"

/** `--cache DIR` names no cache. */
export class CacheNotFound extends Schema.TaggedError<CacheNotFound>()("CacheNotFound", { path: Schema.String }) {
  override get message() {
    return `no cache at ${this.path}; pass --cache DIR (or set LWI_CACHE) to the directory a pipeline's --cache used`
  }
}

export interface FileInfo {
  readonly file: string
  readonly bytes: number
  readonly mtimeMs: number
}

export interface Entry extends FileInfo {
  readonly key: string
  /** The step's name (step entries; undefined for checkpoints and unreadable entries). */
  readonly step?: string
  readonly refs: ReadonlySet<string>
  /** Why the entry could not be read; it references nothing we can know of. */
  readonly unreadable?: string
}

/** Every file under the root, classified. */
export interface Scan {
  readonly root: string
  readonly blobs: ReadonlyMap<string, FileInfo>
  readonly steps: ReadonlyMap<string, Entry>
  readonly checkpoints: ReadonlyMap<string, Entry>
  readonly claims: ReadonlyMap<string, FileInfo>
  readonly runLog: ReadonlyArray<FileInfo>
  /** `*.tmp`: atomic writes in progress, or left by a killed process. */
  readonly temps: ReadonlyArray<FileInfo>
  readonly other: ReadonlyArray<FileInfo>
}

const io = storeIo

const gone = (e: unknown) => (e as NodeJS.ErrnoException).code === "ENOENT"

/** All regular files under `dir` with size and mtime; a file deleted while we look is left out. */
const walk = (dir: string): Promise<FileInfo[]> =>
  fs.readdir(dir, { withFileTypes: true }).then(
    async (entries) => {
      const out: FileInfo[] = []
      for (const e of entries) {
        const p = path.join(dir, e.name)
        if (e.isDirectory()) out.push(...(await walk(p)))
        else {
          const st = await fs.stat(p).catch((err) => (gone(err) ? undefined : Promise.reject(err)))
          if (st?.isFile()) out.push({ file: p, bytes: st.size, mtimeMs: st.mtimeMs })
        }
      }
      return out
    },
    (err) => (gone(err) ? [] : Promise.reject(err))
  )

const isHash = (s: string) => /^[0-9a-f]{64}$/.test(s)

const readEntry = async (info: FileInfo, key: string, table: "steps" | "checkpoints"): Promise<Entry> => {
  let body: unknown
  try {
    const parsed = JSON.parse(await fs.readFile(info.file, "utf8")) as { body?: unknown }
    body = parsed?.body
  } catch (e) {
    return { ...info, key, refs: new Set(), unreadable: gone(e) ? "deleted while read" : `not JSON` }
  }
  if (table === "checkpoints") return { ...info, key, refs: artifactHashes(body) }
  const b = body as { step?: unknown; output?: unknown } | undefined
  if (typeof b?.step !== "string" || b.output === undefined) {
    return { ...info, key, refs: new Set(), unreadable: "no step name or output" }
  }
  return { ...info, key, step: b.step, refs: artifactHashes(b.output) }
}

/** Reads the whole cache directory. Fails with CacheNotFound when `root` is not a directory. */
export const scanCache = (root: string) =>
  Effect.gen(function* () {
    const isDir = yield* io("stat", root, () => fs.stat(root).then((s) => s.isDirectory(), () => false))
    if (!isDir) return yield* new CacheNotFound({ path: root })
    const files = yield* io("list", root, () => walk(root))
    const scan = {
      root,
      blobs: new Map<string, FileInfo>(),
      steps: new Map<string, Entry>(),
      checkpoints: new Map<string, Entry>(),
      claims: new Map<string, FileInfo>(),
      runLog: [] as FileInfo[],
      temps: [] as FileInfo[],
      other: [] as FileInfo[]
    }
    for (const info of files) {
      const [top, ...rest] = path.relative(root, info.file).split(path.sep)
      const name = rest.at(-1) ?? ""
      if (name.endsWith(".tmp") || (top ?? "").endsWith(".tmp")) scan.temps.push(info)
      else if (top === "blobs" && rest.length === 2 && isHash(name) && name.startsWith(rest[0]!)) scan.blobs.set(name, info)
      else if ((top === "steps" || top === "checkpoints") && rest.length === 1 && name.endsWith(".json")) {
        const key = name.slice(0, -".json".length)
        const entry = yield* Effect.promise(() => readEntry(info, key, top))
        ;(top === "steps" ? scan.steps : scan.checkpoints).set(key, entry)
      } else if (top === "claims" && rest.length === 1 && name.endsWith(".claim")) scan.claims.set(name.slice(0, -6), info)
      else if (top === "runs" && rest.length === 1 && name.endsWith(".json")) scan.runLog.push(info)
      else scan.other.push(info)
    }
    // An entry keeps the blobs it names and, through a container, the arrays stored apart (shared/engine/arrays.ts):
    // mark-and-sweep over the whole graph, so a blob shared by several entries stays while any of them does.
    const children = new Map<string, ReadonlyArray<string>>()
    const childrenOf = (h: string) =>
      children.has(h)
        ? Effect.succeed(children.get(h)!)
        : io("read", path.join(root, "blobs", h.slice(0, 2), h), async () => (await readBlobChildren(path.join(root, "blobs", h.slice(0, 2), h))) ?? []).pipe(
            Effect.tap((c) => Effect.sync(() => void children.set(h, c)))
          )
    for (const table of [scan.steps, scan.checkpoints]) {
      for (const [key, entry] of table) {
        const refs = new Set(entry.refs)
        for (const h of entry.refs) for (const c of yield* childrenOf(h)) refs.add(c)
        table.set(key, { ...entry, refs })
      }
    }
    return scan satisfies Scan
  })

export interface Tally {
  count: number
  bytes: number
}
const tally = (files: Iterable<{ bytes: number }> = []): Tally => {
  const t = { count: 0, bytes: 0 }
  for (const f of files) {
    t.count++
    t.bytes += f.bytes
  }
  return t
}
const blobsOf = (scan: Scan, hashes: Iterable<string>) =>
  [...new Set(hashes)].flatMap((h) => (scan.blobs.has(h) ? [scan.blobs.get(h)!] : []))

export interface StepRow {
  readonly step: string
  readonly entries: Tally
  /** Blobs referenced by this step's entries only (each counted once). */
  readonly blobs: Tally
}

export interface RunRow {
  readonly pipeline: string
  readonly startedAt: string
  readonly out: string
  readonly source: KnownRun["source"]
  readonly status: KnownRun["status"]
  readonly current: boolean
  readonly keys: number
  /** Of its keys, how many have an entry in the cache now. */
  readonly present: number
  /** Its entries and the blobs they reference, each blob once. */
  readonly bytes: number
  /** The part of `bytes` that no other run references: what dropping this run alone would free. */
  readonly ownBytes: number
}

export interface CacheStatus {
  readonly root: string
  readonly total: Tally
  readonly steps: ReadonlyArray<StepRow>
  /** Blobs referenced by entries of more than one step name: counted here once, in no step's row. */
  readonly sharedBlobs: Tally
  /** Checkpoint entries, and the blobs referenced by checkpoints and by no step entry. */
  readonly checkpoints: { readonly entries: Tally; readonly blobs: Tally }
  readonly unreferencedBlobs: Tally & { readonly young: number }
  /** Blobs named by an entry but not in the store (the next reader recomputes that entry). */
  readonly missingBlobs: number
  readonly unreadableEntries: Tally
  readonly claims: ReadonlyArray<{ readonly key: string; readonly ageSeconds: number }>
  readonly runLog: Tally
  readonly temps: Tally
  readonly other: Tally
  readonly runs: ReadonlyArray<RunRow>
  readonly problems: KnownRuns["problems"]
  readonly notes: ReadonlyArray<string>
}

/**
 * Sizes, partitioned so the rows add up to `total`: each step's entries and own blobs, blobs shared between steps,
 * checkpoints and their own blobs, unreferenced blobs, unreadable entries, claims, run log, temp and other files.
 * The by-run rows overlap (runs share entries) and are not part of that sum.
 */
export const cacheStatus = (root: string, runsDirs: ReadonlyArray<string>, options: { graceMinutes?: number; now?: number } = {}) =>
  Effect.gen(function* () {
    const scan = yield* scanCache(root)
    const runs = yield* knownRuns(runsDirs, root)
    const now = options.now ?? Date.now()
    const young = (f: FileInfo) => now - f.mtimeMs < (options.graceMinutes ?? 60) * 60_000

    const namesOf = new Map<string, Set<string>>()
    const readable = [...scan.steps.values()].filter((e) => e.step !== undefined)
    for (const e of readable) for (const h of e.refs) namesOf.set(h, (namesOf.get(h) ?? new Set()).add(e.step!))
    const stepNames = [...new Set(readable.map((e) => e.step!))].sort()
    const steps = stepNames.map((step) => {
      const mine = readable.filter((e) => e.step === step)
      const own = blobsOf(scan, mine.flatMap((e) => [...e.refs].filter((h) => namesOf.get(h)!.size === 1)))
      return { step, entries: tally(mine), blobs: tally(own) }
    })
    const checkpointRefs = [...scan.checkpoints.values()].flatMap((e) => [...e.refs])
    const referenced = new Set([...namesOf.keys(), ...checkpointRefs])
    const unreferenced = [...scan.blobs.entries()].filter(([h]) => !referenced.has(h)).map(([, f]) => f)
    const allEntries = [...scan.steps.values(), ...scan.checkpoints.values()]

    const bytesOf = (keys: Iterable<string>) => {
      const entries = [...new Set(keys)].flatMap((k) => (scan.steps.has(k) ? [scan.steps.get(k)!] : []))
      return { entries, blobs: new Set(entries.flatMap((e) => [...e.refs])) }
    }
    const current = new Set(runs.current)
    const perRun = runs.all.map((r) => ({ run: r, ...bytesOf(r.keys) }))
    const rows: RunRow[] = perRun.map(({ run, entries, blobs }) => {
      const others = perRun.filter((p) => p.run !== run)
      const otherKeys = new Set(others.flatMap((p) => p.entries.map((e) => e.key)))
      const otherBlobs = new Set(others.flatMap((p) => [...p.blobs]))
      const size = (es: Entry[], hs: Iterable<string>) => tally(es).bytes + tally(blobsOf(scan, hs)).bytes
      return {
        pipeline: run.pipeline,
        startedAt: run.startedAt,
        out: run.out,
        source: run.source,
        status: run.status,
        current: current.has(run),
        keys: new Set(run.keys).size,
        present: entries.length,
        bytes: size(entries, blobs),
        ownBytes: size(entries.filter((e) => !otherKeys.has(e.key)), [...blobs].filter((h) => !otherBlobs.has(h)))
      }
    })

    return {
      root,
      total: tally([...scan.blobs.values(), ...allEntries, ...scan.claims.values(), ...scan.runLog, ...scan.temps, ...scan.other]),
      steps,
      sharedBlobs: tally(blobsOf(scan, [...namesOf].filter(([, names]) => names.size > 1).map(([h]) => h))),
      checkpoints: {
        entries: tally(scan.checkpoints.values()),
        blobs: tally(blobsOf(scan, checkpointRefs.filter((h) => !namesOf.has(h))))
      },
      unreferencedBlobs: { ...tally(unreferenced), young: unreferenced.filter(young).length },
      missingBlobs: [...referenced].filter((h) => !scan.blobs.has(h)).length,
      unreadableEntries: tally([...scan.steps.values()].filter((e) => e.step === undefined)),
      claims: [...scan.claims].map(([key, f]) => ({ key, ageSeconds: Math.round((now - f.mtimeMs) / 1000) })),
      runLog: tally(scan.runLog),
      temps: tally(scan.temps),
      other: tally(scan.other),
      runs: rows,
      problems: runs.problems,
      notes: runs.notes
    } satisfies CacheStatus
  })

// ---------------------------------------------------------------------------------------------------------------
// Garbage collection

/** `gc` under the default keep policy found no run, and would empty the cache. */
export class NoRunsToKeep extends Schema.TaggedError<NoRunsToKeep>()("NoRunsToKeep", {
  runsDirs: Schema.Array(Schema.String),
  entries: Schema.Int
}) {
  override get message() {
    return (
      `no runs found (no results.json under ${this.runsDirs.join(", ")}, no run-log record whose out dir still ` +
      `exists), so gc would delete all ${this.entries} old step entries; pass --runs DIR where your runs' ` +
      `results.json are, or --keep-last 0 to delete everything older than the grace period`
    )
  }
}

/** Keep the runs whose out dir still shows them (see KnownRuns.current), or the N newest runs. */
export type Keep = "runs" | { readonly last: number }

export interface GcOptions {
  readonly keep: Keep
  readonly runsDirs: ReadonlyArray<string>
  /** Files younger than this are kept whatever references them (default 60: a running step writes its blobs first). */
  readonly graceMinutes?: number
  readonly dryRun?: boolean
  readonly now?: number
}

export interface RunSummary {
  readonly pipeline: string
  readonly startedAt: string
  readonly out: string
}

export interface GcResult {
  readonly root: string
  readonly dryRun: boolean
  readonly graceMinutes: number
  readonly keptRuns: ReadonlyArray<RunSummary>
  /** Runs the run log says are running, by a process that is alive: everything written since they started is kept. */
  readonly liveRuns: ReadonlyArray<RunSummary & { readonly pid: number }>
  readonly deleted: { readonly steps: Tally; readonly checkpoints: Tally; readonly blobs: Tally; readonly temps: Tally; readonly runRecords: Tally }
  readonly kept: { readonly steps: Tally; readonly checkpoints: Tally; readonly blobs: Tally; readonly runRecords: Tally }
  /** Files kept only because they are younger than the grace period or were written since a live run started. */
  readonly keptYoung: number
  /** Files that changed or vanished between the scan and their deletion (a concurrent run), and were left alone. */
  readonly skipped: number
  readonly problems: KnownRuns["problems"]
  readonly notes: ReadonlyArray<string>
}

const alive = processAlive

const summary = (r: KnownRun): RunSummary => ({ pipeline: r.pipeline, startedAt: r.startedAt, out: r.out })
const identity = (r: KnownRun) => `${r.out}\0${r.startedAt}`

/**
 * Deletes what no kept run references: step entries whose key no kept run used, checkpoints with no claim, blobs no
 * kept entry or checkpoint names, temp files, and the run-log records of runs not kept. Anything younger than
 * `graceMinutes`, or written since a live run started, stays. Returns what was (or, dry, would be) deleted.
 */
export const collectGarbage = (root: string, options: GcOptions) =>
  Effect.gen(function* () {
    const graceMinutes = options.graceMinutes ?? 60
    const now = options.now ?? Date.now()
    const scan = yield* scanCache(root)
    const runs = yield* knownRuns(options.runsDirs, root)
    const notes = [...runs.notes]

    const live = runs.logRecords.filter((r) => r.status === "running" && r.pid !== undefined && alive(r.pid))
    const liveSince = Math.min(...live.map((r) => Date.parse(r.startedAt) - 2000))
    const protectedFile = (f: FileInfo) => now - f.mtimeMs < graceMinutes * 60_000 || f.mtimeMs >= liveSince
    const keptRuns = options.keep === "runs" ? runs.current : runs.all.slice(Math.max(0, runs.all.length - options.keep.last))
    const keepIds = new Set([...keptRuns, ...live].map(identity))
    const keepKeys = new Set([...keptRuns, ...live].flatMap((r) => r.keys))

    let keptYoung = 0
    const decide = <F extends FileInfo>(files: Iterable<F>, wanted: (f: F) => boolean) => {
      const keep: F[] = []
      const drop: F[] = []
      for (const f of files) {
        if (wanted(f)) keep.push(f)
        else if (protectedFile(f)) {
          keptYoung++
          keep.push(f)
        } else drop.push(f)
      }
      return { keep, drop }
    }
    const steps = decide(scan.steps.values(), (e) => e.unreadable === undefined && keepKeys.has(e.key))
    const checkpoints = decide(scan.checkpoints.values(), (e) => scan.claims.has(e.key))
    const wantedBlobs = new Set([...steps.keep, ...checkpoints.keep].flatMap((e) => [...e.refs]))
    const blobs = decide(scan.blobs.values(), (f) => wantedBlobs.has(path.basename(f.file)))
    const temps = decide(scan.temps, () => false)
    const logFiles = new Map(runs.logRecords.map((r) => [r.file, r]))
    const records = decide(scan.runLog, (f) => {
      const r = logFiles.get(f.file)
      if (r === undefined) notes.push(`${f.file} is not a run record; left in place`)
      return r === undefined || keepIds.has(identity(r))
    })

    const droppedEntries = steps.drop.filter((e) => e.unreadable === undefined).length
    if (options.keep === "runs" && keptRuns.length === 0 && live.length === 0 && droppedEntries > 0 && !options.dryRun) {
      return yield* new NoRunsToKeep({ runsDirs: [...options.runsDirs], entries: droppedEntries })
    }
    const unreadable = steps.drop.filter((e) => e.unreadable !== undefined).length
    if (unreadable > 0) notes.push(`${unreadable} unreadable step entries (a reader would discard them too) deleted`)

    let skipped = 0
    /** Deletes files in order, each re-checked first: one that changed or vanished since the scan is left alone. */
    const remove = (files: ReadonlyArray<FileInfo>) =>
      Effect.gen(function* () {
        const done: FileInfo[] = []
        for (const f of files) {
          if (options.dryRun) {
            done.push(f)
            continue
          }
          const st = yield* io("stat", f.file, () => fs.stat(f.file).catch((e) => (gone(e) ? undefined : Promise.reject(e))))
          if (st === undefined || st.mtimeMs !== f.mtimeMs) {
            skipped++
            continue
          }
          yield* io("delete", f.file, () => fs.rm(f.file, { force: true }))
          done.push(f)
        }
        return tally(done)
      })
    // Entries before the blobs they name: a reader never finds an entry whose blobs this gc already took.
    const deleted = {
      steps: yield* remove(steps.drop),
      checkpoints: yield* remove(checkpoints.drop),
      blobs: yield* remove(blobs.drop),
      temps: yield* remove(temps.drop),
      runRecords: yield* remove(records.drop)
    }
    return {
      root,
      dryRun: options.dryRun ?? false,
      graceMinutes,
      keptRuns: keptRuns.map(summary),
      liveRuns: live.map((r) => ({ ...summary(r), pid: r.pid! })),
      deleted,
      kept: {
        steps: tally(steps.keep),
        checkpoints: tally(checkpoints.keep),
        blobs: tally(blobs.keep),
        runRecords: tally(records.keep)
      },
      keptYoung,
      skipped,
      problems: runs.problems,
      notes
    } satisfies GcResult
  })
