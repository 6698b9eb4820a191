/**
 * lenet-ablation — the thesis's LeNet ablations of LW (its Table 6.1), on Fashion-MNIST:
 *   LW    mean of the layer output → 0, variance of the activation output → 1 (the method)
 *   LAE1  mean and variance both on the activation output
 *   LAE2  mean only (layer output)          LAE3  variance only (activation output)
 *   LAE4  mean and variance both on the layer output
 * plus Kaiming (or the --init given) as the heuristic reference. Same data, LW mini-batch, seed and training budget
 * for all; the dataset and mini-batch steps are shared, and so are layers whose learning problem is the same. The
 * per-layer evidence is measured on a validation split carved out of the training set; the test split only scores
 * accuracy. Any image dataset by --dataset; the model follows the prepared data.
 *
 *   bun run pipelines/lenet-ablation.ts [--quick] [--epochs N] [--subset N] [--lw-batch 25] [--validation 500]
 *                                       [--activation relu|leaky-relu|prelu|elu|wib-relu|tanh|sigmoid]
 *                                       [--init kaiming-normal|lsuv|...] [--optimizer sgd|adam|adamw]
 *                                       [--dataset fashion-mnist|mnist|cifar10|cifar100|imagenette --data DIR]
 */
import * as tf from "@tensorflow/tfjs"
import { Effect } from "effect"
import { backendFlags, setupBackend } from "../shared/backend/setup.ts"
import { dataFlags } from "../shared/data/flags.ts"
import { runMain } from "../shared/engine/main.ts"
import { definePipeline, variants } from "../shared/engine/pipeline.ts"
import { attempt } from "../shared/errors.ts"
import { lwPresets } from "../shared/lw/config.ts"
import type { ModelSpec } from "../shared/models/spec.ts"
import { dataPlan, dataShape, dataSplits, flaggedInit, learnedInit, prepareData, trainAndEvaluate, validationFlags } from "./lib/experiment.ts"
import { accuracyHeadline, experimentFigures } from "./lib/figures.ts"
import { type LayerStatsRow, evidenceHeading, experimentTable, layerStatsSections, splitsNote } from "./lib/report.ts"
import { IMAGE_DATASETS, INIT_FLAG_NAMES, activationFlag, activationFrom, datasetFlags, datasetFrom, datasetLine, initFrom, lwConfigFrom, lwFlags, optimizerFlags, optimizerLine, trainConfigFrom, trainFlags } from "./lib/flags.ts"
import { lenetAblationResults } from "./lib/results.ts"

const ablations = [
  { id: "LW", preset: "lw" },
  { id: "LAE1", preset: "lae1" },
  { id: "LAE2", preset: "lae2" },
  { id: "LAE3", preset: "lae3" },
  { id: "LAE4", preset: "lae4" },
  // The heuristic reference: Kaiming, or the row is named after the --init given.
  { id: "Kaiming", preset: undefined }
] as const

export const lenetAblation = definePipeline({
  name: "lenet-ablation",
  results: lenetAblationResults,
  description: "LeNet-5 on Fashion-MNIST (or --dataset): LW vs its ablations LAE1–4 (loss sites) vs Kaiming (or --init)",
  flags: {
    ...backendFlags,
    ...dataFlags,
    ...trainFlags({ epochs: 8, quickEpochs: 1, subset: 0, quickSubset: 1000, testSubset: 0, quickTestSubset: 500 }),
    ...lwFlags({ quickMaxEpochs: 30 }),
    ...validationFlags({ validation: 500, quickValidation: 100 }),
    ...activationFlag({ default: "relu", doc: "LeNet's activation" }),
    ...datasetFlags({ size: 32 }),
    ...optimizerFlags,
    init: { kind: "enum", values: INIT_FLAG_NAMES, default: "kaiming-normal", doc: "the heuristic reference row's initialization (lsuv: on the LW batch)" }
  },
  setup: setupBackend,
  run: (config) =>
    Effect.gen(function* () {
      const backend = tf.getBackend()
      const dataset = yield* attempt(async () =>
        datasetFrom(config.dataset, IMAGE_DATASETS, "LeNet-5 takes images; circles are 2-D points: pipelines/circle-normalization.ts")
      )
      const data = yield* prepareData(dataPlan({ ...config, dataset }))
      const model: ModelSpec = { arch: "lenet5", ...dataShape(data), activation: activationFrom(config.activation) }
      const training = trainConfigFrom(config)
      const reference = initFrom(config.init)
      const layerStats: Record<string, ReadonlyArray<LayerStatsRow>> = {}
      const rows = ablations.map((a) => (a.preset === undefined && config.init !== "kaiming-normal" ? { ...a, id: config.init } : a))
      const experiments = yield* variants(rows, (a) =>
        Effect.gen(function* () {
          if (a.preset === undefined) {
            const { weights } = yield* flaggedInit(model, reference, data.lwBatch, config.seed, backend)
            return yield* trainAndEvaluate(model, weights, data, training, backend)
          }
          const lw = yield* learnedInit(model, data, lwConfigFrom(lwPresets[a.preset], config), config.seed, backend)
          layerStats[a.id] = lw.layerStats
          return { ...(yield* trainAndEvaluate(model, lw.weights, data, training, backend)), lwSeconds: lw.seconds, lwLayers: lw.layers }
        })
      )
      return { splits: dataSplits(data), experiments, layerStats }
    }),
  report: ({ splits, experiments, layerStats }, config) =>
    [
      "## LeNet-5 ablations (thesis Table 6.1: Fashion-MNIST)",
      "",
      `${datasetLine(config)}, LeNet-5 with ${config.activation}, ${config.epochs} epochs, ${optimizerLine(trainConfigFrom(config))}.`,
      "",
      experimentTable(experiments),
      "",
      "The thesis's own figures are not reproduced here (this repository does not hold the thesis); compare this",
      "table with its Table 6.1. Data differences: the data as prepared here (standard normalization), the",
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
