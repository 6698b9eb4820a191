/**
 * lenet-init-grid — activation × initialization on LeNet-5 (the thesis's Tables 6.3 and 6.4: Fashion-MNIST, and an
 * Imagenette image folder): {sigmoid, tanh, ReLU} × {LW, Kaiming, Xavier} by default, any of the library's
 * activations × any initializer by flag. Kaiming is He-normal with the ReLU gain √2 (what "Kaiming" means in
 * PyTorch's `kaiming_normal_` default), Xavier is Glorot-uniform with gain 1; LW is the method's default config;
 * LSUV measures on the LW mini-batch. The model follows the data (an image folder is resized to --size, RGB).
 * The dataset and LW mini-batch steps are shared by all experiments. The per-layer evidence is measured on a
 * validation split carved out of the training set; the test split only scores accuracy.
 *
 * `--seeds N` trains every cell once per seed --seed, --seed+1, …: a seed draws the initial weights (LW's starting
 * draw, LSUV's orthogonal draw, Kaiming's, Xavier's), the LW mini-batch (which LW and LSUV learn on) and the order of
 * the training batches; the data split (training subset, validation and test images) stays --seed's for all. The first
 * seed's cells are the one-seed run's (same steps, same keys) with its curves, monitor and evidence; results.json's
 * `overSeeds` gives every seed's figures and the mean ± sd per cell, and the grid shows the means.
 *
 *   bun run pipelines/lenet-init-grid.ts [--quick] [--epochs N] [--subset N] [--validation 500] [--activations relu,tanh]
 *                                        [--inits lw,kaiming-normal,xavier-uniform,lsuv] [--dataset imagenette --data DIR --size 32]
 *                                        [--seeds 3]
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
import { dataPlan, dataShape, dataSplits, flaggedInit, learnedInit, lwBatchOf, prepareData, trainAndEvaluate, validationFlags } from "./lib/experiment.ts"
import { ACTIVATION_FLAG_NAMES, IMAGE_DATASETS, INIT_FLAG_NAMES, activationFrom, datasetFlags, datasetFrom, datasetLine, initFrom, listFrom, lwConfigFrom, lwFlags, optimizerFlags, optimizerLine, seedList, seedsFlag, trainConfigFrom, trainFlags } from "./lib/flags.ts"
import { heatmap, figure } from "../shared/report/charts.ts"
import { accuracyHeadline, experimentFigures } from "./lib/figures.ts"
import { pctSd, seedsFigure, seedsHeadline, seedsTable, summarizeSeeds } from "./lib/over-seeds.ts"
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
    inits: { kind: "string", default: "lw,kaiming-normal,xavier-uniform", doc: `comma-separated initializations, of ${initNames.join(", ")}` },
    // 1: the grid's cells were < 1 point apart on one seed (README); several seeds tell whether that is noise.
    ...seedsFlag({ default: 1, quick: 1, doc: "seeds (init draw, LW batch, batch order): --seed, --seed+1, ...; the data split is --seed's" })
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
      // Every cell for one seed. The first is the one-seed run as it always was; another draws its own LW batch from the
      // same training split and trains without the monitor (its curves and evidence are the first seed's to show).
      const cellsFor = (seed: number, first: boolean) =>
        Effect.gen(function* () {
          const seeded = first ? data : { ...data, lwBatch: yield* lwBatchOf(data.train, config.lwBatch, seed) }
          const seededTraining = first ? training : { ...training, seed }
          const options = first ? {} : { monitor: "off" as const }
          return yield* variants(grid, (g) =>
            Effect.gen(function* () {
              const model: ModelSpec = { arch: "lenet5", ...dataShape(data), activation: activationFrom(g.activation) }
              const row = { activation: g.activation, init: labelOf(g.init) }
              if (g.init === "lw") {
                const lw = yield* learnedInit(model, seeded, lwConfigFrom(lwPresets.lw, config), seed, backend)
                if (first) layerStats[g.id] = lw.layerStats
                return { ...row, ...(yield* trainAndEvaluate(model, lw.weights, seeded, seededTraining, backend, options)), lwSeconds: lw.seconds, lwLayers: lw.layers }
              }
              const { weights } = yield* flaggedInit(model, initFrom(g.init), seeded.lwBatch, seed, backend)
              return { ...row, ...(yield* trainAndEvaluate(model, weights, seeded, seededTraining, backend, options)) }
            })
          )
        })
      const seeds = seedList(config)
      const bySeed = []
      for (const [k, seed] of seeds.entries()) bySeed.push({ seed, experiments: yield* cellsFor(seed, k === 0) })
      const experiments = bySeed[0]!.experiments
      // Over seeds only when there are several: a one-seed run's results.json is what it always was.
      const overSeeds = { seeds, rows: summarizeSeeds(bySeed, (e) => ({ activation: e.activation, init: e.init })) }
      return { splits: dataSplits(data), experiments, layerStats, ...(seeds.length > 1 ? { overSeeds } : {}) }
    }),
  report: ({ splits, experiments, layerStats, overSeeds }, config) => {
    const activations = [...new Set(experiments.map((e) => e.activation))]
    const inits = [...new Set(experiments.map((e) => e.init))]
    const cell = (a: string, i: string) => {
      const e = experiments.find((x) => x.activation === a && x.init === i)
      return e ? `${(100 * e.testAccuracy).toFixed(2)} %${e.diverged ? " (diverged)" : ""}` : "–"
    }
    // Over seeds: the mean ± sd, and how many seeds diverged.
    const meanCell = (a: string, i: string) => {
      const r = overSeeds?.rows.find((x) => x.activation === a && x.init === i)
      return r ? `${pctSd(r.testAccuracy)}${r.diverged > 0 ? ` (${r.diverged}/${r.perSeed.length} diverged)` : ""}` : "–"
    }
    return [
      "## Test accuracy: activation × initialization (thesis Tables 6.3, 6.4)",
      "",
      ...(overSeeds === undefined
        ? []
        : [
            `Mean ± sample sd over ${overSeeds.seeds.length} seeds (${overSeeds.seeds.join(", ")}); each seed draws the initial weights, the LW`,
            `mini-batch and the batch order; the data split is seed ${overSeeds.seeds[0]}'s for all. A diverged seed counts in the mean.`,
            ""
          ]),
      markdownTable(["activation", ...inits], activations.map((a) => [a, ...inits.map((i) => (overSeeds === undefined ? cell : meanCell)(a, i))])),
      "",
      ...(overSeeds === undefined ? [] : ["### Every seed", "", seedsTable(overSeeds.rows, overSeeds.seeds), "", `### Seed ${overSeeds.seeds[0]} in detail`, ""]),
      experimentTable(experiments),
      "",
      `${datasetLine(config)}, ${config.epochs} epochs, ${optimizerLine(trainConfigFrom(config))}.`,
      "",
      "The thesis's own figures are not reproduced here (this repository does not hold the thesis); compare with its",
      "Table 6.3 (Fashion-MNIST) and Table 6.4 (Imagenette). Data differences: the data as prepared here, this run's",
      `training budget, ${overSeeds === undefined ? "one seed" : `${overSeeds.seeds.length} seeds`}.`,
      "",
      splitsNote(splits),
      "",
      evidenceHeading(splits, "per-layer statistics after LW"),
      "",
      ...layerStatsSections(layerStats)
    ].join("\n")
  },
  figures: ({ experiments, layerStats, overSeeds }) => [
    figure(
      {
        id: "accuracy-grid",
        title: "Test accuracy: activation × initialization",
        caption:
          "Each cell: the test accuracy (%) of LeNet-5 with that activation, trained from that initialization" +
          (overSeeds === undefined ? "." : `, the mean over seeds ${overSeeds.seeds.join(", ")}.`)
      },
      heatmap(
        (overSeeds?.rows.map((r) => ({ x: r.init, y: r.activation, value: r.testAccuracy.mean === null ? null : 100 * r.testAccuracy.mean })) ??
          experiments.map((e) => ({ x: e.init, y: e.activation, value: 100 * e.testAccuracy }))),
        { x: { title: "initialization", order: [...new Set(experiments.map((e) => e.init))] }, y: { title: "activation" }, value: { title: "test accuracy (%)", format: ".1f" } }
      )
    ),
    ...(overSeeds === undefined ? [] : seedsFigure(overSeeds.rows, overSeeds.seeds)),
    ...experimentFigures(experiments, { byExperiment: layerStats, what: "On the validation split, after LW (the LW experiments)." })
  ],
  headline: ({ experiments, overSeeds }) => (overSeeds === undefined ? accuracyHeadline(experiments) : seedsHeadline(overSeeds.rows))
})

if (import.meta.main) runMain(lenetInitGrid)
