/**
 * demo — the engine end to end on a problem small enough to run anywhere: concentric circles, a 2-hidden-layer MLP,
 * three initializations as variants that share the dataset steps. Run it twice: the second run is all cache hits.
 * Kill it mid-training and run it again: training resumes from its checkpoint.
 *
 * The study flags that fit a 2-D toy: --inits (any of the library's, LSUV on a batch of training points),
 * --activation, --optimizer/--weight-decay/--lr. No --dataset: the decision maps need 2-D points (baseline --model
 * mlp takes the image datasets).
 *
 *   bun run pipelines/demo.ts [--quick] [--epochs N] [--inits a,b,c] [--activation relu|tanh|...]
 *                             [--optimizer sgd|adam|adamw] [--lr X] [--seed N] [--out DIR] [--fresh]
 */
import * as tf from "@tensorflow/tfjs"
import { backendFlags, setupBackend } from "../shared/backend/setup.ts"
import { Effect } from "effect"
import { definePipeline, step, variants } from "../shared/engine/pipeline.ts"
import { runMain } from "../shared/engine/main.ts"
import { markdownTable } from "../shared/engine/report.ts"
import { attempt } from "../shared/errors.ts"
import type { ModelSpec } from "../shared/models/spec.ts"
import { deriveSeed } from "../shared/random.ts"
import { decisionGrid } from "../steps/decision-grid.ts"
import { evaluate } from "../steps/evaluate.ts"
import { makeCircles } from "../steps/make-circles.ts"
import { type TrainConfig, defaultMonitor, train } from "../steps/train.ts"
import { accuracyHeadline, decisionBoundaries, experimentFigures } from "./lib/figures.ts"
import { flaggedInit, lsuvBatch } from "./lib/experiment.ts"
import { INIT_FLAG_NAMES, activationFlag, activationFrom, initFrom, listFrom, lrFlag, lsuvFlags, optimizerFlags, optimizerFrom, optimizerLine } from "./lib/flags.ts"
import { demoResults } from "./lib/results.ts"

/** SGD (momentum 0.9) or the flagged optimizer, the lr halved every third of the run, batch 32. */
const trainConfig = (c: { optimizer: string; weightDecay: string; lr: number; epochs: number; seed: number }): TrainConfig => ({
  optimizer: optimizerFrom(c),
  lr: c.lr,
  schedule: { kind: "step", every: Math.max(1, Math.floor(c.epochs / 3)), factor: 0.5 },
  epochs: c.epochs,
  batchSize: 32,
  seed: c.seed
})

export const demo = definePipeline({
  name: "demo",
  results: demoResults,
  description: "circles × MLP × three initializations (engine demonstration)",
  flags: {
    epochs: { kind: "int", default: 30, quick: 8, check: "number.integer >= 1", doc: "training epochs per variant" },
    samples: { kind: "int", default: 4000, quick: 1000, check: "number.integer >= 10", doc: "training points" },
    // The demo's three: Xavier (uniform), Kaiming (normal), N(0, 1) — a good, a good and a bad start for ReLU.
    inits: { kind: "string", default: "xavier-uniform,kaiming-normal,random", doc: `initializers compared, comma-separated: ${INIT_FLAG_NAMES.join(", ")}` },
    ...lsuvFlags,
    ...activationFlag({ default: "relu", doc: "activation of the hidden layers" }),
    ...optimizerFlags,
    // 0.02 with a step decay: trains the 2×32 MLP on circles within the quick run's 8 epochs.
    ...lrFlag({ sgd: 0.02, doc: "learning rate, halved every third of the epochs" }),
    ...backendFlags
  },
  setup: setupBackend,
  run: (config) =>
    Effect.gen(function* () {
      const inits = yield* attempt(async () => listFrom("inits", config.inits, INIT_FLAG_NAMES).map((id) => ({ id, choice: initFrom(id) })))
      const model: ModelSpec = { arch: "mlp", inputShape: [1, 2, 1], depth: 2, width: 32, activation: activationFrom(config.activation), classes: 2 }
      const trainSet = yield* step(makeCircles, { n: config.samples, noise: 0.1, factor: 0.5, seed: config.seed })
      const testSet = yield* step(makeCircles, { n: 1000, noise: 0.1, factor: 0.5, seed: deriveSeed(config.seed, "circles/test") })
      // Scored after every epoch (the validation curves); neither trained on nor the test set.
      const validationSet = yield* step(makeCircles, { n: 500, noise: 0.1, factor: 0.5, seed: deriveSeed(config.seed, "circles/validation") })
      const experiments = yield* variants(inits, (v) =>
        Effect.gen(function* () {
          // LSUV measures on a batch of training points; a draw takes none (it is handed the training set, unused).
          const batch = v.choice.kind === "lsuv" ? yield* lsuvBatch(trainSet, config) : trainSet
          const { weights: initial } = yield* flaggedInit(model, v.choice, batch, config.seed, tf.getBackend())
          const trained = yield* step(train, {
            model,
            initial,
            data: trainSet,
            validation: validationSet,
            // Every 10 steps: a --quick run has 32 steps per epoch, and the monitor's default (50) would sample few.
            monitor: { ...defaultMonitor, every: 10 },
            backend: tf.getBackend(),
            config: trainConfig(config)
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
  report: ({ experiments }, config) =>
    [
      "## Test accuracy by initialization",
      "",
      `2×32 ${config.activation} MLP on circles (${config.samples} training points), ${config.epochs} epochs, ${optimizerLine(trainConfig(config))}.`,
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
