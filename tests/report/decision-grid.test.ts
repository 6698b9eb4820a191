/**
 * steps/decision-grid.ts: the grid spans the data, cell i is (xs[i % nx], ys[i / nx]), each probability is the
 * model's softmax there (checked against the model run on that one point), points carry their class; data that is
 * not 2-D two-class is a BadConfig naming the input. And it is a cached step like any other.
 */
import { beforeAll, describe, expect, test } from "bun:test"
import * as tf from "@tensorflow/tfjs"
import { Effect } from "effect"
import { tensorEnvironment } from "../../shared/backend/fingerprint.ts"
import { makeCircles as generate } from "../../shared/data/circles.ts"
import { step } from "../../shared/engine/pipeline.ts"
import { makeEngine, runWithEngine } from "../../shared/engine/testing.ts"
import { defaultInitConfigs } from "../../shared/init/initializers.ts"
import type { ModelSpec } from "../../shared/models/spec.ts"
import { getWeights, putDataset } from "../../shared/schemas.ts"
import { withModelOnBatch } from "../../shared/train/tensors.ts"
import { decisionGrid, gridInputs, gridPlan } from "../../steps/decision-grid.ts"
import { initWeights } from "../../steps/init-weights.ts"

beforeAll(async () => {
  tf.env().set("PROD", true)
  await tf.setBackend("cpu")
})

const mlp: ModelSpec = { arch: "mlp", inputShape: [1, 2, 1], depth: 2, width: 8, activation: "relu", classes: 2 }

describe("decision grid", () => {
  test("gridPlan: cell centres over the data's extent plus a margin; gridInputs: row-major cells", () => {
    const set = { images: Float32Array.from([0, 0, 2, 1, 1, 4]), n: 3 }
    const plan = gridPlan(set, 4, 0.1)
    // x spans [0, 2] widened by 0.2 each side: [-0.2, 2.2], step 0.6, centres at -0.2 + 0.3 + 0.6k.
    plan.xs.forEach((x, k) => expect(x).toBeCloseTo(0.1 + 0.6 * k, 6))
    plan.ys.forEach((y, k) => expect(y).toBeCloseTo(-0.4 + 0.6 + 1.2 * k, 6))
    const inputs = gridInputs(plan)
    expect(inputs.n).toBe(16)
    expect([inputs.images[2 * 5]!, inputs.images[2 * 5 + 1]!]).toEqual([Math.fround(plan.xs[1]!), Math.fround(plan.ys[1]!)])
  })

  test("the step: the model's P(class 1) on every cell, a sample of points; cached on a second run", async () => {
    const engine = makeEngine({ environment: tensorEnvironment(undefined) })
    const run = Effect.gen(function* () {
      const data = yield* putDataset(generate({ n: 200, noise: 0.1, factor: 0.5, seed: 1 }))
      const weights = yield* step(initWeights, { model: mlp, init: defaultInitConfigs.kaimingNormal, seed: 0 })
      const grid = yield* step(decisionGrid, { model: mlp, weights, data, resolution: 12, points: 50, backend: "cpu" })
      return { grid, arrays: yield* getWeights(weights) }
    })
    const { grid, arrays } = await runWithEngine(run, engine)
    expect(grid.xs).toHaveLength(12)
    expect(grid.probability).toHaveLength(144)
    expect(grid.probability.every((p) => p !== null && p >= 0 && p <= 1)).toBe(true)
    expect(new Set(grid.probability.map((p) => p!.toFixed(3))).size).toBeGreaterThan(10) // a map, not a constant
    expect(grid.points).toHaveLength(50)
    expect(new Set(grid.points.map((p) => `${p.class}:${p.label}`))).toEqual(new Set(["0:outer", "1:inner"]))
    // Cell 29 is (xs[5], ys[2]): the same number as the model run on that point alone.
    const alone = withModelOnBatch(mlp, arrays, { images: Float32Array.from([grid.xs[5]!, grid.ys[2]!]), n: 1, height: 1, width: 2, channels: 1 }, (model, x) =>
      tf.tidy(() => (tf.softmax(model.apply(x) as tf.Tensor2D).dataSync()[1]!))
    )
    expect(grid.probability[29]!).toBeCloseTo(alone, 6)

    // The same store, a new run: a cache hit with the same output.
    const second = makeEngine({ store: engine.store, environment: tensorEnvironment(undefined) })
    const again = await runWithEngine(run, second)
    expect(again.grid).toEqual(grid)
    expect(engine.runner.records.find((r) => r.name === "decision-grid")?.cached).toBe(false)
    expect(second.runner.records.find((r) => r.name === "decision-grid")?.cached).toBe(true)
  })

  test("data that is not 2-D with two classes is a BadConfig", async () => {
    const engine = makeEngine({ environment: tensorEnvironment(undefined) })
    const e = await runWithEngine(
      Effect.gen(function* () {
        const set = generate({ n: 20, seed: 1 })
        const data = yield* putDataset({ ...set, classes: 3 })
        const weights = yield* step(initWeights, { model: mlp, init: defaultInitConfigs.kaimingNormal, seed: 0 })
        return yield* Effect.flip(step(decisionGrid, { model: mlp, weights, data, resolution: 4, points: 0, backend: "cpu" }))
      }),
      engine
    )
    expect(e._tag).toBe("BadConfig")
    expect(e.message).toContain("2-D inputs (1×2×1) and 2 classes")
  })
})
