/**
 * The bounded cache: a real disk cache built by running steps through the engine, two runs' results.json naming the
 * keys they used, then gc and status over it — in process, and through the CLI as a user runs it.
 */
import { afterAll, beforeEach, describe, expect, test } from "bun:test"
import { Effect, Schema } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { ArtifactRef, putArrays, putJson } from "../../shared/engine/artifacts.ts"
import { type GcOptions, cacheStatus, collectGarbage } from "../../shared/engine/gc.ts"
import { step } from "../../shared/engine/pipeline.ts"
import { readRunLog, recordRun } from "../../shared/engine/run-log.ts"
import type { StepRecord } from "../../shared/engine/runner.ts"
import { defineStep } from "../../shared/engine/step.ts"
import { makeDiskStore } from "../../shared/engine/store.ts"
import { makeEngine, runWithEngine } from "../../shared/engine/testing.ts"

const repo = path.resolve(import.meta.dir, "../..")
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "lwi-gc-"))
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }))

const calls = { source: 0, double: 0 }
const source = defineStep({
  name: "source",
  code: import.meta.url,
  input: Schema.Struct({ n: Schema.Int }),
  output: Schema.Struct({ values: ArtifactRef }),
  run: ({ n }) =>
    Effect.gen(function* () {
      calls.source++
      const data = Float32Array.from({ length: 64 }, (_, i) => i * n)
      return { values: yield* putArrays({ x: { dtype: "float32", shape: [64], data } }) }
    })
})
const double = defineStep({
  name: "double",
  code: import.meta.url,
  input: Schema.Struct({ values: ArtifactRef, n: Schema.Int }),
  // Its output names its input's blob too: a blob shared between two steps' entries.
  output: Schema.Struct({ values: ArtifactRef, from: ArtifactRef }),
  run: ({ values, n }) =>
    Effect.gen(function* () {
      calls.double++
      const data = Float32Array.from({ length: 32 }, (_, i) => 2 * i * n)
      return { values: yield* putArrays({ x: { dtype: "float32", shape: [32], data } }), from: values }
    })
})

/** One run: source(n) for each of `sources`, then source(n) → double for each of `ns`; returns the runner's records. */
const runSteps = async (root: string, ns: ReadonlyArray<number>, sources: ReadonlyArray<number> = []): Promise<StepRecord[]> => {
  const engine = makeEngine({ store: makeDiskStore(root) })
  await runWithEngine(
    Effect.andThen(
      Effect.forEach(sources, (n) => step(source, { n })),
      Effect.forEach(ns, (n) => Effect.flatMap(step(source, { n }), ({ values }) => step(double, { values, n })))
    ),
    engine
  )
  return engine.runner.records
}

const writeResults = (out: string, pipeline: string, startedAt: string, cache: string, records: ReadonlyArray<StepRecord>) => {
  fs.mkdirSync(out, { recursive: true })
  const results = { pipeline, startedAt, cache, steps: records.map((r) => ({ ...r })), extra: { anything: 1 } }
  fs.writeFileSync(path.join(out, "results.json"), JSON.stringify(results))
}

const files = (dir: string): string[] =>
  fs.existsSync(dir) ? fs.readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => path.join(e.parentPath, e.name)) : []

const twoHoursAgo = () => new Date(Date.now() - 2 * 3600_000)
const age = (file: string) => fs.utimesSync(file, twoHoursAgo(), twoHoursAgo())
const entry = (root: string, table: string, key: string) => path.join(root, table, `${key}.json`)
const blob = (root: string, hash: string) => path.join(root, "blobs", hash.slice(0, 2), hash)
const json = (file: string) => JSON.parse(fs.readFileSync(file, "utf8"))

interface Fixture {
  root: string
  runsDir: string
  /** Run A (older): source(3), double(3). Run B (newer): source(3) again (shared), source(5), double(5). */
  a: StepRecord[]
  b: StepRecord[]
  orphan: { key: string; blob: string }
  checkpoint: { key: string; blob: string }
  claimed: { key: string; blob: string }
  temp: string
}

let f: Fixture
let n = 0
beforeEach(async () => {
  const dir = path.join(tmp, `case-${n++}`)
  const root = path.join(dir, "cache")
  const runsDir = path.join(dir, "runs")
  const a = await runSteps(root, [3])
  const b = await runSteps(root, [5], [3])
  writeResults(path.join(runsDir, "a"), "alpha", "2026-01-01T00:00:00.000Z", root, a)
  writeResults(path.join(runsDir, "b"), "beta", "2026-01-02T00:00:00.000Z", root, b)
  const orphanRecords = await runSteps(root, [9])
  const orphanKey = orphanRecords.find((r) => r.name === "double")!.key
  const orphanBlob = json(entry(root, "steps", orphanKey)).body.output.values.artifact as string
  // Checkpoints written as a step writes them: a state naming a blob; one of them claimed by a running process.
  const store = makeDiskStore(root)
  const checkpoint = async (seed: number) => {
    const ref = await runWithEngine(putJson({ partial: seed }), makeEngine({ store }))
    const key = `${seed}`.repeat(64).slice(0, 64).replace(/[^0-9a-f]/g, "a")
    await Effect.runPromise(store.putEntry("checkpoints", key, { epoch: seed, weights: ref }))
    return { key, blob: ref.artifact }
  }
  const cp = await checkpoint(1)
  const claimed = await checkpoint(2)
  fs.mkdirSync(path.join(root, "claims"), { recursive: true })
  fs.writeFileSync(path.join(root, "claims", `${claimed.key}.claim`), JSON.stringify({ pid: 1, host: "h", token: "t", startedAt: 0 }))
  const temp = path.join(root, "steps", `${orphanKey}.json.123.abc.tmp`)
  fs.writeFileSync(temp, "half")
  for (const file of files(root)) age(file)
  f = { root, runsDir, a, b, orphan: { key: orphanKey, blob: orphanBlob }, checkpoint: cp, claimed, temp }
})

const gc = (options: Partial<GcOptions> = {}) =>
  Effect.runPromise(collectGarbage(f.root, { keep: "runs", runsDirs: [f.runsDir], ...options }))
const keysOf = (records: ReadonlyArray<StepRecord>) => records.map((r) => r.key)
const blobsOf = (keys: ReadonlyArray<string>) =>
  keys.flatMap((k) => {
    const out = json(entry(f.root, "steps", k)).body.output
    return [out.values.artifact, ...(out.from ? [out.from.artifact] : [])] as string[]
  })

describe("gc", () => {
  test("keeps both runs' entries and blobs; deletes an old orphan entry, blob, checkpoint and temp file", async () => {
    const kept = [...keysOf(f.a), ...keysOf(f.b)]
    const keptBlobs = blobsOf(kept)
    const r = await gc()
    for (const k of kept) expect(fs.existsSync(entry(f.root, "steps", k))).toBe(true)
    for (const h of keptBlobs) expect(fs.existsSync(blob(f.root, h))).toBe(true)
    expect(fs.existsSync(entry(f.root, "steps", f.orphan.key))).toBe(false)
    expect(fs.existsSync(blob(f.root, f.orphan.blob))).toBe(false)
    expect(fs.existsSync(entry(f.root, "checkpoints", f.checkpoint.key))).toBe(false)
    expect(fs.existsSync(blob(f.root, f.checkpoint.blob))).toBe(false)
    expect(fs.existsSync(f.temp)).toBe(false)
    // The claimed checkpoint (a step in progress) and its blob stay.
    expect(fs.existsSync(entry(f.root, "checkpoints", f.claimed.key))).toBe(true)
    expect(fs.existsSync(blob(f.root, f.claimed.blob))).toBe(true)
    // Orphan run source(9) → double(9): two entries; source(9)'s blob and double(9)'s own blob.
    expect(r.deleted.steps.count).toBe(2)
    expect(r.deleted.blobs.count).toBe(3)
    expect(r.deleted.checkpoints.count).toBe(1)
    expect(r.deleted.temps).toEqual({ count: 1, bytes: 4 })
    expect(r.keptRuns.map((k) => k.pipeline)).toEqual(["alpha", "beta"])
  })

  test("--keep-last 1 keeps only the newer run's entries (and what it shares with the older one)", async () => {
    const onlyA = keysOf(f.a).filter((k) => !keysOf(f.b).includes(k))
    expect(onlyA.length).toBe(1) // double(3); source(3) is in both
    const r = await gc({ keep: { last: 1 } })
    expect(r.keptRuns.map((k) => k.pipeline)).toEqual(["beta"])
    for (const k of keysOf(f.b)) expect(fs.existsSync(entry(f.root, "steps", k))).toBe(true)
    expect(fs.existsSync(entry(f.root, "steps", onlyA[0]!))).toBe(false)
  })

  test("young files survive whatever references them; with --grace 0 they go", async () => {
    const young = await runSteps(f.root, [11])
    const youngKeys = keysOf(young)
    await gc()
    for (const k of youngKeys) expect(fs.existsSync(entry(f.root, "steps", k))).toBe(true)
    const r = await gc({ graceMinutes: 0 })
    for (const k of youngKeys) expect(fs.existsSync(entry(f.root, "steps", k))).toBe(false)
    expect(r.deleted.steps.count).toBe(2)
  })

  test("a second gc deletes nothing, and the entries kept still hit", async () => {
    await gc()
    const again = await gc()
    for (const t of Object.values(again.deleted)) expect(t).toEqual({ count: 0, bytes: 0 })
    const before = { ...calls }
    const rerun = await runSteps(f.root, [3, 5])
    expect(rerun.map((r) => r.cached)).toEqual([true, true, true, true])
    expect(rerun.map((r) => r.key).sort()).toEqual([...new Set([...keysOf(f.a), ...keysOf(f.b)])].sort())
    expect(calls).toEqual(before)
  })

  test("a dry run reports what it would delete and deletes nothing", async () => {
    const before = files(f.root).length
    const r = await gc({ dryRun: true })
    expect(r.dryRun).toBe(true)
    expect(r.deleted.steps.count).toBe(2)
    expect(files(f.root).length).toBe(before)
  })

  test("without any run found, the default policy refuses to empty the cache; --keep-last 0 empties it", async () => {
    const none = path.join(f.root, "..", "no-runs")
    fs.mkdirSync(none)
    const exit = await Effect.runPromiseExit(collectGarbage(f.root, { keep: "runs", runsDirs: [none] }))
    expect(JSON.stringify(exit)).toContain("NoRunsToKeep")
    expect(fs.existsSync(entry(f.root, "steps", f.orphan.key))).toBe(true)
    const r = await Effect.runPromise(collectGarbage(f.root, { keep: { last: 0 }, runsDirs: [none] }))
    expect(r.deleted.steps.count).toBe(keysOf(f.a).length + keysOf(f.b).length - 1 + 2)
    expect(files(path.join(f.root, "steps"))).toEqual([])
  })

  test("a malformed results.json is reported and ignored; one that cannot be read at all fails", async () => {
    fs.mkdirSync(path.join(f.runsDir, "broken"))
    fs.writeFileSync(path.join(f.runsDir, "broken", "results.json"), "{ half")
    const r = await gc()
    expect(r.problems.map((p) => p.file)).toEqual([path.join(f.runsDir, "broken", "results.json")])
    expect(r.problems[0]!.problem).toContain("not JSON")
    expect(r.keptRuns.length).toBe(2)
    fs.mkdirSync(path.join(f.runsDir, "dir", "results.json"), { recursive: true })
    const exit = await Effect.runPromiseExit(collectGarbage(f.root, { keep: "runs", runsDirs: [f.runsDir] }))
    expect(JSON.stringify(exit)).toContain("UnreadableRun")
  })

  test("a results.json written for another cache is not counted", async () => {
    writeResults(path.join(f.runsDir, "c"), "gamma", "2026-01-03T00:00:00.000Z", path.join(tmp, "elsewhere"), f.a)
    const r = await gc({ keep: { last: 1 } })
    expect(r.keptRuns.map((k) => k.pipeline)).toEqual(["beta"])
    expect(r.notes.join("\n")).toContain("not this one")
  })
})

describe("run log", () => {
  test("recordRun appends a record readRunLog reads back; gc keeps it while its out dir shows it", async () => {
    const out = path.join(f.root, "..", "elsewhere-out")
    fs.mkdirSync(out)
    const orphanKeys = [f.orphan.key]
    const file = await Effect.runPromise(
      recordRun(f.root, { pipeline: "delta", out, startedAt: "2026-01-04T00:00:00.000Z", status: "ok", keys: orphanKeys })
    )
    expect(path.basename(file)).toBe(`2026-01-04T00-00-00.000Z-delta-${process.pid}.json`)
    age(file)
    const log = await Effect.runPromise(readRunLog(f.root))
    expect(log.runs.map((r) => [r.pipeline, r.out, r.keys])).toEqual([["delta", out, orphanKeys]])
    await gc()
    expect(fs.existsSync(entry(f.root, "steps", f.orphan.key))).toBe(true)
    fs.rmSync(out, { recursive: true })
    const r = await gc()
    expect(fs.existsSync(entry(f.root, "steps", f.orphan.key))).toBe(false)
    expect(r.deleted.runRecords.count).toBe(1)
    expect(fs.existsSync(file)).toBe(false)
  })

  test("a run recorded as running by a live process keeps everything written since it started", async () => {
    const startedAt = new Date(Date.now() - 3 * 3600_000).toISOString()
    await Effect.runPromise(recordRun(f.root, { pipeline: "live", out: f.root, startedAt, status: "running", keys: [] }))
    const r = await gc({ graceMinutes: 0 })
    expect(r.liveRuns.map((l) => l.pid)).toEqual([process.pid])
    expect(fs.existsSync(entry(f.root, "steps", f.orphan.key))).toBe(true)
    expect(r.deleted.steps.count).toBe(0)
  })

  test("a malformed record is reported and left in place", async () => {
    const bad = path.join(f.root, "runs", "bad.json")
    fs.mkdirSync(path.dirname(bad), { recursive: true })
    fs.writeFileSync(bad, JSON.stringify({ pipeline: 1 }))
    const log = await Effect.runPromise(readRunLog(f.root))
    expect(log.problems.map((p) => p.file)).toEqual([bad])
    await gc()
    expect(fs.existsSync(bad)).toBe(true)
  })
})

describe("status", () => {
  test("rows add up to the total; a blob shared by two steps is counted once; runs overlap", async () => {
    const s = await Effect.runPromise(cacheStatus(f.root, [f.runsDir]))
    const onDisk = files(f.root).reduce((sum, p) => sum + fs.statSync(p).size, 0)
    expect(s.total).toEqual({ count: files(f.root).length, bytes: onDisk })
    const parts = [
      ...s.steps.flatMap((r) => [r.entries.bytes, r.blobs.bytes]),
      s.sharedBlobs.bytes,
      s.checkpoints.entries.bytes,
      s.checkpoints.blobs.bytes,
      s.unreferencedBlobs.bytes,
      s.unreadableEntries.bytes,
      s.claims.length === 1 ? fs.statSync(path.join(f.root, "claims", `${f.claimed.key}.claim`)).size : NaN,
      s.runLog.bytes,
      s.temps.bytes,
      s.other.bytes
    ]
    expect(parts.reduce((x, y) => x + y, 0)).toBe(onDisk)
    expect(s.steps.map((r) => [r.step, r.entries.count])).toEqual([["double", 3], ["source", 3]])
    // Every source blob is also named by a double entry: all three are shared, none is source's own.
    expect(s.sharedBlobs.count).toBe(3)
    expect(s.steps.find((r) => r.step === "source")!.blobs.count).toBe(0)
    expect(s.checkpoints.entries.count).toBe(2)
    expect(s.claims.map((c) => c.key)).toEqual([f.claimed.key])
    expect(s.temps.count).toBe(1)
    const [a, b] = s.runs
    expect([a!.pipeline, a!.present, a!.keys, b!.pipeline, b!.present, b!.keys]).toEqual(["alpha", 2, 2, "beta", 3, 3])
    expect(a!.ownBytes).toBeLessThan(a!.bytes)
  })
})

describe("pipelines/cache.ts", () => {
  const cli = (args: string[]) => {
    const p = Bun.spawnSync([process.execPath, "run", "pipelines/cache.ts", ...args], {
      cwd: repo,
      env: { ...process.env, LWI_CACHE: "" }
    })
    return { code: p.exitCode, stdout: p.stdout.toString(), stderr: p.stderr.toString() }
  }

  test("status, gc --dry-run, gc --json: exit 0 and say what they did", { timeout: 60_000 }, () => {
    const status = cli(["status", "--cache", f.root, "--runs", f.runsDir])
    expect(status.code).toBe(0)
    expect(status.stdout).toMatch(/\| double \| 3 \|/)
    expect(status.stdout).toMatch(/\| alpha \| 2026-01-01/)
    const dry = cli(["gc", "--cache", f.root, "--runs", f.runsDir, "--dry-run"])
    expect(dry.code).toBe(0)
    expect(dry.stdout).toContain("would delete 2 step entries")
    expect(fs.existsSync(entry(f.root, "steps", f.orphan.key))).toBe(true)
    const real = cli(["gc", "--cache", f.root, `--runs=${f.runsDir}`, "--json"])
    expect(real.code).toBe(0)
    expect(JSON.parse(real.stdout).deleted.steps.count).toBe(2)
    expect(fs.existsSync(entry(f.root, "steps", f.orphan.key))).toBe(false)
  })

  test("--help; bad input is one line and exit 2 (usage) or 1", { timeout: 60_000 }, () => {
    const help = cli(["--help"])
    expect(help.code).toBe(0)
    expect(help.stdout).toContain("--keep-last")
    expect(help.stdout).toContain("gc ")
    for (const [args, code, message] of [
      [["frob"], 2, 'unknown command "frob"'],
      [["status", "--bogus"], 2, "unknown flag --bogus"],
      [["gc", "--keep-last", "x", "--cache", f.root], 2, "--keep-last must be a whole number"],
      [["status", "--cache", path.join(tmp, "nope")], 1, `no cache at ${path.join(tmp, "nope")}; pass --cache DIR`],
      [["gc", "--cache", f.root, "--runs", path.join(tmp, "nope")], 2, "no such directory"]
    ] as const) {
      const r = cli([...args])
      expect([r.code, r.stderr]).toEqual([code, expect.stringContaining(message)])
      expect(r.stderr).not.toMatch(/\n\s+at /)
    }
  })

  test("a malformed results.json is a warning, not a failure", { timeout: 60_000 }, () => {
    fs.mkdirSync(path.join(f.runsDir, "broken"))
    fs.writeFileSync(path.join(f.runsDir, "broken", "results.json"), "[]")
    const r = cli(["status", "--cache", f.root, "--runs", f.runsDir])
    expect(r.code).toBe(0)
    expect(r.stderr).toContain(`warning: ${path.join(f.runsDir, "broken", "results.json")}: not a pipeline results.json`)
  })
})
