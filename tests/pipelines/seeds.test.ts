/**
 * `--seeds N` in resnet-nobn and lenet-init-grid, as a user runs them (`--quick`, a Fashion-MNIST-format dataset the
 * test writes): every row trained once per seed, results.json's `overSeeds` with each seed's figures and their
 * mean ± sd, the report's table and figure; a bad `--seeds` refused before any work. The one-seed run is unchanged
 * (its keys are the ones it always had): the default `--seeds 1` writes no `overSeeds`.
 */
import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test"
import Ajv2020 from "ajv/dist/2020.js"
import * as fs from "node:fs"
import * as path from "node:path"
import { resultsIssues } from "../../shared/engine/results.ts"
import { pipelineResults } from "../../pipelines/lib/results.ts"
import { SCHEMAS_DIR } from "../../scripts/results-schema.ts"
import { meanSd, summarizeSeeds } from "../../pipelines/lib/over-seeds.ts"
import { makeTempDir, writeMnistDir } from "../data/fixtures.ts"
import { runPipelineProcess } from "./run.ts"

// As `npm test` (--timeout 300000): real pipeline processes training small networks on 2 shared cores.
setDefaultTimeout(300_000)

const temp = await makeTempDir("lwi-seeds-")
afterAll(() => temp.cleanup())
const data = path.join(temp.dir, "fashion-mnist")
await writeMnistDir(data, { nTrain: 160, nTest: 40, h: 28, w: 28, gzip: true })
const cache = path.join(temp.dir, "cache")
const common = ["--quick", "--threads", "1", "--data", data, "--subset", "96", "--test-subset", "40", "--validation", "20", "--cache", cache]

const run = async (pipeline: string, args: ReadonlyArray<string>) => {
  const out = path.join(temp.dir, "out", pipeline)
  const { code, stderr } = await runPipelineProcess(pipeline, [...common, "--out", out, ...args])
  if (code !== 0) throw new Error(`${pipeline} exited ${code}:\n${stderr.slice(-3000)}`)
  return { results: JSON.parse(fs.readFileSync(path.join(out, "results.json"), "utf8")), report: fs.readFileSync(path.join(out, "report.md"), "utf8"), out }
}

interface SeedRun {
  readonly seed: number
  readonly testAccuracy: number
  readonly testLoss: number | null
  readonly diverged: boolean
  readonly initial: { readonly loss: number | null }
}
interface Row {
  readonly id: string
  readonly testAccuracy: { mean: number | null; sd: number | null; n: number }
  readonly testLoss: { mean: number | null; sd: number | null; n: number }
  readonly diverged: number
  readonly perSeed: ReadonlyArray<SeedRun>
}

/** Each row has one run per seed, each a distinct training, the first the `experiments` record; the summary is theirs. */
const expectOverSeeds = (r: { experiments: ReadonlyArray<{ id: string; testAccuracy: number; testLoss: number | null }>; overSeeds: { seeds: number[]; rows: Row[] } }) => {
  expect(r.overSeeds.seeds).toEqual([0, 1])
  expect(r.overSeeds.rows.map((row) => row.id)).toEqual(r.experiments.map((e) => e.id))
  for (const row of r.overSeeds.rows) {
    expect(row.perSeed.map((p) => p.seed)).toEqual([0, 1])
    const [a, b] = row.perSeed as [SeedRun, SeedRun]
    // Two trainings from two draws: the first batch's loss and the test loss differ.
    expect(a.initial.loss).not.toBe(b.initial.loss)
    expect(a.testLoss).not.toBe(b.testLoss)
    const first = r.experiments.find((e) => e.id === row.id)!
    expect([a.testAccuracy, a.testLoss]).toEqual([first.testAccuracy, first.testLoss])
    const accs = row.perSeed.map((p) => p.testAccuracy)
    const mean = (accs[0]! + accs[1]!) / 2
    expect(row.testAccuracy.n).toBe(2)
    expect(row.testAccuracy.mean).toBeCloseTo(mean, 12)
    expect(row.testAccuracy.sd).toBeCloseTo(Math.abs(accs[0]! - accs[1]!) / Math.SQRT2, 12)
    expect(row.diverged).toBe(row.perSeed.filter((p) => p.diverged).length)
  }
}

describe("--seeds 2", () => {
  test("resnet-nobn: every row trained per seed, the mean ± sd in results.json, the report and a figure", async () => {
    const { results: r, report, out } = await run("resnet-nobn", ["--seeds", "2", "--experiments", "lw,kaiming-bn", "--lw-max-epochs", "2", "--lw-batch", "8"])
    expectOverSeeds(r)
    const steps = r.steps as Array<{ name: string; cached: boolean }>
    // Two rows × two seeds: four trainings; seed 1 draws its own LW batch (a second sample-minibatch) and LW start.
    expect(steps.filter((s) => s.name === "train" && !s.cached)).toHaveLength(4)
    expect(steps.filter((s) => s.name === "sample-minibatch")).toHaveLength(2)
    // The first seed's curves and evidence as in a one-seed run.
    expect(Object.keys(r.layerStats)).toEqual(["LW (no BN)"])
    expect(report).toContain("### Over 2 seeds (0, 1): test accuracy, mean ± sample sd")
    expect(report).toMatch(/\| LW \(no BN\) \| \d+\.\d\d ± \d+\.\d\d % \|/)
    expect(fs.existsSync(path.join(out, "figures", "test-accuracy-seeds.svg"))).toBe(true)
    expect(r.headline[0].label).toBe("LW (no BN) test accuracy, mean of 2 seeds")
    // Read by another tool: valid against the published schema, nothing undeclared.
    const schema = JSON.parse(fs.readFileSync(path.join(SCHEMAS_DIR, "resnet-nobn.results.schema.json"), "utf8"))
    const validate = new Ajv2020({ strict: true, allErrors: true }).compile(schema)
    expect(validate(r), JSON.stringify(validate.errors)).toBe(true)
    expect(resultsIssues(pipelineResults["resnet-nobn"], r, { excess: "error" })).toEqual([])
  })

  test("lenet-init-grid: every cell per seed; the grid gives the means", async () => {
    const { results: r, report } = await run("lenet-init-grid", ["--seeds", "2", "--activations", "relu", "--inits", "lw,kaiming-normal", "--lw-max-epochs", "3"])
    expectOverSeeds(r)
    expect(r.overSeeds.rows.map((row: Row & { activation: string; init: string }) => [row.activation, row.init])).toEqual([["relu", "LW"], ["relu", "Kaiming"]])
    const lw = r.overSeeds.rows[0] as Row
    expect(report).toContain(`| relu | ${(100 * lw.testAccuracy.mean!).toFixed(2)} ± ${(100 * lw.testAccuracy.sd!).toFixed(2)} % |`)
  })

  test("the default (one seed) writes no overSeeds", async () => {
    const { results: r } = await run("lenet-init-grid", ["--activations", "relu", "--inits", "kaiming-normal"])
    expect(r.config.seeds).toBe(1)
    expect(r.overSeeds).toBeUndefined()
    // Its cell is seed 0's of the run above: the same steps, from the cache.
    expect((r.steps as Array<{ name: string; cached: boolean }>).filter((s) => s.name === "train").every((s) => s.cached)).toBe(true)
  })
})

test.each([
  ["resnet-nobn", "0", /--seeds must be at least 1 \(was 0\)/],
  ["lenet-init-grid", "21", /--seeds must be at most 20 \(was 21\)/],
  ["lenet-init-grid", "two", /--seeds must be a number/]
])("%s --seeds %s: a usage error naming the flag, exit 2, nothing written", async (pipeline, value, message) => {
  const out = path.join(temp.dir, "bad", pipeline, value)
  const { code, stderr } = await runPipelineProcess(pipeline, [...common, "--out", out, "--seeds", value])
  expect(code).toBe(2)
  expect(stderr).toMatch(message)
  expect(fs.existsSync(out)).toBe(false)
})

test("summarizeSeeds: rows in the first seed's order, a diverged seed counted and in the mean", () => {
  const outcome = (id: string, testAccuracy: number, diverged = false) => ({
    id,
    testAccuracy,
    testLoss: diverged ? null : 0.5,
    diverged,
    divergedAt: diverged ? "epoch 1, batch 2" : null,
    epochs: 1,
    seconds: 1,
    finalTrainLoss: null,
    history: [],
    initial: { loss: 2.3, accuracy: 0.1, expectedLoss: 2.3 },
    monitor: []
  })
  const rows = summarizeSeeds([
    { seed: 3, experiments: [outcome("b", 0.8), outcome("a", 0.6)] },
    { seed: 4, experiments: [outcome("a", 0.1, true), outcome("b", 0.9)] }
  ])
  expect(rows.map((r) => r.id)).toEqual(["b", "a"])
  expect(rows[1]!.diverged).toBe(1)
  expect(rows[1]!.testAccuracy).toEqual(meanSd([0.6, 0.1]))
  expect(rows[1]!.testLoss.n).toBe(1)
  expect(rows[1]!.perSeed.map((p) => [p.seed, p.testAccuracy])).toEqual([[3, 0.6], [4, 0.1]])
  expect("history" in rows[0]!.perSeed[0]!).toBe(false)
})
