/**
 * The train and evaluate steps on small real problems: determinism, resume, divergence as data, no tensor leaks; and
 * what train records: validation per epoch, the initial loss, the monitor's series (the same after a resume).
 */
import { beforeAll, describe, expect, test } from "bun:test"
import * as tf from "@tensorflow/tfjs"
import { Effect, Exit, Fiber } from "effect"
import { makeCircles as generate } from "../../shared/data/circles.ts"
import { step } from "../../shared/engine/pipeline.ts"
import { makeMemoryStore } from "../../shared/engine/store.ts"
import { tensorEnvironment } from "../../shared/backend/fingerprint.ts"
import { makeRecordingReporter } from "../../shared/engine/reporter.ts"
import { engineLayer, makeEngine, runWithEngine } from "../../shared/engine/testing.ts"
import { type InitConfig, defaultInitConfigs } from "../../shared/init/initializers.ts"
import type { ModelSpec } from "../../shared/models/spec.ts"
import { putDataset } from "../../shared/schemas.ts"
import { evaluate } from "../../steps/evaluate.ts"
import { initWeights } from "../../steps/init-weights.ts"
import { batchIndices, epochOrder } from "../../shared/train/loop.ts"
import { type MonitorConfig, type TrainConfig, train } from "../../steps/train.ts"

/** An engine for tensor steps: keyed by the active backend's environment. */
const tensorEngine = (parts: Parameters<typeof makeEngine>[0] = {}) => makeEngine({ ...parts, environment: tensorEnvironment(undefined) })

beforeAll(async () => {
  tf.env().set("PROD", true)
  await tf.setBackend("cpu")
})

const mlp: ModelSpec = { arch: "mlp", inputShape: [1, 2, 1], depth: 2, width: 16, activation: "relu", classes: 2 }
const config = (over: Partial<TrainConfig> = {}): TrainConfig => ({
  optimizer: { kind: "sgd", momentum: 0.9, weightDecay: 0 },
  lr: 0.05,
  schedule: { kind: "step", every: 2, factor: 0.5 },
  epochs: 4,
  batchSize: 32,
  seed: 3,
  ...over
})

/** Circles → init → train → evaluate, in one engine. */
const pipeline = (c: TrainConfig, init: InitConfig = defaultInitConfigs.kaimingNormal) =>
  Effect.gen(function* () {
    const data = yield* putDataset(generate({ n: 600, noise: 0.1, seed: 1 }))
    const initial = yield* step(initWeights, { model: mlp, init, seed: 0 })
    const trained = yield* step(train, { model: mlp, initial, data, config: c, backend: "cpu" })
    const test = yield* step(evaluate, { model: mlp, weights: trained.weights, data, backend: "cpu" })
    return { trained, test }
  })

describe("train + evaluate", () => {
  test("learns the circles, and the same seed gives the same numbers", async () => {
    const a = await runWithEngine(pipeline(config()), tensorEngine())
    const b = await runWithEngine(pipeline(config()), tensorEngine())
    expect(a.test.accuracy).toBeGreaterThan(0.9)
    expect(a.trained.history.map((h) => h.lr)).toEqual([0.05, 0.05, 0.025, 0.025])
    expect(a.trained.history.at(-1)!.trainLoss).toBeLessThan(a.trained.history[0]!.trainLoss)
    expect(b.trained.weights).toEqual(a.trained.weights) // same content hash
    expect(b.test).toEqual(a.test)
    const c = await runWithEngine(pipeline(config({ seed: 4 })), tensorEngine())
    expect(c.trained.weights).not.toEqual(a.trained.weights)
  })

  test("Adam and AdamW train too, and differ from each other when weight decay is on", async () => {
    const adam = await runWithEngine(pipeline(config({ optimizer: { kind: "adam", momentum: 0, weightDecay: 0.01 }, lr: 0.01 })), tensorEngine())
    const adamw = await runWithEngine(pipeline(config({ optimizer: { kind: "adamw", momentum: 0, weightDecay: 0.01 }, lr: 0.01 })), tensorEngine())
    expect(adam.test.accuracy).toBeGreaterThan(0.85)
    expect(adamw.test.accuracy).toBeGreaterThan(0.85)
    expect(adamw.trained.weights).not.toEqual(adam.trained.weights)
  })

  test("a loss that blows up is recorded as divergence, not thrown", async () => {
    const r = await runWithEngine(pipeline(config({ lr: 1e30 }), defaultInitConfigs.random), tensorEngine())
    expect(r.trained.diverged).not.toBeNull()
    expect(r.trained.diverged!.loss).toMatch(/NaN|Infinity/)
    expect(r.trained.history.length).toBeLessThan(4)
    expect(r.test.nonFinite).toBe(true)
  })

  test("no tensors leak across a whole train + evaluate", async () => {
    await runWithEngine(pipeline(config({ epochs: 1 })), tensorEngine()) // warm-up: tfjs caches a few constants
    const before = tf.memory().numTensors
    await runWithEngine(pipeline(config({ epochs: 3, seed: 9 })), tensorEngine())
    expect(tf.memory().numTensors).toBe(before)
  })

  test("an interrupted train resumes from its epoch checkpoint with identical results", async () => {
    const store = makeMemoryStore()
    const full = await runWithEngine(pipeline(config()), tensorEngine())
    // Interrupt once the first epoch checkpoint exists.
    const fiber = Effect.runFork(pipeline(config()).pipe(Effect.provide(engineLayer(tensorEngine({ store })))))
    while (![...store.entries.keys()].some((k) => k.startsWith("checkpoints/"))) await new Promise((r) => setTimeout(r, 1))
    await Effect.runPromise(Fiber.interrupt(fiber))
    const exit = await Effect.runPromise(Fiber.await(fiber))
    expect(Exit.isFailure(exit)).toBe(true)
    const engine = tensorEngine({ store })
    const resumed = await runWithEngine(pipeline(config()), engine)
    expect(engine.runner.records.find((r) => r.name === "train")?.resumed).toBe(true)
    expect(resumed.trained.weights).toEqual(full.trained.weights)
    expect(resumed.trained.history.map((h) => h.trainLoss)).toEqual(full.trained.history.map((h) => h.trainLoss))
  })
})

/** Circles → init → train with a validation split and the monitor → evaluate the trained weights on that split. */
const monitored = (c: TrainConfig, monitor: MonitorConfig | null = { every: 3, deadThreshold: 1e-6 }) =>
  Effect.gen(function* () {
    const data = yield* putDataset(generate({ n: 600, noise: 0.1, seed: 1 }))
    const validation = yield* putDataset(generate({ n: 150, noise: 0.1, seed: 2 }))
    const initial = yield* step(initWeights, { model: mlp, init: defaultInitConfigs.kaimingNormal, seed: 0 })
    const trained = yield* step(train, { model: mlp, initial, data, validation, config: c, ...(monitor ? { monitor } : {}), backend: "cpu" })
    const onValidation = yield* step(evaluate, { model: mlp, weights: trained.weights, data: validation, backend: "cpu" })
    const atStart = yield* step(evaluate, { model: mlp, weights: initial, data, backend: "cpu" })
    return { trained, onValidation, atStart }
  })

describe("what train records", () => {
  test("validation loss and accuracy per epoch: the last equals the evaluate step's on the trained weights", async () => {
    const r = await runWithEngine(monitored(config({ epochs: 3 })), tensorEngine())
    expect(r.trained.history).toHaveLength(3)
    for (const h of r.trained.history) expect(h.validationLoss).toBeGreaterThan(0)
    const last = r.trained.history.at(-1)!
    expect(last.validationLoss).toBeCloseTo(r.onValidation.loss, 6)
    expect(last.validationAccuracy).toBe(r.onValidation.accuracy)
    expect(last.validationLoss!).toBeLessThan(r.trained.history[0]!.validationLoss!)
    // Without a validation split the fields are there, null.
    const plain = await runWithEngine(pipeline(config({ epochs: 1 })), tensorEngine())
    expect(plain.trained.history[0]).toMatchObject({ validationLoss: null, validationAccuracy: null })
  })

  test("the initial loss is the first batch's at the initial weights, beside ln C", async () => {
    const c = config({ epochs: 1 })
    const r = await runWithEngine(monitored(c), tensorEngine())
    expect(r.trained.initial.expectedLoss).toBeCloseTo(Math.log(2), 12)
    // The first batch of epoch 0, scored at the initial weights: an MLP has no BN, so training and inference
    // forwards agree.
    const data = generate({ n: 600, noise: 0.1, seed: 1 })
    const first = batchIndices(epochOrder(data.n, c.seed, 0), 0, c.batchSize)
    const firstBatch = { ...data, n: first.length, images: take(data.images, first, 2), labels: Uint8Array.from(first, (i) => data.labels[i]!) }
    const scored = await runWithEngine(
      Effect.gen(function* () {
        const initial = yield* step(initWeights, { model: mlp, init: defaultInitConfigs.kaimingNormal, seed: 0 })
        return yield* step(evaluate, { model: mlp, weights: initial, data: yield* putDataset(firstBatch), backend: "cpu" })
      }),
      tensorEngine()
    )
    expect(r.trained.initial.loss).toBeCloseTo(scored.loss, 5)
    expect(r.trained.initial.accuracy).toBe(scored.accuracy)
  })

  test("the monitor samples every K steps from step 0, every conv/dense layer; absent, nothing", async () => {
    const c = config({ epochs: 2 })
    const r = await runWithEngine(monitored(c, { every: 7, deadThreshold: 1e-6 }), tensorEngine())
    const batches = Math.ceil(600 / c.batchSize)
    const steps = [...new Set(r.trained.monitor.map((m) => m.step))]
    expect(steps).toEqual(Array.from({ length: Math.ceil((2 * batches) / 7) }, (_, i) => 7 * i))
    expect(r.trained.monitor.filter((m) => m.step === 0).map((m) => m.layer)).toEqual(["fc1", "fc2", "fc3"])
    expect(r.trained.monitor.every((m) => m.epoch === Math.floor(m.step / batches))).toBe(true)
    expect(r.trained.monitor.every((m) => m.gradNorm! > 0 && m.activationVar! > 0)).toBe(true)
    const off = await runWithEngine(monitored(c, null), tensorEngine())
    expect(off.trained.monitor).toEqual([])
    // The monitor does not change what is trained.
    expect(off.trained.weights).toEqual(r.trained.weights)
  })

  test("interrupted mid-epoch and resumed, train records exactly the same series", async () => {
    const c = config({ epochs: 3 })
    const full = await runWithEngine(monitored(c), tensorEngine())
    const store = makeMemoryStore()
    const recording = makeRecordingReporter()
    const fiber = Effect.runFork(monitored(c).pipe(Effect.provide(engineLayer(tensorEngine({ store, reporter: recording.reporter })))))
    // Interrupt in the second epoch, between batches.
    while (!recording.ticks.some((t) => t.what.startsWith("train epoch 2/") && t.n >= 5)) await new Promise((r) => setTimeout(r, 1))
    await Effect.runPromise(Fiber.interrupt(fiber))
    expect(Exit.isFailure(await Effect.runPromise(Fiber.await(fiber)))).toBe(true)
    const again = makeRecordingReporter()
    const engine = tensorEngine({ store, reporter: again.reporter })
    const resumed = await runWithEngine(monitored(c), engine)
    expect(engine.runner.records.find((r) => r.name === "train")?.resumed).toBe(true)
    expect(again.lines.find((l) => l.includes("resuming"))).toMatch(/resuming at epoch 2, batch [1-9]/)
    expect(resumed.trained.weights).toEqual(full.trained.weights)
    expect(resumed.trained.initial).toEqual(full.trained.initial)
    expect(resumed.trained.monitor).toEqual(full.trained.monitor)
    expect(resumed.trained.history.map(({ seconds: _, ...h }) => h)).toEqual(full.trained.history.map(({ seconds: _, ...h }) => h))
  })
})

/** Samples `idx` of a flat per-sample array with `size` values each. */
const take = (images: Uint8Array | Float32Array, idx: ArrayLike<number>, size: number) => {
  const out = new Float32Array(idx.length * size)
  for (let k = 0; k < idx.length; k++) out.set(images.subarray(idx[k]! * size, (idx[k]! + 1) * size), k * size)
  return out
}
