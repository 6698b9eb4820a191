/**
 * The circle-normalization study: its parts against hand computations (the 2-6-3-2 MLP, U(±1/√fanIn) biases, the
 * per-feature maps, the summaries), the init-biases and transform-features steps through the engine, and the --quick
 * run as a user runs it (a real process writing results.json, report.md and the figures).
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test"
import * as tf from "@tensorflow/tfjs"
import { Effect } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { tensorEnvironment } from "../../shared/backend/fingerprint.ts"
import { makeCircles as generate } from "../../shared/data/circles.ts"
import type { ImageSet } from "../../shared/data/types.ts"
import type { Pipeline } from "../../shared/engine/pipeline.ts"
import { step } from "../../shared/engine/pipeline.ts"
import type { ResultsHead } from "../../shared/engine/results.ts"
import { makeEngine, runWithEngine } from "../../shared/engine/testing.ts"
import { biasVariance, drawBias, heuristicBiasBound } from "../../shared/init/bias.ts"
import { defaultInitConfigs } from "../../shared/init/initializers.ts"
import { createMLP, hiddenWidths } from "../../shared/models/mlp.ts"
import { buildModel } from "../../shared/models/spec.ts"
import { learnableLayers } from "../../shared/models/weights.ts"
import { getDataset, getWeights, putDataset } from "../../shared/schemas.ts"
import { initBiases } from "../../steps/init-biases.ts"
import { initWeights } from "../../steps/init-weights.ts"
import type { LayerSample } from "../../steps/train.ts"
import { affineFeatures, featureStats, standardizer } from "../../shared/data/features.ts"
import { transformFeatures } from "../../steps/transform-features.ts"
import { type circleNormalization, circleModel, initialGradNorms, meanOf, stepsTo, thinHistory } from "../../pipelines/circle-normalization.ts"
import type { circleNormalizationResults } from "../../pipelines/lib/results.ts"

setDefaultTimeout(300_000)

// The compiler's check (as tests/engine/results.test.ts does for the older pipelines): the output fits the schema.
type OutOf<P> = P extends Pipeline<any, infer O, any> ? O : never
type Fits<A extends B, B> = A
export type CircleOutputFitsSchema = Fits<OutOf<typeof circleNormalization>, Omit<typeof circleNormalizationResults.Type, keyof ResultsHead>>

beforeAll(async () => {
  tf.env().set("PROD", true)
  await tf.setBackend("cpu")
})

describe("the 2-6-3-2 MLP", () => {
  test("widths give each hidden layer its size; the spec builds it", () => {
    const layers = learnableLayers(buildModel(circleModel)).map((l) => ({ name: l.name, shape: l.kernelShape, fanIn: l.fanIn, role: l.context.role }))
    expect(layers).toEqual([
      { name: "fc1", shape: [2, 6], fanIn: 2, role: "plain" },
      { name: "fc2", shape: [6, 3], fanIn: 6, role: "plain" },
      { name: "fc3", shape: [3, 2], fanIn: 3, role: "classifier" }
    ])
    expect(createMLP({ inputShape: [2], depth: 2, width: 6, widths: [6, 3], classes: 2 }).countParams()).toBe(2 * 6 + 6 + 6 * 3 + 3 + 3 * 2 + 2)
  })

  test("without widths every hidden layer has width; inconsistent widths are refused", () => {
    expect(hiddenWidths({ depth: 3, width: 4 })).toEqual([4, 4, 4])
    expect(() => hiddenWidths({ depth: 3, width: 6, widths: [6, 3] })).toThrow(/3 integers/)
    expect(() => hiddenWidths({ depth: 2, width: 8, widths: [6, 3] })).toThrow(/largest/)
    expect(() => hiddenWidths({ depth: 2, width: 6, widths: [6, 0] })).toThrow(/≥ 1/)
  })
})

describe("bias initializers", () => {
  test("heuristic: U(±1/√fanIn), reproducible, variance b²/3; zero: zeros", () => {
    const b = drawBias({ name: "heuristic" }, 20000, 4, 7)
    expect(heuristicBiasBound(4)).toBe(0.5)
    expect(Math.max(...b)).toBeLessThanOrEqual(0.5)
    expect(Math.min(...b)).toBeGreaterThanOrEqual(-0.5)
    expect(Math.max(...b)).toBeGreaterThan(0.49)
    const mean = b.reduce((a, x) => a + x, 0) / b.length
    const variance = b.reduce((a, x) => a + (x - mean) ** 2, 0) / b.length
    expect(biasVariance({ name: "heuristic" }, 4)).toBeCloseTo(1 / 12, 12)
    // 20,000 draws: the variance's standard error is about 0.6 % of it.
    expect(Math.abs(variance / (1 / 12) - 1)).toBeLessThan(0.03)
    expect(Math.abs(mean)).toBeLessThan(0.01)
    expect(drawBias({ name: "heuristic" }, 5, 4, 7)).toEqual(b.slice(0, 5))
    expect(drawBias({ name: "heuristic" }, 5, 4, 8)).not.toEqual(b.slice(0, 5))
    expect([...drawBias({ name: "zero" }, 3, 4, 7)]).toEqual([0, 0, 0])
    expect(() => drawBias({ name: "heuristic" }, 3, 0, 7)).toThrow(/fanIn/)
  })

  test("the init-biases step redraws only the biases, each within ±1/√fanIn of its layer", async () => {
    const engine = makeEngine({ environment: tensorEnvironment(undefined) })
    const { kernels, biased } = await runWithEngine(
      Effect.gen(function* () {
        const kernels = yield* step(initWeights, { model: circleModel, init: defaultInitConfigs.kaimingNormal, seed: 3 })
        const biased = yield* step(initBiases, { model: circleModel, weights: kernels, bias: { name: "heuristic" } as const, seed: 3 })
        return { kernels: yield* getWeights(kernels), biased: yield* getWeights(biased) }
      }),
      engine
    )
    expect(Object.keys(biased)).toEqual(Object.keys(kernels))
    for (const [layer, fanIn, units] of [["fc1", 2, 6], ["fc2", 6, 3], ["fc3", 3, 2]] as const) {
      expect(biased[`${layer}/kernel`]!.data).toEqual(kernels[`${layer}/kernel`]!.data)
      expect([...kernels[`${layer}/bias`]!.data]).toEqual(new Array(units).fill(0))
      const bias = [...biased[`${layer}/bias`]!.data]
      expect(bias.length).toBe(units)
      expect(bias.every((v) => v !== 0 && Math.abs(v) <= 1 / Math.sqrt(fanIn))).toBe(true)
    }
  })
})

/** Three 1×2×1 samples by hand: x = 1, 2, 3 and y = 10, 20, 30. */
const tiny: ImageSet = {
  images: Float32Array.from([1, 10, 2, 20, 3, 30]),
  labels: Uint8Array.from([0, 1, 0]),
  n: 3,
  height: 1,
  width: 2,
  channels: 1,
  classes: 2
}

describe("per-feature maps", () => {
  test("featureStats, standardizer and affineFeatures against a hand computation", () => {
    const stats = featureStats(tiny)
    expect(stats.mean).toEqual([2, 20])
    // Population std: √((1 + 0 + 1) / 3) and ten times it.
    expect(stats.std[0]).toBeCloseTo(Math.sqrt(2 / 3), 12)
    expect(stats.std[1]).toBeCloseTo(10 * Math.sqrt(2 / 3), 12)
    const map = standardizer(stats)
    const z = affineFeatures(tiny, map.scale, map.shift)
    const s = Math.sqrt(3 / 2)
    ;[-s, -s, 0, 0, s, s].forEach((v, i) => expect(z.images[i]).toBeCloseTo(v, 6))
    expect(z.labels).toBe(tiny.labels)
    expect([...affineFeatures(tiny, [2, 0.5], [1, -1]).images]).toEqual([3, 4, 5, 9, 7, 14])
  })

  test("the step standardizes held-out data with the reference's statistics, and scales with an offset", async () => {
    const engine = makeEngine()
    const r = await runWithEngine(
      Effect.gen(function* () {
        const train = yield* putDataset(tiny)
        const other = yield* putDataset({ ...tiny, images: Float32Array.from([2, 20, 4, 40, 6, 60]) })
        const z = yield* step(transformFeatures, { data: other, transform: { kind: "standardize", reference: train } })
        const scaled = yield* step(transformFeatures, { data: train, transform: { kind: "scale", factor: 10, offset: [5, -5] } })
        return { z, zSet: yield* getDataset(z.data), scaled, scaledSet: yield* getDataset(scaled.data) }
      }),
      engine
    )
    const sd = Math.sqrt(2 / 3)
    expect(r.z.shift[0]).toBeCloseTo(-2 / sd, 6)
    // (2 − 2) / sd, (4 − 2) / sd, ...: the training statistics, not the held-out set's own.
    ;[0, 0, 2 / sd, 2 / sd, 4 / sd, 4 / sd].forEach((v, i) => expect(r.zSet.images[i]).toBeCloseTo(v, 5))
    expect(r.z.mean[0]).toBeCloseTo(2 / sd, 5)
    expect([...r.scaledSet.images]).toEqual([15, 95, 25, 195, 35, 295])
    expect(r.scaled.mean).toEqual([25, 195])
  })

  test("a constant reference feature or a wrong-length offset is a typed error naming the field", async () => {
    const engine = makeEngine()
    const flat = { ...tiny, images: Float32Array.from([1, 10, 1, 20, 1, 30]) }
    const error = (transform: "flat" | "offset") =>
      runWithEngine(
        Effect.gen(function* () {
          const data = yield* putDataset(tiny)
          const reference = yield* putDataset(flat)
          return yield* step(
            transformFeatures,
            transform === "flat" ? { data, transform: { kind: "standardize", reference } } : { data, transform: { kind: "scale", factor: 2, offset: [1] } }
          )
        }).pipe(Effect.flip),
        engine
      )
    expect(await error("flat")).toMatchObject({ _tag: "BadConfig", field: "transform-features reference feature 0" })
    expect(await error("offset")).toMatchObject({ _tag: "BadConfig", field: "transform-features offset" })
  })
})

describe("summaries", () => {
  test("stepsTo, thinHistory, meanOf, initialGradNorms", () => {
    const h = [0.5, 0.9, 0.96, 0.94, 0.97].map((a, epoch) => ({ epoch, validationAccuracy: a }))
    expect(stepsTo(h, 0.95)).toBe(3)
    expect(stepsTo(h, 0.99)).toBeNull()
    expect(stepsTo([{ epoch: 0, validationAccuracy: null }], 0.5)).toBeNull()
    const ten = Array.from({ length: 10 }, (_, i) => i)
    expect(thinHistory(ten, 4)).toEqual([0, 3, 6, 9])
    expect(thinHistory(ten, 3)).toEqual([0, 4, 8, 9])
    expect(thinHistory(ten, 10)).toEqual(ten)
    expect(meanOf([1, null, 3])).toBe(2)
    expect(meanOf([null])).toBeNull()
    const sample = (step: number, layer: string, gradNorm: number | null): LayerSample => ({
      step, epoch: step, layer, gradNorm, activationMean: 0, activationVar: 1, gradMean: 0, gradVar: 0, deadShare: 0
    })
    expect(initialGradNorms([sample(0, "fc1", 2), sample(0, "fc2", null), sample(20, "fc1", 5)])).toEqual({ fc1: 2, fc2: null })
  })
})

describe("circle-normalization --quick, as a process", () => {
  const root = path.resolve(import.meta.dir, "../..")
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "lwi-circles-"))
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }))

  test("writes results, report and figures; the scales show in the initial loss and the gradients", async () => {
    const out = path.join(tmp, "out")
    const p = Bun.spawn(
      [process.execPath, "run", "pipelines/circle-normalization.ts", "--quick", "--epochs", "30", "--seeds", "2", "--backend", "cpu", "--out", out, "--cache", path.join(tmp, "cache")],
      { cwd: root, stdout: "pipe", stderr: "pipe", env: { ...process.env, LWI_CACHE: "", LWI_BACKEND: "" } }
    )
    const [stderr, code] = await Promise.all([new Response(p.stderr).text(), p.exited])
    expect(code, stderr.slice(-2000)).toBe(0)
    const r = JSON.parse(fs.readFileSync(path.join(out, "results.json"), "utf8"))
    expect(r).toMatchObject({ pipeline: "circle-normalization", quick: true, accuracyTarget: 0.95 })
    expect(r.experiments.map((e: { id: string }) => e.id)).toEqual(
      [0, 1].flatMap((s) => ["raw", "standardized", "scaled down"].map((v) => `${v} · seed ${s}`))
    )
    // The inputs: raw = circles × 10, standardized per feature on the training split, scaled down = raw ÷ 100.
    const base = featureStats(generate({ n: 200, noise: 0.1, factor: 0.5, seed: 0 }))
    const input = (v: string) => r.inputs.find((i: { version: string; seed: number }) => i.version === v && i.seed === 0)
    base.std.forEach((s, f) => {
      expect(input("raw").std[f]).toBeCloseTo(10 * s, 4)
      expect(input("scaled down").std[f]).toBeCloseTo(s / 10, 5)
      expect(input("standardized").std[f]).toBeCloseTo(1, 5)
      expect(Math.abs(input("standardized").mean[f])).toBeLessThan(1e-6)
    })
    for (const seed of [0, 1]) {
      const run = (v: string) => r.experiments.find((e: { version: string; seed: number }) => e.version === v && e.seed === seed)
      const [raw, std, down] = ["raw", "standardized", "scaled down"].map(run)
      // Same initial weights: a ReLU net is positively homogeneous up to its biases, so logits grow with the input
      // scale and the first batch's loss with them; scaled down, the logits hardly depend on the input (about ln 2 or above).
      expect(raw.initial.loss).toBeGreaterThan(std.initial.loss)
      expect(raw.initial.loss).toBeGreaterThan(2 * Math.LN2)
      expect(down.initial.loss).toBeGreaterThan(Math.LN2 - 0.01)
      expect(raw.monitor[0].step).toBe(0)
      const grad = (e: { monitor: LayerSample[] }, layer: string) => e.monitor.find((m) => m.step === 0 && m.layer === layer)!.gradNorm!
      expect(grad(raw, "fc1")).toBeGreaterThan(grad(std, "fc1"))
      expect(grad(std, "fc1")).toBeGreaterThan(grad(down, "fc1"))
      for (const e of [raw, std, down]) {
        expect(e.epochs).toBe(30)
        expect(e.history.at(-1).epoch).toBe(29)
        expect(e.finalTrainLoss).toBeLessThan(e.initial.loss)
        expect(e.decisionGrid.probability.length).toBe(40 * 40)
      }
      // The grid spans each version's own coordinates: 100 × wider raw than scaled down.
      const span = (e: { decisionGrid: { xs: number[] } }) => e.decisionGrid.xs.at(-1)! - e.decisionGrid.xs[0]!
      expect(span(raw) / span(down)).toBeCloseTo(100, 1)
    }
    expect(r.versions.map((v: { version: string; seeds: number }) => [v.version, v.seeds])).toEqual([["raw", 2], ["standardized", 2], ["scaled down", 2]])
    const report = fs.readFileSync(path.join(out, "report.md"), "utf8")
    expect(report).toContain("## Input scale vs training")
    expect(report).toContain("| raw · seed 1 |")
    for (const f of ["initial-loss", "curves", "monitor-gradient-norm", "decision-boundaries"]) {
      expect(fs.statSync(path.join(out, "figures", `${f}.svg`)).size).toBeGreaterThan(1000)
    }
  })
})
