/**
 * lenet-init-grid — activation × initialization on LeNet-5 / Fashion-MNIST (the thesis's Tables 6.3 and 6.4):
 * {sigmoid, tanh, ReLU} × {LW, Kaiming, Xavier}. Kaiming is He-normal with the ReLU gain √2 (what "Kaiming" means in
 * PyTorch's `kaiming_normal_` default), Xavier is Glorot-uniform with gain 1; LW is the method's default config.
 * The dataset and LW mini-batch steps are shared by all nine experiments. The per-layer evidence is measured on a
 * validation split carved out of the training set; the test split only scores accuracy.
 *
 *   bun run pipelines/lenet-init-grid.ts [--quick] [--epochs N] [--subset N] [--validation 500] [--activations relu,tanh]
 */
import * as tf from "@tensorflow/tfjs"
import { Effect } from "effect"
import { backendFlags, setupBackend } from "../shared/backend/setup.ts"
import { dataFlags } from "../shared/data/flags.ts"
import { runMain } from "../shared/engine/main.ts"
import { definePipeline, variants } from "../shared/engine/pipeline.ts"
import { markdownTable } from "../shared/engine/report.ts"
import { defaultInitConfigs } from "../shared/init/initializers.ts"
import { lwPresets } from "../shared/lw/config.ts"
import type { Activation, ModelSpec } from "../shared/models/spec.ts"
import { dataSplits, fashionMnistPlan, heuristicInit, learnedInit, prepareData, trainAndEvaluate, validationFlags } from "./lib/experiment.ts"
import { lwConfigFrom, lwFlags, trainConfigFrom, trainFlags } from "./lib/flags.ts"
import { heatmap, figure } from "../shared/report/charts.ts"
import { accuracyHeadline, experimentFigures } from "./lib/figures.ts"
import { type LayerStatsRow, evidenceHeading, experimentTable, layerStatsSections, splitsNote } from "./lib/report.ts"
import { lenetInitGridResults } from "./lib/results.ts"

const inits = ["LW", "Kaiming", "Xavier"] as const

export const lenetInitGrid = definePipeline({
  name: "lenet-init-grid",
  results: lenetInitGridResults,
  description: "LeNet-5 on Fashion-MNIST: {sigmoid, tanh, ReLU} × {LW, Kaiming, Xavier}",
  flags: {
    ...backendFlags,
    ...dataFlags,
    ...trainFlags({ epochs: 5, quickEpochs: 1, subset: 0, quickSubset: 1000, testSubset: 0, quickTestSubset: 500 }),
    ...lwFlags({ quickMaxEpochs: 30 }),
    ...validationFlags({ validation: 500, quickValidation: 100 }),
    activations: {
      kind: "string",
      default: "sigmoid,tanh,relu",
      check: "/^(sigmoid|tanh|relu)(,(sigmoid|tanh|relu))*$/",
      doc: "comma-separated activations, of sigmoid, tanh, relu"
    }
  },
  setup: setupBackend,
  run: (config) =>
    Effect.gen(function* () {
      const backend = tf.getBackend()
      const data = yield* prepareData(fashionMnistPlan(config))
      const training = trainConfigFrom(config)
      const grid = config.activations
        .split(",")
        .map((a) => a.trim())
        .flatMap((activation) => inits.map((init) => ({ id: `${activation} × ${init}`, activation: activation as Activation, init })))
      const layerStats: Record<string, ReadonlyArray<LayerStatsRow>> = {}
      const experiments = yield* variants(grid, (g) =>
        Effect.gen(function* () {
          const model: ModelSpec = { arch: "lenet5", inputShape: [28, 28, 1], classes: 10, activation: g.activation }
          if (g.init === "LW") {
            const lw = yield* learnedInit(model, data, lwConfigFrom(lwPresets.lw, config), config.seed, backend)
            layerStats[g.id] = lw.layerStats
            return {
              activation: g.activation,
              init: g.init,
              ...(yield* trainAndEvaluate(model, lw.weights, data, training, backend)),
              lwSeconds: lw.seconds,
              lwLayers: lw.layers
            }
          }
          const init = g.init === "Kaiming" ? defaultInitConfigs.kaimingNormal : defaultInitConfigs.xavierUniform
          const initial = yield* heuristicInit(model, init, config.seed)
          return { activation: g.activation, init: g.init, ...(yield* trainAndEvaluate(model, initial, data, training, backend)) }
        })
      )
      return { splits: dataSplits(data), experiments, layerStats }
    }),
  report: ({ splits, experiments, layerStats }) => {
    const activations = [...new Set(experiments.map((e) => e.activation))]
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
      "The thesis's own figures are not reproduced here (this repository does not hold the thesis); compare with its",
      "Tables 6.3 and 6.4. Data differences: Fashion-MNIST as prepared here, this run's training budget, one seed.",
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
        { x: { title: "initialization", order: inits }, y: { title: "activation" }, value: { title: "test accuracy (%)", format: ".1f" } }
      )
    ),
    ...experimentFigures(experiments, { byExperiment: layerStats, what: "On the validation split, after LW (the LW experiments)." })
  ],
  headline: ({ experiments }) => accuracyHeadline(experiments)
})

if (import.meta.main) runMain(lenetInitGrid)
