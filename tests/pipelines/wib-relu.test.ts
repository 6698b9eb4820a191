/**
 * The WIB-ReLU study: the per-layer μ estimate against hand computations and the Gaussian formula, the μ travelling
 * in the weights artifact (so the keys downstream see it), the pipeline's summaries, and the --quick run as a user
 * runs it (a real process on Fashion-MNIST writing results.json, report.md, report.html and the figures).
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test"
import * as tf from "@tensorflow/tfjs"
import { Effect } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { tensorEnvironment } from "../../shared/backend/fingerprint.ts"
import type { Pipeline } from "../../shared/engine/pipeline.ts"
import { step } from "../../shared/engine/pipeline.ts"
import type { ResultsHead } from "../../shared/engine/results.ts"
import { makeEngine, runWithEngine } from "../../shared/engine/testing.ts"
import { WIB_RELU_SHIFT, WibReLU, wibRelu as wibReluFn } from "../../shared/init/activations.ts"
import { defaultInitConfigs } from "../../shared/init/initializers.ts"
import { createCnn4 } from "../../shared/models/cnn4.ts"
import { applyInit, loadWeights, serializeWeights } from "../../shared/models/weights.ts"
import { estimateWibShifts } from "../../shared/models/wib-shift.ts"
import { getWeights, putDataset } from "../../shared/schemas.ts"
import { estimateWibShift } from "../../steps/estimate-wib-shift.ts"
import { initWeights } from "../../steps/init-weights.ts"
import { type Experiment, type wibRelu, layerEnds, summarize, wibDifference } from "../../pipelines/wib-relu.ts"
import type { wibReluResults } from "../../pipelines/lib/results.ts"
import { monitorFigures } from "../../pipelines/lib/figures.ts"
import { cifarBytes } from "../data/fixtures.ts"

import { runPipelineProcess } from "./run.ts"

setDefaultTimeout(300_000)

// The compiler's check (as tests/engine/results.test.ts does for the older pipelines): the output fits the schema.
type OutOf<P> = P extends Pipeline<any, infer O, any> ? O : never
type Fits<A extends B, B> = A
export type WibOutputFitsSchema = Fits<OutOf<typeof wibRelu>, Omit<typeof wibReluResults.Type, keyof ResultsHead>>

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "lwi-wib-"))
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }))
beforeAll(async () => {
  tf.env().set("PROD", true)
  await tf.setBackend("cpu")
})

const cnn = () => {
  const m = createCnn4({ inputShape: [12, 12, 1], classes: 3, activation: "wibRelu" })
  applyInit(m, defaultInitConfigs.kaimingNormal, { seed: 5 })
  return m
}
const scalar = (t: tf.Tensor) => t.dataSync()[0]!
/** The pre-activation z of WIB-ReLU layer `name` (the conv before it), by a model of its own. */
const preActivation = (m: tf.LayersModel, name: string, x: tf.Tensor) =>
  (tf.model({ inputs: m.inputs, outputs: m.getLayer(name.replace(".act", "")).output as tf.SymbolicTensor }).predict(x) as tf.Tensor)

describe("WibReLU's μ", () => {
  test("as built: the fixed 1/√(2π), a non-trainable weight named <layer>/shift; the layer computes relu(x) − μ", () => {
    const m = cnn()
    const layer = m.getLayer("conv2.act") as WibReLU
    expect(layer.shift).toBeCloseTo(WIB_RELU_SHIFT, 7)
    expect(layer.trainableWeights).toHaveLength(0)
    expect(serializeWeights(m).filter((w) => w.name.endsWith("/shift")).map((w) => w.name)).toEqual(["conv1.act/shift", "conv2.act/shift", "conv3.act/shift", "conv4.act/shift"])
    const x = tf.tensor1d([-2, -0.1, 0, 0.3, 4])
    expect(Array.from((layer.apply(x) as tf.Tensor).dataSync())).toEqual(Array.from(wibReluFn(x).dataSync()))
    layer.shift = 0.25
    expect(Array.from((layer.apply(x) as tf.Tensor).dataSync())).toEqual([-0.25, -0.25, -0.25, Math.fround(Math.fround(0.3) - 0.25), 3.75])
    m.dispose()
  })

  test("for z ~ N(0, σ²) both estimators find σ/√(2π) (the formula), and the output mean becomes 0", () => {
    const input = tf.input({ shape: [1] })
    const m = tf.model({ inputs: input, outputs: new WibReLU({ name: "w" }).apply(input) as tf.SymbolicTensor })
    const x = tf.randomNormal([200_000, 1], 0, 2, "float32", 7)
    const [measured] = estimateWibShifts(m, x, "measured")
    const [gaussian] = estimateWibShifts(m, x, "gaussian")
    expect(measured!.preActivationStd).toBeCloseTo(2, 1)
    for (const e of [measured!, gaussian!]) expect(Math.abs(e.shift - 2 / Math.sqrt(2 * Math.PI))).toBeLessThan(0.01)
    expect(measured!.outputMean).toBe(0)
    x.dispose()
    m.dispose()
  })

  test("in forward order, each layer from the pre-activations the earlier estimates give it; fixed measures and writes nothing", () => {
    const x = tf.randomNormal([64, 12, 12, 1], 0, 1, "float32", 3)
    const m = cnn()
    const before = tf.memory().numTensors
    const fixed = estimateWibShifts(m, x, "fixed")
    expect(fixed.map((e) => e.shift)).toEqual([WIB_RELU_SHIFT, WIB_RELU_SHIFT, WIB_RELU_SHIFT, WIB_RELU_SHIFT])
    expect((m.getLayer("conv3.act") as WibReLU).shift).toBeCloseTo(WIB_RELU_SHIFT, 7)

    const estimates = estimateWibShifts(m, x, "measured")
    // No tensor left behind by either call (the μ writes replace the old values).
    expect(tf.memory().numTensors).toBe(before)
    expect(estimates.map((e) => e.layer)).toEqual(["conv1.act", "conv2.act", "conv3.act", "conv4.act"])
    for (const [i, e] of estimates.entries()) tf.tidy(() => {
      // By hand, on the model as estimated (every μ written in): the conv's output, its relu mean, its spread.
      const z = preActivation(m, e.layer, x)
      expect(e.measured).toBeCloseTo(scalar(tf.mean(tf.relu(z))), 5)
      expect(e.preActivationStd).toBeCloseTo(Math.sqrt(scalar(tf.moments(z).variance)), 5)
      expect(e.gaussian).toBeCloseTo(e.preActivationStd / Math.sqrt(2 * Math.PI), 9)
      expect(e.shift).toBe(e.measured)
      expect((m.getLayer(e.layer) as WibReLU).shift).toBe(e.measured)
      // The layer's output on the batch is centred now.
      const out = tf.model({ inputs: m.inputs, outputs: m.getLayer(e.layer).output as tf.SymbolicTensor }).predict(x) as tf.Tensor
      expect(Math.abs(scalar(tf.mean(out)))).toBeLessThan(1e-5)
      // conv1 sees the input only; the later layers see the earlier μ (conv2 onwards differ from the fixed run).
      if (i === 0) expect(e.measured).toBeCloseTo(fixed[0]!.measured, 6)
      else expect(e.preActivationMean).not.toBeCloseTo(fixed[i]!.preActivationMean, 6)
    })
    // Kaiming on standardized inputs: conv1's pre-activations spread wider than N(0, 1), so the fixed μ is too small there.
    expect(estimates[0]!.preActivationStd).toBeGreaterThan(1.2)
    expect(fixed[0]!.outputMean).toBeGreaterThan(0.05)
    m.dispose()
    x.dispose()
  })

  test("the estimate survives serialize/load: a fresh model with the weights computes the same outputs", () => {
    const x = tf.randomNormal([8, 12, 12, 1], 0, 1, "float32", 4)
    const m = cnn()
    estimateWibShifts(m, x, "gaussian")
    const twin = createCnn4({ inputShape: [12, 12, 1], classes: 3, activation: "wibRelu" })
    loadWeights(twin, serializeWeights(m))
    expect((twin.getLayer("conv4.act") as WibReLU).shift).toBe((m.getLayer("conv4.act") as WibReLU).shift)
    expect(Array.from((twin.predict(x) as tf.Tensor).dataSync())).toEqual(Array.from((m.predict(x) as tf.Tensor).dataSync()))
    tf.dispose([x])
    m.dispose()
    twin.dispose()
  })
})

describe("the estimate-wib-shift step", () => {
  test("measured: new weights (a new artifact, so train's key changes), kernels untouched; fixed: the same artifact", async () => {
    const model = { arch: "cnn4", inputShape: [12, 12, 1], classes: 3, activation: "wibRelu" } as const
    const images = Float32Array.from({ length: 16 * 144 }, (_, i) => Math.sin(i * 0.37) * 1.5)
    const engine = makeEngine({ environment: tensorEnvironment(undefined) })
    const r = await runWithEngine(
      Effect.gen(function* () {
        const batch = yield* putDataset({ images, labels: new Uint8Array(16), n: 16, height: 12, width: 12, channels: 1, classes: 3 })
        const drawn = yield* step(initWeights, { model, init: defaultInitConfigs.kaimingNormal, seed: 1 })
        const measured = yield* step(estimateWibShift, { model, weights: drawn, batch, estimator: "measured", backend: "cpu" })
        const fixed = yield* step(estimateWibShift, { model, weights: drawn, batch, estimator: "fixed", backend: "cpu" })
        return { drawn, measured, fixed, before: yield* getWeights(drawn), after: yield* getWeights(measured.weights) }
      }),
      engine
    )
    expect(r.fixed.weights.weights.artifact).toBe(r.drawn.weights.artifact)
    expect(r.measured.weights.weights.artifact).not.toBe(r.drawn.weights.artifact)
    expect(r.after["conv1/kernel"]!.data).toEqual(r.before["conv1/kernel"]!.data)
    expect(r.after["conv1.act/shift"]!.data[0]).toBe(Math.fround(r.measured.layers[0]!.shift))
    expect(r.measured.layers.map((l) => l.outputMean)).toEqual([0, 0, 0, 0])
  })
})

describe("the summaries", () => {
  const sample = (step: number, layer: string, mean: number, variance: number, dead: number) =>
    ({ step, epoch: 0, layer, activationMean: mean, activationVar: variance, gradMean: 0, gradVar: 0, gradNorm: 1, deadShare: dead })
  const run = (id: string, wibShift: Experiment["wibShift"], seed: number, accuracy: number): Experiment => ({
    id,
    activation: wibShift === null ? "relu" : "wibRelu",
    wibShift,
    seed,
    testAccuracy: accuracy,
    testLoss: 0.5,
    diverged: false,
    divergedAt: null,
    epochs: 1,
    seconds: 1,
    finalTrainLoss: 0.4,
    history: [{ epoch: 0, lr: 1e-3, trainLoss: 0.4, trainAccuracy: 0.8, validationLoss: 0.5, validationAccuracy: accuracy - 0.01, seconds: 1 }],
    initial: { loss: 2.3, accuracy: 0.1, expectedLoss: Math.log(10) },
    monitor: seed === 0 ? [sample(0, "conv1", 0.5, 4, 0), sample(20, "conv1", 0.3, 1, 0.25), sample(0, "fc", 0, 1, 0), sample(20, "fc", 0.1, 2, 0)] : []
  })
  const runs = [run("est", "measured", 0, 0.8), run("fix", "fixed", 0, 0.75), run("est", "measured", 1, 0.9), run("fix", "fixed", 1, 0.8)]

  test("per arm: mean, sample sd and range over seeds; the first seed's layers at their first and last sample", () => {
    const [est] = summarize(runs)
    expect(est).toMatchObject({ id: "est", seeds: 2, testAccuracyMin: 0.8, testAccuracyMax: 0.9, diverged: 0 })
    expect(est!.testAccuracy).toBeCloseTo(0.85, 12)
    expect(est!.testAccuracySd).toBeCloseTo(Math.sqrt(0.005), 12)
    expect(est!.finalValidationAccuracy).toBeCloseTo(0.84, 12)
    expect(layerEnds(runs[0]!.monitor)[0]).toEqual({ layer: "conv1", firstStep: 0, lastStep: 20, start: { mean: 0.5, std: 2, deadShare: 0 }, end: { mean: 0.3, std: 1, deadShare: 0.25 } })
  })

  test("monitorFigures: variance, dead units, gradient norm by default; the activation mean when asked", () => {
    expect(monitorFigures(runs).map((f) => f.id)).toEqual(["monitor-activation-variance", "monitor-dead-units", "monitor-gradient-norm"])
    const [mean] = monitorFigures(runs, ["activationMean"])
    expect(mean!.id).toBe("monitor-activation-mean")
    const values = JSON.stringify(mean!.spec)
    // The samples' means are what is drawn (0.5 and 0.3 for conv1), on a linear axis that is not clamped to [0, 1].
    expect(values).toContain('"y":0.3')
    expect(values).not.toContain('"domain":[0,1]')
  })

  test("estimated minus fixed, paired by seed", () => {
    const d = wibDifference(runs, "measured")
    expect(d.perSeed.map((p) => p.seed)).toEqual([0, 1])
    expect(d.perSeed[0]!.testAccuracy).toBeCloseTo(0.05, 12)
    expect(d.perSeed[1]!.testAccuracy).toBeCloseTo(0.1, 12)
    expect(d.testAccuracyMean).toBeCloseTo(0.075, 12)
    expect(d.testAccuracySd).toBeCloseTo(Math.sqrt(2 * 0.025 ** 2), 12)
  })
})

describe("the --quick run", () => {
  const exec = (args: string[]) => runPipelineProcess("wib-relu", args)

  test("Fashion-MNIST, six arms, the μ estimates, curves, monitor and figures; a second run is all cache hits", async () => {
    const cache = path.join(tmp, "cache")
    const out = path.join(tmp, "out")
    const first = await exec(["--quick", "--threads", "1", "--cache", cache, "--out", out])
    expect(first.code).toBe(0)
    const r = JSON.parse(fs.readFileSync(path.join(out, "results.json"), "utf8"))
    expect(r.pipeline).toBe("wib-relu")
    expect(r.setup).toMatchObject({ dataset: "fashion-mnist", trainSamples: 1024, validationSamples: 256, testSamples: 256, wibBatch: 128, seeds: [0] })
    expect(r.summary.map((a: { id: string }) => a.id)).toEqual(["ReLU", "LeakyReLU", "PReLU", "ELU", "WIB-ReLU, μ measured", "WIB-ReLU, μ fixed"])
    for (const e of r.experiments) {
      expect(e.epochs).toBe(2)
      expect(e.history).toHaveLength(2)
      // 32 Adam steps on 1,024 images beat chance (10 %) by far.
      expect(e.testAccuracy).toBeGreaterThan(0.3)
      expect(new Set(e.monitor.map((m: { layer: string }) => m.layer))).toEqual(new Set(["conv1", "conv2", "conv3", "conv4", "fc"]))
    }
    const [measured, fixed] = [r.wibShifts.find((w: { estimator: string }) => w.estimator === "measured"), r.wibShifts.find((w: { estimator: string }) => w.estimator === "fixed")]
    for (const l of measured.layers) expect(l.outputMean).toBe(0)
    for (const l of fixed.layers) expect(l.shift).toBeCloseTo(1 / Math.sqrt(2 * Math.PI), 12)
    // The monitor's step-0 activation mean of the estimated WIB-ReLU is ≈ 0 (another batch than μ's); the fixed one's is not.
    const step0 = (id: string, layer: string) => r.experiments.find((e: { id: string }) => e.id === id).monitor.find((m: { step: number; layer: string }) => m.step === 0 && m.layer === layer).activationMean
    expect(Math.abs(step0("WIB-ReLU, μ measured", "conv1"))).toBeLessThan(0.05)
    expect(step0("WIB-ReLU, μ fixed", "conv1")).toBeGreaterThan(0.05)
    expect(r.wibDifference.perSeed).toHaveLength(1)
    const report = fs.readFileSync(path.join(out, "report.md"), "utf8")
    expect(report).toContain("## WIB-ReLU's μ per layer")
    for (const f of ["test-accuracy-seeds", "wib-shift", "training-curves", "monitor-activation-mean", "monitor-activation-variance", "monitor-dead-units"]) {
      expect(fs.existsSync(path.join(out, "figures", `${f}.svg`))).toBe(true)
    }
    // (a boolean: a failing toContain would print the whole page)
    expect(fs.readFileSync(path.join(out, "report.html"), "utf8").includes("WIB-ReLU's μ per layer")).toBe(true)

    const second = await exec(["--quick", "--threads", "1", "--cache", cache, "--out", path.join(tmp, "out2")])
    expect(second.code).toBe(0)
    const r2 = JSON.parse(fs.readFileSync(path.join(tmp, "out2", "results.json"), "utf8"))
    expect(r2.steps.every((s: { cached: boolean }) => s.cached)).toBe(true)
    expect(r2.summary).toEqual(r.summary)
  })

  test("--dataset cifar10 --data DIR: the same CNN on 32×32×3 (a CIFAR-10 folder the test writes)", async () => {
    const dir = path.join(tmp, "cifar-10-batches-bin")
    fs.mkdirSync(dir, { recursive: true })
    const records = (n: number) => cifarBytes(Array.from({ length: n }, (_, i) => [i % 10]))
    for (let b = 1; b <= 5; b++) fs.writeFileSync(path.join(dir, `data_batch_${b}.bin`), records(40))
    fs.writeFileSync(path.join(dir, "test_batch.bin"), records(40))
    const args = ["--quick", "--dataset", "cifar10", "--data", dir, "--subset", "100", "--validation", "50", "--test-subset", "40", "--wib-batch", "32", "--epochs", "1"]
    const r = await exec([...args, "--threads", "1", "--cache", path.join(tmp, "cache"), "--out", path.join(tmp, "cifar")])
    expect(r.code).toBe(0)
    const out = JSON.parse(fs.readFileSync(path.join(tmp, "cifar", "results.json"), "utf8"))
    expect(out.setup).toMatchObject({ dataset: "cifar10", trainSamples: 100, validationSamples: 50, testSamples: 40, wibBatch: 32 })
    expect(out.setup.architecture).toContain("32×32×3")
    expect(out.experiments).toHaveLength(6)
  })
})
