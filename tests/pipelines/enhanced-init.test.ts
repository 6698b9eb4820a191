/**
 * enhanced-init: the --quick run as a user runs it (a real process, on a small Fashion-MNIST-format set the test
 * writes), its results checked against themselves (summaries and ratios recomputed from the runs, the filter-variance
 * histograms against the laws), and the summaries' maths against hand computations.
 */
import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test"
import * as fs from "node:fs"
import * as path from "node:path"
import { initsPlan } from "../../pipelines/enhanced-init.ts"
import { summarize } from "../../pipelines/lib/enhanced-report.ts"
import { meanSd } from "../../pipelines/lib/over-seeds.ts"
import type { TrainOutcome } from "../../pipelines/lib/experiment.ts"
import { makeTempDir, writeMnistDir } from "../data/fixtures.ts"

import { runPipelineProcess } from "./run.ts"

setDefaultTimeout(300_000)

const temp = await makeTempDir("lwi-enhanced-")
afterAll(() => temp.cleanup())

const run = (args: string[]) => runPipelineProcess("enhanced-init", args)

describe("the --quick run", () => {
  test("5 inits × 2 seeds on ResNet20; summaries, ratios and histograms agree with the runs; a second run is all cache hits", async () => {
    const data = path.join(temp.dir, "fashion-mnist")
    await writeMnistDir(data, { nTrain: 200, nTest: 80, h: 28, w: 28, gzip: false })
    const cache = path.join(temp.dir, "cache")
    const out = path.join(temp.dir, "out")
    const args = ["--quick", "--threads", "1", "--data", data, "--cache", cache]
    const first = await run([...args, "--out", out])
    expect(first.code, first.stderr).toBe(0)
    const r = JSON.parse(fs.readFileSync(path.join(out, "results.json"), "utf8"))
    expect(r.pipeline).toBe("enhanced-init")
    expect(r.setup).toMatchObject({ dataset: "fashion-mnist", trainSamples: 64, validationSamples: 50, testSamples: 50, seeds: [0, 1], ratioEpochs: 2 })
    expect(r.setup.model).toStartWith("ResNet20")
    expect(r.inits.map((i: { id: string }) => i.id)).toEqual(initsPlan.map((p) => p.id))
    expect(r.runs.length).toBe(10)
    for (const run of r.runs) expect(run.history.length).toBe(2)
    // The monitor ran on the first seed only.
    expect(r.runs.filter((x: { seed: number; monitor: unknown[] }) => x.monitor.length > 0).map((x: { seed: number }) => x.seed)).toEqual([0, 0, 0, 0, 0])

    // Summaries and ratios are what the runs say.
    expect({ summary: r.summary, ratios: r.ratios }).toEqual(JSON.parse(JSON.stringify(summarize(initsPlan, r.runs, 2))))
    const normal = r.summary.find((s: { id: string }) => s.id === "Kaiming normal")
    const accs = r.runs.filter((x: { init: string }) => x.init === "Kaiming normal").map((x: { testAccuracy: number }) => x.testAccuracy)
    expect(normal.testAccuracy.mean).toBeCloseTo((accs[0] + accs[1]) / 2, 12)

    // Filter variances: the base inits sit near 1, the enhanced ones per filter follow their laws.
    const h = Object.fromEntries(r.filterVariances.map((x: { id: string }) => [x.id, x]))
    expect(h["Kaiming normal"].filters).toBe(16 * 7 + 32 * 7 + 64 * 7)
    for (const id of ["Kaiming normal", "Kaiming uniform"]) {
      expect(Math.abs(h[id].mean - 1)).toBeLessThan(0.05)
      expect(h[id].variance).toBeLessThan(0.05)
      expect(h[id].ks).toBeNull()
    }
    expect(h["enhanced normal"].variance).toBeGreaterThan(1) // χ²₁: 2
    expect(h["enhanced uniform"].variance).toBeGreaterThan(0.5) // 3U²: 0.8
    for (const id of ["enhanced normal", "enhanced uniform"]) {
      expect(Math.abs(h[id].mean - 1)).toBeLessThan(0.2)
      expect(h[id].ks).toBeLessThan(0.08)
    }
    // A filter averages its slices: per slice, filters vary far less than per filter.
    expect(h["enhanced normal, per kh×kw slice"].variance).toBeLessThan(h["enhanced normal"].variance / 4)

    const report = fs.readFileSync(path.join(out, "report.md"), "utf8")
    expect(report).toContain("## Enhanced / base validation accuracy over the first 2 epoch(s)")
    expect(report).toContain("paper's own accuracy figures are not quoted")
    for (const f of ["validation-accuracy", "enhanced-ratio", "filter-variance-histograms", "training-curves"]) {
      expect(fs.existsSync(path.join(out, "figures", `${f}.svg`))).toBe(true)
    }
    expect(fs.readFileSync(path.join(out, "report.html"), "utf8")).toContain("Filter variances of the initial draw")

    const second = await run([...args, "--out", path.join(temp.dir, "out2")])
    expect(second.code).toBe(0)
    const r2 = JSON.parse(fs.readFileSync(path.join(temp.dir, "out2", "results.json"), "utf8"))
    expect(r2.steps.every((s: { cached: boolean }) => s.cached)).toBe(true)
    expect(r2.summary).toEqual(r.summary)
  })

  test("a depth that is not 6n + 2 is a usage error naming the flag", async () => {
    const bad = await run(["--quick", "--depth", "18", "--out", path.join(temp.dir, "bad")])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain("depth")
    expect(fs.existsSync(path.join(temp.dir, "bad", "results.json"))).toBe(false)
  })
})

describe("summaries over seeds", () => {
  test("meanSd: sample sd, null below two values, non-finite values left out", () => {
    const two = meanSd([0.5, 0.7])
    expect(two.mean).toBeCloseTo(0.6, 12)
    expect(two.sd).toBeCloseTo(Math.sqrt(0.02), 12)
    expect(two.n).toBe(2)
    expect(meanSd([0.5, null, Number.NaN])).toEqual({ mean: 0.5, sd: null, n: 1 })
    expect(meanSd([])).toEqual({ mean: null, sd: null, n: 0 })
  })

  test("the ratio of means and the per-seed ratios, by hand", () => {
    const history = (accs: number[]) => accs.map((a, epoch) => ({ epoch, lr: 0.1, trainLoss: 1, trainAccuracy: 0.5, validationLoss: 1, validationAccuracy: a, seconds: 1 }))
    const outcome = (id: string, seed: number, accs: number[], test: number) =>
      ({ id: `${id} ${seed}`, init: id, seed, testAccuracy: test, diverged: false, history: history(accs) }) as unknown as TrainOutcome & { id: string; init: string; seed: number }
    const plan = [
      { id: "base", base: null },
      { id: "enh", base: "base" }
    ]
    const runs = [outcome("base", 0, [0.4, 0.6], 0.7), outcome("base", 1, [0.5, 0.8], 0.8), outcome("enh", 0, [0.6, 0.6], 0.75), outcome("enh", 1, [0.5, 0.6], 0.85)]
    const { summary, ratios } = summarize(plan, runs, 1)
    expect(summary[0]!.testAccuracy.mean).toBeCloseTo(0.75, 12)
    expect(summary[1]!.validationAccuracy.map((m) => m.mean)).toEqual([0.55, 0.6])
    expect(ratios).toHaveLength(1)
    expect(ratios[0]!.perEpoch).toHaveLength(1)
    expect(ratios[0]!.perEpoch[0]!.ratioOfMeans).toBeCloseTo(0.55 / 0.45, 12)
    // Per seed: 0.6/0.4 = 1.5 and 0.5/0.5 = 1.
    expect(ratios[0]!.perEpoch[0]!.paired.mean).toBeCloseTo(1.25, 12)
    expect(ratios[0]!.perEpoch[0]!.paired.sd).toBeCloseTo(Math.sqrt(0.125), 12)
  })
})
