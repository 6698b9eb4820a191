/**
 * lenet-init-grid — activation × initialization on LeNet-5 (the thesis's Tables 6.3 and 6.4: Fashion-MNIST, and an
 * Imagenette image folder): {sigmoid, tanh, ReLU} × {LW, Kaiming, Xavier} by default, any of the library's
 * activations × any initializer by flag. Kaiming is He-normal with the ReLU gain √2 (what "Kaiming" means in
 * PyTorch's `kaiming_normal_` default), Xavier is Glorot-uniform with gain 1; LW is the method's default config;
 * LSUV measures on the LW mini-batch. The model follows the data (an image folder is resized to --size, RGB).
 * The dataset and LW mini-batch steps are shared by all experiments. The per-layer evidence is measured on a
 * validation split carved out of the training set; the test split only scores accuracy.
 *
 *   bun run pipelines/lenet-init-grid.ts [--quick] [--epochs N] [--subset N] [--validation 500] [--activations relu,tanh]
 *                                        [--inits lw,kaiming-normal,xavier-uniform,lsuv] [--dataset imagenette --data DIR --size 32]
 */
import * as tf from "@tensorflow/tfjs"
import { Effect } from "effect"
import { backendFlags, setupBackend } from "../shared/backend/setup.ts"
import { dataFlags } from "../shared/data/flags.ts"
import { runMain } from "../shared/engine/main.ts"
import { definePipeline, variants } from "../shared/engine/pipeline.ts"
import { markdownTable } from "../shared/engine/report.ts"
import { attempt } from "../shared/errors.ts"
import { lwPresets } from "../shared/lw/config.ts"
import type { ModelSpec } from "../shared/models/spec.ts"
import { dataPlan, dataShape, dataSplits, flaggedInit, learnedInit, prepareData, trainAndEvaluate, validationFlags } from "./lib/experiment.ts"
import { ACTIVATION_FLAG_NAMES, IMAGE_DATASETS, INIT_FLAG_NAMES, activationFrom, datasetFlags, datasetFrom, datasetLine, initFrom, listFrom, lwConfigFrom, lwFlags, optimizerFlags, optimizerLine, trainConfigFrom, trainFlags } from "./lib/flags.ts"
import { heatmap, figure } from "../shared/report/charts.ts"
import { accuracyHeadline, experimentFigures } from "./lib/figures.ts"
import { type LayerStatsRow, evidenceHeading, experimentTable, layerStatsSections, splitsNote } from "./lib/report.ts"
import { lenetInitGridResults } from "./lib/results.ts"

/** LW, then every initializer the init flag knows. */
const initNames = ["lw", ...INIT_FLAG_NAMES] as const
/** The thesis's column names for its three; the flag's name for the others. */
const initLabels: Partial<Record<(typeof initNames)[number], string>> = { lw: "LW", "kaiming-normal": "Kaiming", "xavier-uniform": "Xavier", lsuv: "LSUV" }
const labelOf = (init: (typeof initNames)[number]) => initLabels[init] ?? init

export const lenetInitGrid = definePipeline({
  name: "lenet-init-grid",
  results: lenetInitGridResults,
  description: "LeNet-5 on Fashion-MNIST or an image folder: {sigmoid, tanh, ReLU} × {LW, Kaiming, Xavier} (or any activations × inits)",
  flags: {
    ...backendFlags,
    ...dataFlags,
    ...trainFlags({ epochs: 5, quickEpochs: 1, subset: 0, quickSubset: 1000, testSubset: 0, quickTestSubset: 500 }),
    ...lwFlags({ quickMaxEpochs: 30 }),
    ...validationFlags({ validation: 500, quickValidation: 100 }),
    ...datasetFlags({ size: 32 }),
    ...optimizerFlags,
    activations: { kind: "string", default: "sigmoid,tanh,relu", doc: `comma-separated activations, of ${ACTIVATION_FLAG_NAMES.join(", ")}` },
    inits: { kind: "string", default: "lw,kaiming-normal,xavier-uniform", doc: `comma-separated initializations, of ${initNames.join(", ")}` }
  },
  setup: setupBackend,
  run: (config) =>
    Effect.gen(function* () {
      const backend = tf.getBackend()
      const { dataset, activations, inits } = yield* attempt(async () => ({
        dataset: datasetFrom(config.dataset, IMAGE_DATASETS, "LeNet-5 takes images; circles are 2-D points: pipelines/circle-normalization.ts"),
        activations: listFrom("activations", config.activations, ACTIVATION_FLAG_NAMES),
        inits: listFrom("inits", config.inits, initNames)
      }))
      const data = yield* prepareData(dataPlan({ ...config, dataset }))
      const training = trainConfigFrom(config)
      const grid = activations.flatMap((activation) => inits.map((init) => ({ id: `${activation} × ${labelOf(init)}`, activation, init })))
      const layerStats: Record<string, ReadonlyArray<LayerStatsRow>> = {}
      const experiments = yield* variants(grid, (g) =>
        Effect.gen(function* () {
          const model: ModelSpec = { arch: "lenet5", ...dataShape(data), activation: activationFrom(g.activation) }
          const row = { activation: g.activation, init: labelOf(g.init) }
          if (g.init === "lw") {
            const lw = yield* learnedInit(model, data, lwConfigFrom(lwPresets.lw, config), config.seed, backend)
            layerStats[g.id] = lw.layerStats
            return { ...row, ...(yield* trainAndEvaluate(model, lw.weights, data, training, backend)), lwSeconds: lw.seconds, lwLayers: lw.layers }
          }
          const { weights } = yield* flaggedInit(model, initFrom(g.init), data.lwBatch, config.seed, backend)
          return { ...row, ...(yield* trainAndEvaluate(model, weights, data, training, backend)) }
        })
      )
      return { splits: dataSplits(data), experiments, layerStats }
    }),
  report: ({ splits, experiments, layerStats }, config) => {
    const activations = [...new Set(experiments.map((e) => e.activation))]
    const inits = [...new Set(experiments.map((e) => e.init))]
    const cell = (a: string, i: string) => {
      const e = experiments.find((x) => x.activation === a && x.init === i)
      return e ? `${(100 * e.testAccuracy).toFixed(2)} %${e.diverged ? " (diverged)" : ""}` : "–"
    }
    return [
      "## Test accuracy: activation × initialization (thesis Tables 6.3, 6.4)",
      "",
      markdownTable(["activation", ...inits], activations.map((a) => [a, ...inits.map((i) => cell(a, i))])),
      "",
      experimentTable(experiments),
      "",
      `${datasetLine(config)}, ${config.epochs} epochs, ${optimizerLine(trainConfigFrom(config))}.`,
      "",
      "The thesis's own figures are not reproduced here (this repository does not hold the thesis); compare with its",
      "Table 6.3 (Fashion-MNIST) and Table 6.4 (Imagenette). Data differences: the data as prepared here, this run's",
      "training budget, one seed.",
      "",
      splitsNote(splits),
      "",
      evidenceHeading(splits, "per-layer statistics after LW"),
      "",
      ...layerStatsSections(layerStats)
    ].join("\n")
  },
  figures: ({ experiments, layerStats }) => [
    figure(
      {
        id: "accuracy-grid",
        title: "Test accuracy: activation × initialization",
        caption: "Each cell: the test accuracy (%) of LeNet-5 with that activation, trained from that initialization."
      },
      heatmap(
        experiments.map((e) => ({ x: e.init, y: e.activation, value: 100 * e.testAccuracy })),
        { x: { title: "initialization", order: [...new Set(experiments.map((e) => e.init))] }, y: { title: "activation" }, value: { title: "test accuracy (%)", format: ".1f" } }
      )
    ),
    ...experimentFigures(experiments, { byExperiment: layerStats, what: "On the validation split, after LW (the LW experiments)." })
  ],
  headline: ({ experiments }) => accuracyHeadline(experiments)
})

if (import.meta.main) runMain(lenetInitGrid)
