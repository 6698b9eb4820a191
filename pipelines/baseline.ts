/**
 * baseline — one model trained on Fashion-MNIST from a heuristic initialization: the training core's reference run
 * (what the LW pipelines compare against). LeNet-5 by default; ResNet18 with or without BN, the 4-conv CNN, an MLP.
 *
 *   bun run pipelines/baseline.ts [--quick] [--model lenet5|resnet18|resnet18-bn|cnn4|mlp] [--epochs N] [--subset N]
 *                                 [--init kaimingNormal] [--backend wasm]
 */
import * as tf from "@tensorflow/tfjs"
import { Effect } from "effect"
import { backendFlags, setupBackend } from "../shared/backend/setup.ts"
import { dataFlags, locateSource } from "../shared/data/flags.ts"
import { runMain } from "../shared/engine/main.ts"
import { definePipeline, step } from "../shared/engine/pipeline.ts"
import { markdownTable } from "../shared/engine/report.ts"
import { Reporter } from "../shared/engine/reporter.ts"
import { attempt } from "../shared/errors.ts"
import { defaultInitConfigs, type InitName } from "../shared/init/initializers.ts"
import type { Activation, ModelSpec } from "../shared/models/spec.ts"
import { evaluate } from "../steps/evaluate.ts"
import { initWeights } from "../steps/init-weights.ts"
import { prepareDataset } from "../steps/prepare-dataset.ts"
import { monitorFor } from "../shared/train/monitor.ts"
import { train } from "../steps/train.ts"
import { figure, heatmap } from "../shared/report/charts.ts"
import { accuracyHeadline, initialLossFigure, monitorFigures, trainingCurves } from "./lib/figures.ts"
import { trainConfigFrom } from "./lib/flags.ts"
import { validationFlags } from "./lib/experiment.ts"
import { baselineResults } from "./lib/results.ts"

/** Fashion-MNIST is 28×28×1; every architecture takes it as it is (ResNet18 with the small-image stem). */
const models: Record<string, (activation: Activation) => ModelSpec> = {
  lenet5: (activation) => ({ arch: "lenet5", inputShape: [28, 28, 1], classes: 10, activation }),
  resnet18: (activation) => ({ arch: "resnet18", inputShape: [28, 28, 1], classes: 10, batchNorm: false, stem: "small", activation }),
  "resnet18-bn": (activation) => ({ arch: "resnet18", inputShape: [28, 28, 1], classes: 10, batchNorm: true, stem: "small", activation }),
  cnn4: (activation) => ({ arch: "cnn4", inputShape: [28, 28, 1], classes: 10, activation }),
  mlp: (activation) => ({ arch: "mlp", inputShape: [28, 28, 1], depth: 3, width: 256, classes: 10, activation })
}

export const baseline = definePipeline({
  name: "baseline",
  results: baselineResults,
  description: "a model trained on Fashion-MNIST from a heuristic initialization",
  flags: {
    ...backendFlags,
    ...dataFlags,
    epochs: { kind: "int", default: 10, quick: 1, check: "number.integer >= 1", doc: "training epochs" },
    subset: { kind: "int", default: 0, quick: 2000, check: "number.integer >= 0", doc: "training samples (0 = all 60,000)" },
    testSubset: { kind: "int", default: 0, quick: 1000, check: "number.integer >= 0", doc: "test samples (0 = all 10,000)" },
    // The usual 55,000 / 5,000 split of Fashion-MNIST's training set: validation loss and accuracy every epoch.
    ...validationFlags({ validation: 5000, quickValidation: 100 }),
    init: {
      kind: "enum",
      values: Object.keys(defaultInitConfigs),
      default: "kaimingNormal",
      doc: "initializer of every conv/dense layer"
    },
    // SGD with momentum 0.9 and lr 0.01 is the common LeNet recipe (and PyTorch's tutorial values).
    lr: { kind: "number", default: 0.01, check: "number > 0", doc: "learning rate" },
    batch: { kind: "int", default: 32, check: "number.integer >= 1", doc: "batch size" },
    activation: { kind: "enum", values: ["relu", "tanh", "sigmoid"], default: "relu", doc: "activation" },
    model: { kind: "enum", values: Object.keys(models), default: "lenet5", doc: "architecture" }
  },
  setup: setupBackend,
  run: (config) =>
    Effect.gen(function* () {
      const reporter = yield* Reporter
      const source = yield* attempt(() => locateSource("fashion-mnist", config.data, reporter.line))
      const data = yield* step(prepareDataset, {
        dataset: "fashion-mnist",
        source,
        ...(config.subset > 0 ? { trainSubset: { count: config.subset } } : {}),
        ...(config.testSubset > 0 ? { testSubset: { count: config.testSubset } } : {}),
        validation: { count: config.validation },
        rgb: false,
        normalization: "standard",
        seed: config.seed
      })
      const model = models[config.model]!(config.activation as Activation)
      const init = defaultInitConfigs[config.init as InitName]
      const initial = yield* step(initWeights, { model, init, seed: config.seed })
      const backend = tf.getBackend()
      const trainConfig = trainConfigFrom(config)
      const trained = yield* step(train, {
        model,
        initial,
        data: data.train,
        // Asked for above, so always there.
        validation: data.validation!,
        monitor: monitorFor(trainConfig.epochs * Math.ceil(data.train.n / trainConfig.batchSize)),
        backend,
        config: trainConfig
      })
      const test = yield* step(evaluate, { model, weights: trained.weights, data: data.test, backend })
      const imagesPerSecond = (data.train.n * trained.history.length) / trained.history.reduce((a, h) => a + h.seconds, 0)
      return {
        experiments: [
          {
            id: `${config.model}-${config.activation}-${config.init}`,
            testAccuracy: test.accuracy,
            // null when NaN/Inf (JSON has no NaN); the run is then diverged.
            testLoss: test.nonFinite || !Number.isFinite(test.loss) ? null : test.loss,
            diverged: trained.diverged !== null || test.nonFinite,
            epochs: trained.history.length,
            seconds: trained.seconds,
            trainImagesPerSecond: imagesPerSecond,
            trainSamples: data.train.n,
            testSamples: data.test.n
          }
        ],
        history: trained.history,
        initial: trained.initial,
        monitor: trained.monitor,
        confusion: test.confusion
      }
    }),
  report: ({ experiments, history }) =>
    [
      "## Fashion-MNIST",
      "",
      markdownTable(
        ["run", "train / test samples", "epochs", "test accuracy", "test loss", "diverged", "train img/s"],
        experiments.map((e) => [
          e.id,
          `${e.trainSamples} / ${e.testSamples}`,
          e.epochs,
          `${(100 * e.testAccuracy).toFixed(2)} %`,
          e.testLoss === null ? "NaN/Inf" : e.testLoss.toFixed(4),
          e.diverged ? "yes" : "no",
          e.trainImagesPerSecond.toFixed(0)
        ])
      ),
      "",
      "### Per epoch",
      "",
      markdownTable(
        ["epoch", "lr", "train loss", "train accuracy", "validation loss", "validation accuracy", "seconds"],
        history.map((h) => [
          h.epoch + 1,
          h.lr,
          h.trainLoss.toFixed(4),
          `${(100 * h.trainAccuracy).toFixed(2)} %`,
          h.validationLoss === null ? "–" : h.validationLoss.toFixed(4),
          h.validationAccuracy === null ? "–" : `${(100 * h.validationAccuracy).toFixed(2)} %`,
          h.seconds.toFixed(1)
        ])
      )
    ].join("\n"),
  figures: ({ experiments, history, initial, monitor, confusion }) => {
    const run = { ...experiments[0]!, history, initial, monitor }
    return [
      ...trainingCurves([run]),
      figure(
        {
          id: "confusion",
          title: "Test confusion matrix",
          caption: "Rows: the true class; columns: the predicted class; each cell the share (%) of the true class's test images."
        },
        heatmap(
          confusion.flatMap((row, t) => {
            const total = row.reduce((a, n) => a + n, 0)
            return row.map((n, p) => ({ x: String(p), y: String(t), value: total > 0 ? (100 * n) / total : null }))
          }),
          { x: { title: "predicted class" }, y: { title: "true class" }, value: { title: "% of the true class", format: ".0f", domain: [0, 100] } }
        )
      ),
      ...initialLossFigure([run]),
      ...monitorFigures([run])
    ]
  },
  headline: ({ experiments }) => accuracyHeadline(experiments)
})

if (import.meta.main) runMain(baseline)
