/**
 * Steps as jobs (shared/engine/queue/): the protocol's pure parts, then a real redis-server on a free loopback port
 * in a temp dir with a worker in this process, the pipeline side being a runner whose misses go to the queue. The
 * pool of worker processes (a real pipeline, a killed worker) is tests/engine/queue-pool.test.ts.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import { Effect, Exit } from "effect"
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { makeQueueClient, type QueueClient } from "../../shared/engine/queue/client.ts"
import { InvalidQueueUrl, WorkerRefused } from "../../shared/engine/queue/errors.ts"
import { connectionFor, queueName } from "../../shared/engine/queue/protocol.ts"
import { PASSWORD_ENV, RedisServerError, type RedisServer, redisConfig, startRedisServer } from "../../shared/engine/queue/server.ts"
import { contextDifferences, type RunningWorker, startWorker } from "../../shared/engine/queue/worker.ts"
import { makeRecordingReporter } from "../../shared/engine/reporter.ts"
import { keyOf, runtime } from "../../shared/engine/runner.ts"
import { step } from "../../shared/engine/pipeline.ts"
import { makeDiskStore } from "../../shared/engine/store.ts"
import { engineLayer, makeEngine, runWithEngine } from "../../shared/engine/testing.ts"
import { stepRegistry } from "../../steps/index.ts"
import { refuseLarge, runs, square } from "./fixtures/queue-steps.ts"
import { requiring } from "../requirements.ts"

describe("queue protocol", () => {
  test("the server binds loopback only, unless a password is given", () => {
    const base = { port: 6379, dir: "/tmp/x", daemonize: false }
    expect(redisConfig({ ...base, bind: "127.0.0.1" })).toContain("bind 127.0.0.1")
    expect(() => redisConfig({ ...base, bind: "0.0.0.0" })).toThrow(RedisServerError)
    expect(() => redisConfig({ ...base, bind: "0.0.0.0" })).toThrow(PASSWORD_ENV)
    expect(redisConfig({ ...base, bind: "0.0.0.0", password: "s3cret" })).toContain("requirepass s3cret")
  })

  test("--queue URLs: redis://HOST:PORT, the password from the URL or the environment", () => {
    expect(() => connectionFor("http://x:1")).toThrow(InvalidQueueUrl)
    expect(() => connectionFor("redis://host")).toThrow("host and port are required")
    expect(connectionFor("redis://h:7000", { [PASSWORD_ENV]: "pw" })).toMatchObject({ host: "h", port: 7000, password: "pw" })
    expect(connectionFor("redis://:a%40b@h:7000", {})).toMatchObject({ password: "a@b" })
  })

  test("a queue per environment; the worker names what differs", () => {
    expect(queueName("bun 1", { threads: 1 })).not.toBe(queueName("bun 1", { threads: 2 }))
    expect(queueName("bun 1", { threads: 1 })).toBe(queueName("bun 1", { threads: 1 }))
    expect(contextDifferences({ code: "a", environment: { threads: 1, isa: "x" } }, { code: "a", environment: { threads: 2, isa: "x" } })).toEqual([
      "environment.threads"
    ])
    expect(contextDifferences({ code: "a", runtime: "bun 1" }, { code: "b", runtime: "bun 1", environment: {} })).toEqual(["code", "environment"])
  })

  test("the registry holds every step of steps/, by its name", async () => {
    const found: string[] = []
    for (const file of readdirSync(join(import.meta.dir, "../../steps")).filter((f) => f.endsWith(".ts") && f !== "index.ts")) {
      const module = (await import(`../../steps/${file}`)) as Record<string, unknown>
      for (const value of Object.values(module)) {
        const s = value as { name?: unknown; code?: unknown; run?: unknown }
        if (typeof s?.run === "function" && typeof s.code === "string" && typeof s.name === "string") {
          found.push(s.name)
          expect(stepRegistry[s.name]).toBe(value as never)
        }
      }
    }
    expect(found.sort()).toEqual(Object.keys(stepRegistry).sort())
  })
})

const withRedis = await requiring("redis")

withRedis("a server with a password: its config readable by its owner only, the password never on a command line", async () => {
  const dir = mkdtempSync(join(tmpdir(), "lwi-redis-pw-"))
  // An older config with loose permissions is tightened, not kept.
  writeFileSync(join(dir, "redis.conf"), "old", { mode: 0o644 })
  const spawned: string[][] = []
  const original = Bun.spawnSync
  // Records every command line the start-up runs (redis-cli's ping), to check the password is not among them.
  Bun.spawnSync = ((args: string[], options?: unknown) => (spawned.push([...args]), original(args as never, options as never))) as typeof Bun.spawnSync
  let server: RedisServer | undefined
  try {
    server = await startRedisServer({ dir, port: 0, password: "pw-s3cret" })
    expect(statSync(join(dir, "redis.conf")).mode & 0o777).toBe(0o600)
    expect(spawned.length).toBeGreaterThan(0)
    expect(spawned.flat().join(" ")).not.toContain("pw-s3cret")
  } finally {
    Bun.spawnSync = original
    await server?.stop()
    rmSync(dir, { recursive: true, force: true })
  }
}, 30_000)

describe("steps on a worker (redis-server on loopback, worker in process)", () => {
  let dir: string
  let server: RedisServer
  const workers: RunningWorker[] = []
  const clients: QueueClient[] = []
  const environment = { backend: "test", threads: 1 }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "lwi-queue-"))
    server = await startRedisServer({ dir: join(dir, "redis") })
  })
  afterAll(async () => {
    await Promise.all([...clients.map((c) => c.close()), ...workers.map((w) => w.stop())])
    await server?.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  const cache = () => join(dir, "cache")
  const worker = async (env: Record<string, unknown> = environment) => {
    const w = await startWorker({
      url: server.url,
      store: makeDiskStore(cache()),
      reporter: makeRecordingReporter().reporter,
      steps: { square, "refuse-large": refuseLarge },
      runtime: runtime(),
      environment: env
    })
    workers.push(w)
    return w
  }
  /** The pipeline's side: a runner whose misses go to the queue of `environment`. */
  const pipeline = () => {
    const recording = makeRecordingReporter()
    const client = makeQueueClient({ url: server.url, runtime: runtime(), environment, reporter: recording.reporter, pollMs: 200 })
    clients.push(client)
    const engine = makeEngine({ store: makeDiskStore(cache()), reporter: recording.reporter, environment })
    engine.runner.remote = client
    return { engine, client, recording }
  }

  withRedis("a miss runs on the worker and is read from the cache; a hit is not submitted; one key is computed once", async () => {
    await worker()
    const a = pipeline()
    const before = runs.square
    const out = await runWithEngine(step(square, { n: 7, delayMs: 0 }), a.engine)
    expect(runs.square).toBe(before + 1)
    // results.json's steps[] says which worker ran it.
    expect(a.engine.runner.records.at(-1)).toMatchObject({ name: "square", cached: false, worker: workers.at(-1)!.name })
    expect(a.recording.lines.join("\n")).toMatch(/square \[[0-9a-f]{10}\] done by worker/)

    // Another pipeline run: a hit, read from the cache without a job.
    const b = pipeline()
    expect(await runWithEngine(step(square, { n: 7, delayMs: 0 }), b.engine)).toEqual(out)
    expect(b.engine.runner.records.at(-1)).toMatchObject({ cached: true })
    expect(runs.square).toBe(before + 1)

    // Two pipelines asking at once for a key nobody has: one job (its id is the key), one computation.
    const [c, d] = [pipeline(), pipeline()]
    const both = await Promise.all([c, d].map((p) => runWithEngine(step(square, { n: 8, delayMs: 300 }), p.engine)))
    expect(both[0]).toEqual(both[1])
    expect(runs.square).toBe(before + 2)
  }, 30_000)

  withRedis("a step's failure comes back as its own typed error", async () => {
    const p = pipeline()
    const exit = await runWithEngine(Effect.exit(step(refuseLarge, { n: 11 })), p.engine)
    const caught = await runWithEngine(
      step(refuseLarge, { n: 11 }).pipe(Effect.catchTag("TooLarge", (e) => Effect.succeed(`caught ${e._tag}: ${e.message} (${e.field})`))),
      p.engine
    )
    expect(Exit.isFailure(exit)).toBe(true)
    expect(caught).toBe("caught TooLarge: n = 11 is too large (n)")
  }, 30_000)

  withRedis("a worker never serves another environment's key: the job waits for a worker that matches; a tampered context is refused", async () => {
    for (const w of workers.splice(0)) await w.stop()
    await worker({ backend: "test", threads: 2 }) // another build: listens on another queue
    const p = pipeline()
    const before = runs.square
    const waiting = await Effect.runPromise(Effect.exit(Effect.timeout(step(square, { n: 9, delayMs: 0 }).pipe(Effect.provide(engineLayer(p.engine))), 2000)))
    expect(Exit.isFailure(waiting)).toBe(true) // timed out: nobody took it
    expect(runs.square).toBe(before)
    await worker() // a matching worker takes the job that waited
    await runWithEngine(step(square, { n: 9, delayMs: 0 }), pipeline().engine) // (p's runner saw its wait interrupted)
    expect(runs.square).toBe(before + 1)

    // The worker checks each job's key context against its own: another checkout's code is refused, nothing cached.
    const input = { n: 10, delayMs: 0 }
    const { key, context } = await runWithEngine(keyOf(square, input), p.engine)
    const refused = await Effect.runPromise(Effect.flip(p.client.run({ step: "square", key, input, context: { ...context, code: "0".repeat(64) }, fresh: false })))
    expect(refused).toBeInstanceOf(WorkerRefused)
    expect((refused as WorkerRefused).differences).toEqual(["code"])
    expect(refused.message).toContain("same checkout")
    expect(await Effect.runPromise(makeDiskStore(cache()).getEntry("steps", key))).toBeUndefined()
    expect(runs.square).toBe(before + 1)
  }, 30_000)
})
