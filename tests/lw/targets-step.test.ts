/**
 * The learn-layer-init step with bounded activations, through the engine: each layer of a sigmoid and a tanh MLP
 * learned with varianceTarget "auto" meets the target the step records, on held-out images (the freeze step's
 * statistics); the thesis' literal 1 is recorded infeasible, not reached, and warned about once per layer; a ReLU
 * MLP learns the very same weights under "auto" as under 1.
 */
import { beforeAll, describe, expect, test } from "bun:test"
import * as tf from "@tensorflow/tfjs"
import { Effect } from "effect"
import { tensorEnvironment } from "../../shared/backend/fingerprint.ts"
import { sequence, step } from "../../shared/engine/pipeline.ts"
import { makeRecordingReporter } from "../../shared/engine/reporter.ts"
import type { StepOutput } from "../../shared/engine/step.ts"
import { makeEngine, runWithEngine } from "../../shared/engine/testing.ts"
import { defaultLwConfig, type LwConfig } from "../../shared/lw/config.ts"
import type { ModelSpec } from "../../shared/models/spec.ts"
import { putDataset } from "../../shared/schemas.ts"
import { freeze } from "../../steps/freeze.ts"
import { initWeights } from "../../steps/init-weights.ts"
import { learnLayerInit } from "../../steps/learn-layer-init.ts"
import { lwLayersOf } from "../../pipelines/lib/experiment.ts"
import { blobBatch } from "./fixtures.ts"

beforeAll(async () => {
  tf.env().set("PROD", true)
  await tf.setBackend("cpu")
})

/** n standardized blob images 12×12×1 as a dataset (labels unused by LW). */
const images = (n: number, seed: number) => {
  const t = blobBatch(n, 12, 12, 1, seed)
  const data = t.dataSync() as Float32Array
  t.dispose()
  return { images: Float32Array.from(data), labels: new Uint8Array(n), n, height: 12, width: 12, channels: 1, classes: 10 }
}

/** LW on every layer but the classifier, one step each, then the held-out statistics. */
const learnAll = (model: ModelSpec, config: LwConfig) =>
  Effect.gen(function* () {
    const batch = yield* putDataset(images(48, 1))
    const heldOut = yield* putDataset(images(256, 2))
    const base = yield* step(initWeights, { model, init: config.init, seed: 0 })
    const learned = yield* sequence(lwLayersOf(model), { state: base, steps: [] as Array<StepOutput<typeof learnLayerInit>> }, (acc, layer) =>
      Effect.map(step(learnLayerInit, { model, state: acc.state, layer, batch, config, seed: 0, backend: "cpu" }), (r) => ({
        state: r.state,
        steps: [...acc.steps, r]
      }))
    )
    const frozen = yield* step(freeze, { model, state: learned.state, heldOut, backend: "cpu" })
    return { steps: learned.steps, stats: frozen.layerStats, state: learned.state }
  })

const mlp = (activation: "sigmoid" | "tanh"): ModelSpec => ({ arch: "mlp", inputShape: [12, 12, 1], depth: 3, width: 48, classes: 10, activation })

describe("learn-layer-init with bounded activations", () => {
  for (const activation of ["sigmoid", "tanh"] as const) {
    test(`${activation} MLP, "auto": every layer's recorded target is met on held-out images`, async () => {
      const recording = makeRecordingReporter()
      const engine = makeEngine({ environment: tensorEnvironment(undefined), reporter: recording.reporter })
      const { steps, stats } = await runWithEngine(learnAll(mlp(activation), defaultLwConfig), engine)
      expect(steps.map((s) => s.layer)).toEqual(["fc1", "fc2", "fc3"])
      expect(recording.warnings).toEqual([])
      for (const s of steps) {
        expect(s.target).toMatchObject({ activation, auto: true, feasibility: "feasible", reason: null, reached: true })
        const held = stats.find((x) => x.name === s.layer)!
        const measured = s.target.varianceAt === "output" ? held.outputVar! : held.activationVar!
        console.log(`${activation} ${s.layer}: ${s.target.varianceAt} variance target ${s.target.varianceTarget}, held-out ${measured.toFixed(4)} (${s.epochs} epochs, ${s.stop})`)
        expect(Math.abs(measured / s.target.varianceTarget - 1)).toBeLessThan(0.15)
        expect(Math.abs(held.outputMean!)).toBeLessThan(0.15)
      }
    })
  }

  test("the thesis' literal 1 on sigmoid: recorded infeasible and not reached, one warning per layer", async () => {
    const recording = makeRecordingReporter()
    const engine = makeEngine({ environment: tensorEnvironment(undefined), reporter: recording.reporter })
    const { steps } = await runWithEngine(learnAll(mlp("sigmoid"), { ...defaultLwConfig, varianceTarget: 1, maxEpochs: 40 }), engine)
    for (const s of steps) {
      expect(s.target).toMatchObject({ activation: "sigmoid", auto: false, varianceTarget: 1, feasibility: "infeasible", reached: false })
      expect(s.target.reason).toContain("unreachable for sigmoid")
    }
    expect(recording.warnings.length).toBe(3)
    expect(recording.warnings[0]).toContain('LW "fc1": activation variance 1 is unreachable for sigmoid')
  })

  test('a ReLU MLP learns the same weights (the same artifact) under "auto" as under the literal 1', async () => {
    const relu: ModelSpec = { ...mlp("tanh"), activation: "relu" }
    const engine = makeEngine({ environment: tensorEnvironment(undefined) })
    const auto = await runWithEngine(learnAll(relu, defaultLwConfig), engine)
    const literal = await runWithEngine(learnAll(relu, { ...defaultLwConfig, varianceTarget: 1 }), engine)
    // Different configs, so different step keys: both computed, and their weights hash alike.
    expect(auto.state).toEqual(literal.state)
    expect(auto.steps.map((s) => s.target)).toEqual(literal.steps.map((s) => ({ ...s.target, auto: true })))
  })
})
