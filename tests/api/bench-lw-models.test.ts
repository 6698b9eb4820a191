/** bench/lw-models.ts runs and prints what BENCHMARKS.md's LW-on-real-models table is made from (no timing asserted). */
import { expect, test } from "bun:test"
import * as path from "node:path"

const root = path.resolve(import.meta.dir, "../..")

test("bench/lw-models.ts --quick: one JSON line per model, LW and an epoch timed, every kernel layer but the classifier learned", () => {
  const p = Bun.spawnSync([process.execPath, "run", "bench/lw-models.ts", "--quick", "--json", "--backend", "cpu"], { cwd: root, stderr: "pipe" })
  if (p.exitCode !== 0) throw new Error(`bench/lw-models.ts failed: ${p.stderr.toString()}`)
  const out = p.stdout.toString()
  const lines = out.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l))
  expect(lines.map((l) => l.model)).toEqual(["mobilenet", "mlp"])
  const [cnn, mlp] = lines
  // stem + 2 depthwise + 2 pointwise convs are learned, not the classifier; the MLP's 3.
  expect(cnn).toMatchObject({ bench: "lw-models", backend: "cpu", lwBatch: 16, epochImages: 64, trainSteps: 2 })
  expect(mlp).toMatchObject({ lwLayers: 3, notLearned: 0, trainSteps: 2 })
  expect(cnn).toMatchObject({ lwLayers: 5, notLearned: 0, notLearnedKinds: [] })
  for (const r of lines) {
    expect(r.lwEpochs).toBeGreaterThanOrEqual(r.lwLayers)
    expect(r.lwEpochs).toBeLessThanOrEqual(5 * r.lwLayers)
    expect(r.lwSeconds).toBeGreaterThan(0)
    expect(r.trainSeconds).toBeGreaterThan(0)
    expect(Number.isFinite(r.finalLoss)).toBe(true)
  }
  expect(out).toContain("| MobileNet-style (8,16/2) |")
})
