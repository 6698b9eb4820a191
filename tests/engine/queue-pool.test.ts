/**
 * A pool of worker processes on a redis-server this test starts (free loopback port, temp dir): `lenet-init-grid
 * --quick` with `--queue` and two workers gives the local run's figures; a worker SIGKILLed in the middle of a
 * `train` step loses its lock, BullMQ's stalled-job check hands the job to another worker, which resumes from the
 * checkpoint in the shared cache, and the figures are still the local run's.
 */
import { afterAll, beforeAll, describe, expect } from "bun:test"
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { type Collected, figuresOf, runToResults, startBun } from "../../shared/engine/queue/pool.ts"
import { type RedisServer, startRedisServer } from "../../shared/engine/queue/server.ts"
import { requiring } from "../requirements.ts"

const root = resolve(import.meta.dir, "../..")

const until = async (what: string, ok: () => boolean, timeoutMs: number) => {
  for (const t0 = Date.now(); !ok(); await Bun.sleep(100)) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`)
  }
}

interface Results {
  readonly steps: ReadonlyArray<{ name: string; cached: boolean; resumed: boolean }>
}

/** Runs lenet-init-grid --quick to completion; its results.json. */
const grid = async (args: ReadonlyArray<string>, cache: string, out: string) =>
  (await runToResults(["pipelines/lenet-init-grid.ts", "--quick", "--threads", "1", "--cache", cache, ...args], root, out)) as Record<string, unknown> & Results

const figures = (r: Record<string, unknown>) => figuresOf(r, ["experiments", "layerStats", "splits"])

const withPool = await requiring("redis", "fashion-mnist")

describe("a pool of workers (redis-server on loopback, worker processes)", () => {
  let dir: string
  let server: RedisServer
  const procs: Collected[] = []
  const worker = (cache: string, lockSeconds = 30) => {
    const w = startBun(["pipelines/worker.ts", "--queue", server.url, "--cache", cache, "--threads", "1", "--lock-seconds", String(lockSeconds)], root)
    procs.push(w)
    return w
  }
  const stop = async (w: Collected) => {
    w.proc.kill("SIGTERM")
    await w.proc.exited
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "lwi-pool-"))
    server = await startRedisServer({ dir: join(dir, "redis") })
  })
  afterAll(async () => {
    for (const p of procs) if (p.proc.exitCode === null && p.proc.signalCode === null) p.proc.kill("SIGKILL")
    await server?.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  withPool("lenet-init-grid --quick on two workers: the local run's figures", async () => {
    const local = await grid([], join(dir, "local-cache"), join(dir, "out", "local"))
    const shared = join(dir, "shared-cache")
    const workers = [worker(shared), worker(shared)]
    const distributed = await grid(["--queue", server.url], shared, join(dir, "out", "distributed"))
    await Promise.all(workers.map(stop))
    expect(figures(distributed)).toBe(figures(local))
    expect(distributed.steps.length).toBe(local.steps.length)
    // Both workers took jobs; each computed key was computed once across the pool.
    const done = workers.map((w) => (w.output().match(/✓ \S+ \[[0-9a-f]{10}\] (resumed and )?done in/g) ?? []).length)
    expect(done.every((n) => n > 0)).toBe(true)
    expect(done[0]! + done[1]!).toBe(local.steps.filter((s) => !s.cached).length)
  }, 240_000)

  withPool("a worker SIGKILLed mid-train: another takes its job over and resumes from the checkpoint; same figures", async () => {
    const flags = ["--activations", "relu", "--epochs", "3", "--subset", "500", "--test-subset", "200"]
    const local = await grid(flags, join(dir, "local-cache-kill"), join(dir, "out", "local-kill"))
    const shared = join(dir, "shared-cache-kill")
    const first = worker(shared, 2)
    const pipeline = grid([...flags, "--queue", server.url], shared, join(dir, "out", "distributed-kill"))
    // The first epoch's checkpoint of a train step is in the shared cache: kill the worker in the middle of the step.
    const checkpoints = join(shared, "checkpoints")
    await until("a train checkpoint", () => existsSync(checkpoints) && readdirSync(checkpoints).some((f) => f.endsWith(".json")), 120_000)
    first.proc.kill("SIGKILL")
    await first.proc.exited
    const second = worker(shared, 2)
    const distributed = await pipeline
    await stop(second)
    expect(second.output()).toContain("resumed and done")
    expect(distributed.steps.some((s) => s.name === "train" && s.resumed)).toBe(true)
    expect(figures(distributed)).toBe(figures(local))
  }, 240_000)
})
