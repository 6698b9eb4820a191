/**
 * demo — the engine end to end on a problem small enough to run anywhere: concentric circles, a 2-hidden-layer MLP,
 * three initializations as variants that share the dataset steps. Run it twice: the second run is all cache hits.
 * Kill it mid-training and run it again: training resumes from its checkpoint.
 *
 *   bun run pipelines/demo.ts [--quick] [--epochs N] [--seed N] [--out DIR] [--fresh]
 */
import * as tf from "@tensorflow/tfjs"
import { backendFlags, setupBackend } from "../shared/backend/setup.ts"
import { Effect } from "effect"
import { definePipeline, step, variants } from "../shared/engine/pipeline.ts"
import { runMain } from "../shared/engine/main.ts"
import { markdownTable } from "../shared/engine/report.ts"
import { defaultInitConfigs } from "../shared/init/initializers.ts"
import type { ModelSpec } from "../shared/models/spec.ts"
import { deriveSeed } from "../shared/random.ts"
import { decisionGrid } from "../steps/decision-grid.ts"
import { evaluate } from "../steps/evaluate.ts"
import { initWeights } from "../steps/init-weights.ts"
import { makeCircles } from "../steps/make-circles.ts"
import { defaultMonitor, train } from "../steps/train.ts"
import { accuracyHeadline, decisionBoundaries, experimentFigures } from "./lib/figures.ts"
import { demoResults } from "./lib/results.ts"

const inits = [
  { id: "xavier", init: defaultInitConfigs.xavierUniform },
  { id: "kaiming", init: defaultInitConfigs.kaimingNormal },
  { id: "normal(0,1)", init: defaultInitConfigs.random }
]

export const demo = definePipeline({
  name: "demo",
  results: demoResults,
  description: "circles × MLP × three initializations (engine demonstration)",
  flags: {
    epochs: { kind: "int", default: 30, quick: 8, check: "number.integer >= 1", doc: "training epochs per variant" },
    samples: { kind: "int", default: 4000, quick: 1000, check: "number.integer >= 10", doc: "training points" },
    ...backendFlags
  },
  setup: setupBackend,
  run: (config) =>
    Effect.gen(function* () {
      const model: ModelSpec = { arch: "mlp", inputShape: [1, 2, 1], depth: 2, width: 32, activation: "relu", classes: 2 }
      const trainSet = yield* step(makeCircles, { n: config.samples, noise: 0.1, factor: 0.5, seed: config.seed })
      const testSet = yield* step(makeCircles, { n: 1000, noise: 0.1, factor: 0.5, seed: deriveSeed(config.seed, "circles/test") })
      // Scored after every epoch (the validation curves); neither trained on nor the test set.
      const validationSet = yield* step(makeCircles, { n: 500, noise: 0.1, factor: 0.5, seed: deriveSeed(config.seed, "circles/validation") })
      const experiments = yield* variants(inits, (v) =>
        Effect.gen(function* () {
          const initial = yield* step(initWeights, { model, init: v.init, seed: config.seed })
          const trained = yield* step(train, {
            model,
            initial,
            data: trainSet,
            validation: validationSet,
            // Every 10 steps: a --quick run has 32 steps per epoch, and the monitor's default (50) would sample few.
            monitor: { ...defaultMonitor, every: 10 },
            backend: tf.getBackend(),
            config: {
              optimizer: { kind: "sgd", momentum: 0.9, weightDecay: 0 },
              lr: 0.02,
              schedule: { kind: "step", every: Math.max(1, Math.floor(config.epochs / 3)), factor: 0.5 },
              epochs: config.epochs,
              batchSize: 32,
              seed: config.seed
            }
          })
          const test = yield* step(evaluate, { model, weights: trained.weights, data: testSet, backend: tf.getBackend() })
          // The decision map at the trained weights, with 300 test points on it.
          const grid = yield* step(decisionGrid, { model, weights: trained.weights, data: testSet, resolution: 30, points: 300, backend: tf.getBackend() })
          const last = trained.history.at(-1)
          return {
            testAccuracy: test.accuracy,
            // The same fields as the LW pipelines' experiments (pipelines/lib/experiment.ts trainAndEvaluate).
            testLoss: test.nonFinite || test.loss < 0 ? null : test.loss,
            diverged: trained.diverged !== null || test.nonFinite,
            divergedAt: trained.diverged ? `epoch ${trained.diverged.epoch + 1}, batch ${trained.diverged.batch}` : null,
            epochs: trained.history.length,
            finalTrainLoss: last?.trainLoss ?? null,
            seconds: trained.seconds,
            history: trained.history,
            initial: trained.initial,
            monitor: trained.monitor,
            decisionGrid: grid
          }
        })
      )
      return { experiments }
    }),
  report: ({ experiments }) =>
    [
      "## Test accuracy by initialization",
      "",
      markdownTable(
        ["init", "test accuracy", "test loss", "final train loss", "diverged", "epochs", "train seconds"],
        experiments.map((e) => [
          e.id,
          `${(100 * e.testAccuracy).toFixed(2)} %`,
          e.testLoss?.toFixed(4) ?? "NaN/Inf",
          e.finalTrainLoss?.toFixed(4) ?? "–",
          e.diverged ? "yes" : "no",
          e.epochs,
          e.seconds.toFixed(1)
        ])
      )
    ].join("\n"),
  figures: ({ experiments }) => [
    ...experimentFigures(experiments),
    ...decisionBoundaries(experiments, "P(inner)")
  ],
  headline: ({ experiments }) => accuracyHeadline(experiments)
})


if (import.meta.main) runMain(demo)
