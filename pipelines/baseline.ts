/**
 * baseline — one model trained from a heuristic initialization: the training core's reference run (what the LW
 * pipelines compare against). LeNet-5 on Fashion-MNIST by default; ResNet18 with or without BN, the 4-conv CNN, an
 * MLP; any of the library's activations, initializers (LSUV on a training batch), optimizers and datasets (circles:
 * the MLP only, 2-D points drawn for each split).
 *
 *   bun run pipelines/baseline.ts [--quick] [--model lenet5|resnet18|resnet18-bn|cnn4|mlp] [--epochs N] [--subset N]
 *                                 [--init kaiming-normal|lsuv|...] [--activation relu|wib-relu|...]
 *                                 [--optimizer sgd|adam|adamw] [--dataset fashion-mnist|mnist|cifar10|...|circles]
 */
import * as tf from "@tensorflow/tfjs"
import { Effect } from "effect"
import { backendFlags, setupBackend } from "../shared/backend/setup.ts"
import { dataFlags } from "../shared/data/flags.ts"
import { runMain } from "../shared/engine/main.ts"
import { definePipeline, step } from "../shared/engine/pipeline.ts"
import { markdownTable } from "../shared/engine/report.ts"
import { attempt } from "../shared/errors.ts"
import { deriveSeed } from "../shared/random.ts"
import type { Activation, ModelSpec } from "../shared/models/spec.ts"
import { evaluate } from "../steps/evaluate.ts"
import { initWeights } from "../steps/init-weights.ts"
import { makeCircles } from "../steps/make-circles.ts"
import { monitorFor } from "../shared/train/monitor.ts"
import { train } from "../steps/train.ts"
import { figure, heatmap } from "../shared/report/charts.ts"
import { accuracyHeadline, initialLossFigure, monitorFigures, trainingCurves } from "./lib/figures.ts"
import { DATASET_FLAG_NAMES, IMAGE_DATASETS, INIT_FLAG_NAMES, activationFlag, activationFrom, datasetFlags, datasetFrom, initFrom, lrFlag, lsuvFlags, optimizerFlags, optimizerLine, trainConfigFrom } from "./lib/flags.ts"
import { dataPlan, flaggedInit, lsuvBatch, prepareSplits, validationFlags } from "./lib/experiment.ts"
import { baselineResults } from "./lib/results.ts"

/** Every architecture takes the data as it is (ResNet18 with the small-image stem); the MLP also takes circles. */
type Shape = { inputShape: [number, number, number]; classes: number }
const models: Record<string, (activation: Activation, d: Shape) => ModelSpec> = {
  lenet5: (activation, d) => ({ arch: "lenet5", ...d, activation }),
  resnet18: (activation, d) => ({ arch: "resnet18", ...d, batchNorm: false, stem: "small", activation }),
  "resnet18-bn": (activation, d) => ({ arch: "resnet18", ...d, batchNorm: true, stem: "small", activation }),
  cnn4: (activation, d) => ({ arch: "cnn4", ...d, activation }),
  mlp: (activation, d) => ({ arch: "mlp", ...d, depth: 3, width: 256, activation })
}

/** Circles for every split, each its own draw (circle-normalization's seeds): 2-D points, 2 classes. */
const circleSplits = (c: { subset: number; validation: number; testSubset: number; seed: number }) =>
  Effect.gen(function* () {
    // 0 = "all" for an image set; circles have no "all": 1000 / 500 points, enough for an MLP to draw the boundary.
    const draw = (n: number, split: string) =>
      step(makeCircles, { n, noise: 0.1, factor: 0.5, seed: split === "train" ? c.seed : deriveSeed(c.seed, `circles/${split}`) })
    return {
      train: yield* draw(c.subset > 0 ? c.subset : 1000, "train"),
      validation: yield* draw(c.validation, "validation"),
      test: yield* draw(c.testSubset > 0 ? c.testSubset : 500, "test")
    }
  })

export const baseline = definePipeline({
  name: "baseline",
  results: baselineResults,
  description: "a model trained on Fashion-MNIST (or --dataset) from a heuristic initialization",
  flags: {
    ...backendFlags,
    ...dataFlags,
    epochs: { kind: "int", default: 10, quick: 1, check: "number.integer >= 1", doc: "training epochs" },
    subset: { kind: "int", default: 0, quick: 2000, check: "number.integer >= 0", doc: "training samples (0 = all 60,000)" },
    testSubset: { kind: "int", default: 0, quick: 1000, check: "number.integer >= 0", doc: "test samples (0 = all 10,000)" },
    // The usual 55,000 / 5,000 split of Fashion-MNIST's training set: validation loss and accuracy every epoch.
    ...validationFlags({ validation: 5000, quickValidation: 100 }),
    init: { kind: "enum", values: INIT_FLAG_NAMES, default: "kaiming-normal", doc: "initializer of every conv/dense layer (lsuv: measured on --lsuv-batch training images)" },
    ...lsuvFlags,
    // SGD with momentum 0.9 and lr 0.01 is the common LeNet recipe (and PyTorch's tutorial values).
    ...lrFlag({ sgd: 0.01, doc: "learning rate" }),
    batch: { kind: "int", default: 32, check: "number.integer >= 1", doc: "batch size" },
    ...optimizerFlags,
    ...activationFlag({ default: "relu", doc: "activation" }),
    ...datasetFlags({ size: 32 }),
    model: { kind: "enum", values: Object.keys(models), default: "lenet5", doc: "architecture (--dataset circles: mlp)" }
  },
  setup: setupBackend,
  run: (config) =>
    Effect.gen(function* () {
      const init = initFrom(config.init)
      const dataset = yield* attempt(async () =>
        config.model === "mlp"
          ? datasetFrom(config.dataset, DATASET_FLAG_NAMES, "")
          : datasetFrom(config.dataset, IMAGE_DATASETS, `--model ${config.model} takes images; circles are 2-D points: give --model mlp`)
      )
      const data =
        dataset === "circles"
          ? yield* circleSplits(config)
          : yield* prepareSplits(dataPlan({ ...config, dataset, lwBatch: 0 }))
      const shape: Shape = { inputShape: [data.train.height, data.train.width, data.train.channels], classes: data.train.classes }
      const model = models[config.model]!(activationFrom(config.activation), shape)
      const backend = tf.getBackend()
      const initial =
        init.kind === "draw"
          ? yield* step(initWeights, { model, init: init.config, seed: config.seed })
          : (yield* flaggedInit(model, init, yield* lsuvBatch(data.train, config), config.seed, backend)).weights
      const trainConfig = trainConfigFrom(config)
      const trained = yield* step(train, {
        model,
        initial,
        data: data.train,
        validation: data.validation,
        monitor: monitorFor(trainConfig.epochs * Math.ceil(data.train.n / trainConfig.batchSize)),
        backend,
        config: trainConfig
      })
      const test = yield* step(evaluate, { model, weights: trained.weights, data: data.test, backend })
      const imagesPerSecond = (data.train.n * trained.history.length) / trained.history.reduce((a, h) => a + h.seconds, 0)
      return {
        experiments: [
          {
            // The library's names (relu, kaimingNormal...): the ids runs have always had.
            id: `${config.model}-${model.activation}-${init.name}`,
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
  report: ({ experiments, history }, config) =>
    [
      `## ${config.dataset}`,
      "",
      `${config.model} with ${config.activation}, init ${config.init}, ${config.epochs} epochs, ${optimizerLine(trainConfigFrom(config))}.`,
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
