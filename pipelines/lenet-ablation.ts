/**
 * lenet-ablation — the thesis's LeNet ablations of LW (its Table 6.1), on Fashion-MNIST:
 *   LW    mean of the layer output → 0, variance of the activation output → 1 (the method)
 *   LAE1  mean and variance both on the activation output
 *   LAE2  mean only (layer output)          LAE3  variance only (activation output)
 *   LAE4  mean and variance both on the layer output
 * plus Kaiming as the heuristic reference. Same data, LW mini-batch, seed and training budget for all; the dataset
 * and mini-batch steps are shared, and so are layers whose learning problem is the same. The per-layer evidence is
 * measured on a validation split carved out of the training set; the test split only scores accuracy.
 *
 *   bun run pipelines/lenet-ablation.ts [--quick] [--epochs N] [--subset N] [--lw-batch 25] [--validation 500]
 *                                       [--activation relu]
 */
import * as tf from "@tensorflow/tfjs"
import { Effect } from "effect"
import { backendFlags, setupBackend } from "../shared/backend/setup.ts"
import { dataFlags } from "../shared/data/flags.ts"
import { runMain } from "../shared/engine/main.ts"
import { definePipeline, variants } from "../shared/engine/pipeline.ts"
import { defaultInitConfigs } from "../shared/init/initializers.ts"
import { lwPresets } from "../shared/lw/config.ts"
import type { Activation, ModelSpec } from "../shared/models/spec.ts"
import { dataSplits, fashionMnistPlan, heuristicInit, learnedInit, prepareData, trainAndEvaluate, validationFlags } from "./lib/experiment.ts"
import { accuracyHeadline, experimentFigures } from "./lib/figures.ts"
import { type LayerStatsRow, evidenceHeading, experimentTable, layerStatsSections, splitsNote } from "./lib/report.ts"
import { lwFlags, lwConfigFrom, trainConfigFrom, trainFlags } from "./lib/flags.ts"
import { lenetAblationResults } from "./lib/results.ts"

const ablations = [
  { id: "LW", preset: "lw" },
  { id: "LAE1", preset: "lae1" },
  { id: "LAE2", preset: "lae2" },
  { id: "LAE3", preset: "lae3" },
  { id: "LAE4", preset: "lae4" },
  { id: "Kaiming", preset: undefined }
] as const

export const lenetAblation = definePipeline({
  name: "lenet-ablation",
  results: lenetAblationResults,
  description: "LeNet-5 on Fashion-MNIST: LW vs its ablations LAE1–4 (loss sites) vs Kaiming",
  flags: {
    ...backendFlags,
    ...dataFlags,
    ...trainFlags({ epochs: 8, quickEpochs: 1, subset: 0, quickSubset: 1000, testSubset: 0, quickTestSubset: 500 }),
    ...lwFlags({ quickMaxEpochs: 30 }),
    ...validationFlags({ validation: 500, quickValidation: 100 }),
    activation: { kind: "enum", values: ["relu", "tanh", "sigmoid"], default: "relu", doc: "LeNet's activation" }
  },
  setup: setupBackend,
  run: (config) =>
    Effect.gen(function* () {
      const backend = tf.getBackend()
      const model: ModelSpec = { arch: "lenet5", inputShape: [28, 28, 1], classes: 10, activation: config.activation as Activation }
      const data = yield* prepareData(fashionMnistPlan(config))
      const training = trainConfigFrom(config)
      const layerStats: Record<string, ReadonlyArray<LayerStatsRow>> = {}
      const experiments = yield* variants(ablations, (a) =>
        Effect.gen(function* () {
          if (a.preset === undefined) {
            const initial = yield* heuristicInit(model, defaultInitConfigs.kaimingNormal, config.seed)
            return yield* trainAndEvaluate(model, initial, data, training, backend)
          }
          const lw = yield* learnedInit(model, data, lwConfigFrom(lwPresets[a.preset], config), config.seed, backend)
          layerStats[a.id] = lw.layerStats
          return { ...(yield* trainAndEvaluate(model, lw.weights, data, training, backend)), lwSeconds: lw.seconds, lwLayers: lw.layers }
        })
      )
      return { splits: dataSplits(data), experiments, layerStats }
    }),
  report: ({ splits, experiments, layerStats }) =>
    [
      "## LeNet-5 ablations on Fashion-MNIST (thesis Table 6.1)",
      "",
      experimentTable(experiments),
      "",
      "The thesis's own figures are not reproduced here (this repository does not hold the thesis); compare this",
      "table with its Table 6.1. Data differences: Fashion-MNIST as prepared here (standard normalization), the",
      "training budget of this run (see results.json `config`), one seed.",
      "",
      splitsNote(splits),
      "",
      evidenceHeading(splits, "per-layer statistics after LW"),
      "",
      ...layerStatsSections(layerStats)
    ].join("\n"),
  figures: ({ experiments, layerStats }) =>
    experimentFigures(experiments, { byExperiment: layerStats, what: "On the validation split, after LW (LW and its ablations)." }),
  headline: ({ experiments }) => accuracyHeadline(experiments)
})

if (import.meta.main) runMain(lenetAblation)
