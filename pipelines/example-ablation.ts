/**
 * example-ablation — a new ablation in a few lines, from existing steps: LW with the variance target moved to the
 * layer output and α = 10, on a tanh LeNet, against tanh × LW from lenet-init-grid. The dataset, mini-batch and (for
 * the reference) every LW layer and training run are shared with the other pipelines, so they come from the cache.
 */
import * as tf from "@tensorflow/tfjs"
import { Effect } from "effect"
import { backendFlags, setupBackend } from "../shared/backend/setup.ts"
import { dataFlags } from "../shared/data/flags.ts"
import { runMain } from "../shared/engine/main.ts"
import { definePipeline, variants } from "../shared/engine/pipeline.ts"
import { lwPresets } from "../shared/lw/config.ts"
import type { ModelSpec } from "../shared/models/spec.ts"
import { dataSplits, fashionMnistPlan, learnedInit, prepareData, trainAndEvaluate, validationFlags } from "./lib/experiment.ts"
import { lwConfigFrom, lwFlags, trainConfigFrom, trainFlags } from "./lib/flags.ts"
import { accuracyHeadline, experimentFigures } from "./lib/figures.ts"
import { experimentTable, splitsNote } from "./lib/report.ts"
import { exampleAblationResults } from "./lib/results.ts"

export const exampleAblation = definePipeline({
  name: "example-ablation",
  results: exampleAblationResults,
  description: "tanh LeNet: LW vs LW with the variance target on the layer output and α = 10",
  flags: {
    ...backendFlags,
    ...dataFlags,
    ...trainFlags({ epochs: 5, quickEpochs: 1, subset: 0, quickSubset: 1000, testSubset: 0, quickTestSubset: 500 }),
    ...lwFlags({ quickMaxEpochs: 30 }),
    // LW's freeze step measures its evidence there (not reported here); lenet-init-grid's size, so shared steps hit.
    ...validationFlags({ validation: 500, quickValidation: 100 })
  },
  setup: setupBackend,
  run: (config) =>
    Effect.gen(function* () {
      const model: ModelSpec = { arch: "lenet5", inputShape: [28, 28, 1], classes: 10, activation: "tanh" }
      const data = yield* prepareData(fashionMnistPlan(config))
      const lw = lwConfigFrom(lwPresets.lw, config)
      const experiments = yield* variants(
        [
          { id: "tanh × LW", lw },
          { id: "tanh × LW, var on layer output, α = 10", lw: { ...lw, varianceAt: "output" as const, alpha: 10 } }
        ],
        (v) =>
          Effect.flatMap(learnedInit(model, data, v.lw, config.seed, tf.getBackend()), (init) =>
            Effect.map(trainAndEvaluate(model, init.weights, data, trainConfigFrom(config), tf.getBackend()), (trained) => ({
              ...trained,
              lwSeconds: init.seconds,
              lwLayers: init.layers
            })))
      )
      return { splits: dataSplits(data), experiments }
    }),
  report: ({ splits, experiments }) =>
    ["## A new ablation, composed from existing steps", "", experimentTable(experiments), "", splitsNote(splits)].join("\n"),
  figures: ({ experiments }) => experimentFigures(experiments),
  headline: ({ experiments }) => accuracyHeadline(experiments)
})

if (import.meta.main) runMain(exampleAblation)
