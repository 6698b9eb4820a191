/** bench/monitor-overhead.ts runs and prints its table's rows (no timing is asserted: figures live in BENCHMARKS.md). */
import { describe, expect } from "bun:test"
import * as path from "node:path"
import { requiring } from "../requirements.ts"

const root = path.resolve(import.meta.dir, "../..")
// It trains on real Fashion-MNIST batches, as the pipelines do; CI requires them.
const withData = await requiring("fashion-mnist")

describe("monitor-overhead benchmark (needs Fashion-MNIST)", () => {
  withData("a tiny run prints one JSON line: off, every K and every step, per model", () => {
    const cmd = [process.execPath, "run", "bench/monitor-overhead.ts", "--json", "--models", "lenet", "--steps", "2", "--rounds", "1", "--warmup", "0", "--every", "2", "--samples", "64"]
    const p = Bun.spawnSync(cmd, { cwd: root, stderr: "pipe" })
    if (p.exitCode !== 0) throw new Error(`${cmd.join(" ")} failed: ${p.stderr.toString()}`)
    const r = JSON.parse(p.stdout.toString().trim().split("\n").at(-1)!)
    expect(r).toMatchObject({ bench: "monitor-overhead", batch: 32, steps: 2, rounds: 1 })
    expect(r.rows.map((row: { model: string; every: number }) => [row.model, row.every])).toEqual([["lenet", 2], ["lenet", 1]])
    for (const row of r.rows) {
      expect(row.msOff).toBeGreaterThan(0)
      expect(row.msOn).toBeGreaterThan(0)
      expect(Number.isFinite(row.overhead)).toBe(true)
    }
  })
})
