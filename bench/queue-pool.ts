/**
 * lenet-init-grid run locally (1 process), then on a pool of 1 and of 2 workers (pipelines/worker.ts, 1 thread each)
 * through a redis-server this script starts on loopback, each on an empty cache: wall time of the pipeline (workers are
 * started and listening before the clock starts) and whether its figures are the local run's, with the 1-minute load
 * average read just before each run (other jobs share this machine).
 *
 *   bun run bench/queue-pool.ts [--grid="--quick"] [--workers 1,2] [--json]
 *   bun run bench/queue-pool.ts --grid="--quick --subset 4000 --epochs 3"     # a larger grid (= : the value starts with --)
 */
import { mkdtempSync, rmSync } from "node:fs"
import * as os from "node:os"
import { join, resolve } from "node:path"
import { parseFlagsOrExit } from "../shared/engine/flags.ts"
import { markdownTable } from "../shared/engine/report.ts"
import { type Collected, figuresOf, runToResults, startBun } from "../shared/engine/queue/pool.ts"
import { startRedisServer } from "../shared/engine/queue/server.ts"

const flags = {
  grid: { kind: "string", default: "--quick", doc: "lenet-init-grid's flags (the grid measured)" },
  workers: { kind: "string", default: "1,2", check: "/^\\d+(,\\d+)*$/", doc: "pool sizes" },
  json: { kind: "boolean", default: false, doc: "also print the rows as JSON" },
  help: { kind: "boolean", default: false, doc: "show this help" }
} as const

const config = parseFlagsOrExit(flags)
const root = resolve(import.meta.dir, "..")
const dir = mkdtempSync(join(os.tmpdir(), "lwi-bench-pool-"))
const server = await startRedisServer({ dir: join(dir, "redis") })
const grid = ["pipelines/lenet-init-grid.ts", ...config.grid.split(/\s+/).filter((a) => a !== ""), "--threads", "1"]
const fields = ["experiments", "layerStats", "splits"]

const measure = async (label: string, workers: number) => {
  const cache = join(dir, `cache-${label}`)
  const pool: Collected[] = []
  for (let i = 0; i < workers; i++) {
    pool.push(startBun(["pipelines/worker.ts", "--queue", server.url, "--cache", cache, "--threads", "1"], root))
  }
  for (const w of pool) while (!w.output().includes("listening on")) await Bun.sleep(100)
  const load = os.loadavg()[0]!
  const t0 = performance.now()
  const results = await runToResults([...grid, "--cache", cache, ...(workers > 0 ? ["--queue", server.url] : [])], root, join(dir, `out-${label}`))
  const seconds = (performance.now() - t0) / 1000
  for (const w of pool) w.proc.kill("SIGTERM")
  await Promise.all(pool.map((w) => w.proc.exited))
  const steps = (results.steps as ReadonlyArray<{ cached: boolean }>).filter((s) => !s.cached).length
  const accuracy = (results.experiments as ReadonlyArray<{ id: string; testAccuracy: number }>).map((e) => `${(100 * e.testAccuracy).toFixed(1)}`).join(" ")
  return { label, seconds, load, steps, figures: figuresOf(results, fields), accuracy }
}

try {
  const rows = [await measure("1 local process", 0)]
  for (const n of config.workers.split(",").map(Number)) rows.push(await measure(`${n} worker${n === 1 ? "" : "s"}`, n))
  const local = rows[0]!.figures
  console.log(`lenet-init-grid ${config.grid}, ${os.cpus().length} × ${os.cpus()[0]?.model}, 1 thread per process`)
  console.log(
    markdownTable(
      ["run", "wall (s)", "load before", "steps computed", "figures = local run's", "test accuracy per experiment (%)"],
      rows.map((r) => [r.label, r.seconds.toFixed(1), r.load.toFixed(1), String(r.steps), r.figures === local ? "yes" : "NO", r.accuracy])
    )
  )
  if (config.json) console.log(JSON.stringify(rows.map(({ figures, ...r }) => ({ ...r, identical: figures === local }))))
} finally {
  await server.stop()
  rmSync(dir, { recursive: true, force: true })
}
