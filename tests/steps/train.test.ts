/** The train and evaluate steps on small real problems: determinism, resume, divergence as data, no tensor leaks. */
import { beforeAll, describe, expect, test } from "bun:test"
import * as tf from "@tensorflow/tfjs"
import { Effect, Exit, Fiber } from "effect"
import { makeCircles as generate } from "../../shared/data/circles.ts"
import { step } from "../../shared/engine/pipeline.ts"
import { makeMemoryStore } from "../../shared/engine/store.ts"
import { tensorEnvironment } from "../../shared/backend/fingerprint.ts"
import { engineLayer, makeEngine, runWithEngine } from "../../shared/engine/testing.ts"
import { type InitConfig, defaultInitConfigs } from "../../shared/init/initializers.ts"
import type { ModelSpec } from "../../shared/models/spec.ts"
import { putDataset } from "../../shared/schemas.ts"
import { evaluate } from "../../steps/evaluate.ts"
import { initWeights } from "../../steps/init-weights.ts"
import { type TrainConfig, train } from "../../steps/train.ts"

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
