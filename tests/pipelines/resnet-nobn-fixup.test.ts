/**
 * resnet-nobn's two Fixup rows as a user runs them (`--quick`, a Fashion-MNIST-format dataset the test writes): full
 * Fixup (its scalar biases and multipliers on the no-BN ResNet18) and its initialization alone on the plain net.
 */
import { afterAll, expect, setDefaultTimeout, test } from "bun:test"
import * as fs from "node:fs"
import * as path from "node:path"
import { makeTempDir, writeMnistDir } from "../data/fixtures.ts"
import { runPipelineProcess } from "./run.ts"

// As `npm test` (--timeout 300000): a real pipeline process training two ResNet18s on 2 shared cores.
setDefaultTimeout(300_000)

const temp = await makeTempDir("lwi-resnet-nobn-fixup-")
afterAll(() => temp.cleanup())

interface Row {
  readonly id: string
  readonly testAccuracy: number
  readonly diverged: boolean
  readonly epochs: number
}
interface Stats {
  readonly name: string
  readonly outputVar: number
}

test("--experiments fixup,fixup-init: both rows train, each with its start's per-layer evidence", async () => {
  const data = path.join(temp.dir, "fashion-mnist")
  await writeMnistDir(data, { nTrain: 160, nTest: 40, h: 28, w: 28, gzip: true })
  const out = path.join(temp.dir, "out")
  const common = ["--quick", "--threads", "1", "--data", data, "--subset", "96", "--test-subset", "40", "--validation", "20"]
  const { code, stderr } = await runPipelineProcess("resnet-nobn", [...common, "--experiments", "fixup-init,fixup", "--cache", path.join(temp.dir, "cache"), "--out", out])
  if (code !== 0) throw new Error(`resnet-nobn exited ${code}:\n${stderr.slice(-3000)}`)
  const r = JSON.parse(fs.readFileSync(path.join(out, "results.json"), "utf8"))
  // The reference's tenth of the rate for the scalars, by default, recorded with the run.
  expect(r.config.fixupLrFactor).toBe(0.1)
  // In the plan's order, whatever order they were asked in.
  expect(r.experiments.map((e: Row) => e.id)).toEqual(["Fixup (no BN)", "Fixup init only, no scalar biases/multipliers (no BN)"])
  for (const e of r.experiments as Row[]) {
    expect(e.diverged).toBe(false)
    expect(e.epochs).toBe(1)
    expect(e.testAccuracy).toBeGreaterThanOrEqual(0)
    expect(e.testAccuracy).toBeLessThanOrEqual(1)
  }
  // Two different networks: two init-weights draws, two trainings (no cache hit between them).
  const steps = r.steps as Array<{ name: string; cached: boolean }>
  expect(steps.filter((s) => s.name === "init-weights" && !s.cached)).toHaveLength(2)
  expect(steps.filter((s) => s.name === "train" && !s.cached)).toHaveLength(2)
  // The evidence runs on Fixup's network (its scalars on the activation path): every conv and fc, branch ends at 0.
  const full = r.layerStats["Fixup (no BN)"] as Stats[]
  expect(full.map((s) => s.name)).toHaveLength(21)
  expect(full.at(-1)!.name).toBe("fc")
  for (const s of full.filter((s) => s.name.endsWith(".conv2") || s.name === "fc")) expect(s.outputVar).toBe(0)
  expect(Object.keys(r.layerStats)).toContain("Fixup init only, no scalar biases/multipliers (no BN)")
  const report = fs.readFileSync(path.join(out, "report.md"), "utf8")
  expect(report).toContain("| Fixup (no BN) |")
})
