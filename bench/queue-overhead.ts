/**
 * What the queue itself costs per step: a trivial step (no tensors, one 64-byte artifact) submitted through a
 * redis-server on loopback to one worker in this process, against the shared cache on disk. Latency: one job at a time
 * (submit, wait, read the result from the cache); throughput: `--jobs` distinct keys submitted at once. Load average
 * printed: other jobs share this machine.
 *
 *   bun run bench/queue-overhead.ts [--jobs 200]
 */
import { Effect, Schema } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import * as os from "node:os"
import { join } from "node:path"
import { ArtifactRef, putJson } from "../shared/engine/artifacts.ts"
import { parseFlagsOrExit } from "../shared/engine/flags.ts"
import { step } from "../shared/engine/pipeline.ts"
import { makeQueueClient } from "../shared/engine/queue/client.ts"
import { startRedisServer } from "../shared/engine/queue/server.ts"
import { startWorker } from "../shared/engine/queue/worker.ts"
import { makeRecordingReporter } from "../shared/engine/reporter.ts"
import { runtime } from "../shared/engine/runner.ts"
import { defineStep } from "../shared/engine/step.ts"
import { makeDiskStore } from "../shared/engine/store.ts"
import { makeEngine, runWithEngine } from "../shared/engine/testing.ts"

const config = parseFlagsOrExit({
  jobs: { kind: "int", default: 200, check: "number.integer >= 1", doc: "jobs for the throughput figure" },
  help: { kind: "boolean", default: false, doc: "show this help" }
} as const)

const trivial = defineStep({
  name: "trivial",
  code: import.meta.url,
  input: Schema.Struct({ n: Schema.Int, run: Schema.String }),
  output: Schema.Struct({ value: ArtifactRef }),
  run: (input) => Effect.map(putJson({ n: input.n, pad: "x".repeat(40) }), (value) => ({ value }))
})

const dir = mkdtempSync(join(os.tmpdir(), "lwi-bench-queue-"))
const server = await startRedisServer({ dir: join(dir, "redis") })
const cache = join(dir, "cache")
const reporter = makeRecordingReporter().reporter
const environment = { bench: true }
const worker = await startWorker({ url: server.url, store: makeDiskStore(cache), reporter, steps: { trivial }, runtime: runtime(), environment })
const client = makeQueueClient({ url: server.url, runtime: runtime(), environment, reporter, pollMs: 1000 })
const engine = () => {
  const e = makeEngine({ store: makeDiskStore(cache), reporter, environment })
  e.runner.remote = client
  return e
}
const run = String(Date.now()) // fresh keys each time the bench runs

try {
  const load = os.loadavg()[0]!
  const sequential = 50
  let t0 = performance.now()
  for (let n = 0; n < sequential; n++) await runWithEngine(step(trivial, { n, run: `${run}-seq` }), engine())
  const latencyMs = (performance.now() - t0) / sequential
  t0 = performance.now()
  const e = engine()
  await runWithEngine(Effect.forEach(Array.from({ length: config.jobs }, (_, n) => n), (n) => step(trivial, { n, run }), { concurrency: "unbounded" }), e)
  const perSecond = config.jobs / ((performance.now() - t0) / 1000)
  console.log(`queue overhead (${os.cpus().length} × ${os.cpus()[0]?.model}, load ${load.toFixed(1)}): ${latencyMs.toFixed(1)} ms per job one at a time (${sequential} jobs); ${perSecond.toFixed(0)} jobs/s with ${config.jobs} submitted at once to 1 worker`)
} finally {
  await client.close()
  await worker.stop()
  await server.stop()
  rmSync(dir, { recursive: true, force: true })
}
