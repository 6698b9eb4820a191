/**
 * resnet-nobn — the main job: ResNet18 *without* batch normalization, started from a learned initialization (LW),
 * against the same network from Kaiming (RAE1) and from N(0,1) (RAE2), and the usual Kaiming + BN (the thesis's
 * Tables 6.2 and 6.5); and the published ways to train without BN: LSUV (Mishkin & Matas 2016) on the same mini-batch
 * LW learns on, and Fixup (Zhang et al. 2019): its initialization with its scalar biases and multipliers (`fixup`,
 * shared/models/resnet.ts), and its initialization alone on the plain no-BN net (`fixup-init`, the earlier row).
 * As Fixup's reference, the scalars (and fc's bias) train at a tenth of the learning rate (`--fixup-lr-factor`).
 * Same data, seed and training budget for all; the dataset and mini-batch steps are shared,
 * every LW layer is its own cached step (an interrupted run resumes at the layer it reached), and the report sets out
 * each learned layer's statistics on held-out images as evidence: a validation split carved out of the training set
 * (the test split only scores accuracy).
 *
 * `--seeds N` trains every row once per seed --seed, --seed+1, …: a seed draws the initial weights (LW's starting
 * draw, LSUV's orthogonal draw, the heuristic inits), the LW mini-batch (which LW and LSUV learn on) and the order of
 * the training batches; the data split (training subset, validation and test images) stays --seed's for all, so every
 * seed is scored on the same test images. The first seed's rows are the one-seed run's (same steps, same keys) and
 * keep its curves, monitor and per-layer evidence; results.json's `overSeeds` gives every seed's figures and the
 * mean ± sd per row.
 *
 *   bun run pipelines/resnet-nobn.ts [--quick] [--epochs N] [--subset N] [--validation 200] [--stem imagenet|small]
 *                                    [--dataset fashion-mnist|mnist|cifar10|cifar100|imagenette --data DIR] [--size 64]
 *                                    [--experiments lw,lsuv,fixup,fixup-init] [--optimizer sgd|adam|adamw] [--activation relu|wib-relu|...]
 *                                    [--seeds 5]
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
import { dataPlan, dataShape, dataSplits, flaggedInit, initLayerStats, learnedInit, lwBatchOf, prepareData, trainAndEvaluate, validationFlags } from "./lib/experiment.ts"
import { IMAGE_DATASETS, activationFlag, activationFrom, datasetFlags, datasetFrom, datasetLine, initFrom, listFrom, lwConfigFrom, lwFlags, optimizerFlags, optimizerLine, seedList, seedsFlag, trainConfigFrom, trainFlags } from "./lib/flags.ts"
import { accuracyHeadline, experimentFigures } from "./lib/figures.ts"
import { seedsFigure, seedsHeadline, seedsTable, summarizeSeeds } from "./lib/over-seeds.ts"
import { type LayerStatsRow, evidenceHeading, experimentTable, layerStatsSections, splitsNote } from "./lib/report.ts"
import { resnetNobnResults } from "./lib/results.ts"

const experimentsPlan = [
  { key: "lw", id: "LW (no BN)", init: "lw", batchNorm: false },
  // The thesis' start and optimizer as written, beside the default's (shared/lw/config.ts says why they differ).
  { key: "lw-thesis", id: "LW, thesis start N(0,0.1²), plain SGD (no BN)", init: "lwThesis", batchNorm: false },
  { key: "kaiming", id: "RAE1: Kaiming (no BN)", init: "kaiming", batchNorm: false },
  { key: "normal", id: "RAE2: N(0,1) (no BN)", init: "random", batchNorm: false },
  { key: "kaiming-bn", id: "Kaiming + BN", init: "kaiming", batchNorm: true },
  // Mishkin & Matas: orthogonal, then every layer (the classifier too) scaled to unit output variance, here on the
  // images LW learns on.
  { key: "lsuv", id: "LSUV on the LW batch (no BN)", init: "lsuv", batchNorm: false },
  // Zhang et al.: branch ends and classifier 0, other branch convs Kaiming × 8^(−½), and the network's scalar biases
  // (before each conv, activation and the classifier, at each branch end) and branch multipliers; convs unbiased.
  { key: "fixup", id: "Fixup (no BN)", init: "fixup", batchNorm: false, fixup: true },
  // The same start on the plain no-BN ResNet18 (biased convs, no scalars): the row measured before Fixup's model.
  { key: "fixup-init", id: "Fixup init only, no scalar biases/multipliers (no BN)", init: "fixup", batchNorm: false }
] as const
const experimentKeys = experimentsPlan.map((e) => e.key)
// The thesis's comparison (Tables 6.2, 6.5): what `npm start` runs, sized for about half an hour here (README).
const thesisKeys: ReadonlyArray<string> = ["lw", "lw-thesis", "kaiming", "normal", "kaiming-bn"]

/** The rows `--experiments` names, in the plan's order whatever order they are listed in: all, thesis, or a list. */
export const selectExperiments = (value: string) => {
  const keys = value === "all" ? experimentKeys : value === "thesis" ? thesisKeys : listFrom("experiments", value, experimentKeys, ["all", "thesis"])
  return experimentsPlan.filter((e) => keys.includes(e.key))
}

export const resnetNobn = definePipeline({
  name: "resnet-nobn",
  results: resnetNobnResults,
  description: "ResNet18 without BN: LW vs Kaiming (RAE1) vs N(0,1) (RAE2) vs LSUV vs Fixup (and its init alone) vs Kaiming + BN",
  flags: {
    ...backendFlags,
    ...dataFlags,
    // The whole training and test sets, 5 epochs: on this machine's 2 cores with the torch backend the thesis's five
    // rows (npm start) take about half an hour, all eight about an hour (README). On wasm (about 5× slower) use
    // --subset 10000 --test-subset 2000 --epochs 3.
    ...trainFlags({ epochs: 5, quickEpochs: 1, subset: 0, quickSubset: 256, testSubset: 0, quickTestSubset: 200 }),
    // 200, not LeNet's 25: ResNet18's deep layers have 1×1–4×4 maps and up to 1.2 M weights, and learned on 25 images
    // they fit those 25 and blow up elsewhere (measured on 200 test images, before lwi had a validation split:
    // activation variance 11,220 at layer4.1.conv2 with 25, and the network diverged at its 2nd SGD step; with 200 it
    // trains — see README).
    ...lwFlags({ quickMaxEpochs: 10, lwBatch: 200, quickLwBatch: 32 }),
    ...validationFlags({ validation: 200, quickValidation: 100 }),
    ...datasetFlags({ size: 64 }),
    ...optimizerFlags,
    // ReLU: the thesis's ResNet18, and the nonlinearity Kaiming's and Fixup's scalings assume.
    ...activationFlag({ default: "relu", doc: "ResNet18's activation" }),
    experiments: {
      kind: "string",
      default: "all",
      doc: `which experiments: all; thesis (${thesisKeys.join(", ")}: what npm start runs); or a comma-separated list of ${experimentKeys.join(", ")}`
    },
    // The ImageNet stem (7×7 s2 + max-pool) is the standard ResNet18 and 6× cheaper than the small-image stem on
    // 28 px inputs; --stem small keeps full resolution (3×3 s1, no pool), as CIFAR-style ResNets do.
    stem: { kind: "enum", values: ["imagenet", "small"], default: "imagenet", doc: "ResNet18 stem" },
    // 0.1: Fixup's reference (imagenet_train.py, cifar_train.py) trains every `bias` and `scale` parameter — its
    // scalars and fc's bias — at a tenth of the base rate. 1 gives the common rate (the README's earlier Fixup rows).
    fixupLrFactor: { kind: "number", default: 0.1, check: "0 < number <= 1", doc: "learning-rate factor of Fixup's scalar biases, multipliers and fc bias" },
    // 1: the main job is timed as one run; rows within a point of each other want several (README).
    ...seedsFlag({ default: 1, quick: 1, doc: "seeds (init draw, LW batch, batch order): --seed, --seed+1, ...; the data split is --seed's" })
  },
  setup: setupBackend,
  run: (config) =>
    Effect.gen(function* () {
      const backend = tf.getBackend()
      const { dataset, plan } = yield* attempt(async () => ({
        dataset: datasetFrom(config.dataset, IMAGE_DATASETS, "ResNet18 takes images; circles are 2-D points: pipelines/circle-normalization.ts"),
        plan: selectExperiments(config.experiments)
      }))
      const data = yield* prepareData(dataPlan({ ...config, dataset }))
      // The model follows the prepared data: image size, channels and number of classes (an image folder may hold
      // any number of classes, not only Imagenette's 10).
      // `fixup` only when set: the other rows' specs (and so their cache keys) are the ones they always were.
      const resnet = (e: (typeof plan)[number]): ModelSpec => ({
        arch: "resnet18",
        ...dataShape(data),
        batchNorm: e.batchNorm,
        stem: config.stem as "imagenet",
        activation: activationFrom(config.activation),
        ...("fixup" in e ? { fixup: e.fixup } : {})
      })
      const training = trainConfigFrom(config)
      const layerStats: Record<string, ReadonlyArray<LayerStatsRow>> = {}
      // Every row for one seed. The first is the one-seed run as it always was; another draws its own LW batch from the
      // same training split and trains without the monitor (its curves and evidence are the first seed's to show).
      const rowsFor = (seed: number, first: boolean) =>
        Effect.gen(function* () {
          const seeded = first ? data : { ...data, lwBatch: yield* lwBatchOf(data.train, config.lwBatch, seed) }
          const seededTraining = first ? training : { ...training, seed }
          const options = first ? {} : { monitor: "off" as const }
          return yield* variants(plan, (e) =>
            Effect.gen(function* () {
              const model = resnet(e)
              if (e.init === "lw" || e.init === "lwThesis") {
                const flagged = lwConfigFrom(lwPresets.lw, config)
                const { init, momentum } = lwPresets.lwThesis
                const lwConfig = e.init === "lw" ? flagged : { ...flagged, init, momentum }
                const lw = yield* learnedInit(model, seeded, lwConfig, seed, backend)
                if (first) layerStats[e.id] = lw.layerStats
                return { ...(yield* trainAndEvaluate(model, lw.weights, seeded, seededTraining, backend, options)), lwSeconds: lw.seconds, lwLayers: lw.layers }
              }
              const choice = initFrom(e.init === "kaiming" ? "kaiming-normal" : e.init)
              const { weights: initial } = yield* flaggedInit(model, choice, seeded.lwBatch, seed, backend)
              // The same evidence at the heuristic start (not under BN, whose running statistics are still 0 and 1).
              if (first && !e.batchNorm) layerStats[e.id] = yield* initLayerStats(model, initial, seeded, backend)
              // Fixup's reference trains its scalar biases and multipliers (and the classifier's bias) at a tenth of the rate.
              const rowTraining = "fixup" in e && e.fixup && config.fixupLrFactor !== 1 ? { ...seededTraining, biasLrFactor: config.fixupLrFactor } : seededTraining
              return yield* trainAndEvaluate(model, initial, seeded, rowTraining, backend, options)
            })
          )
        })
      const seeds = seedList(config)
      const bySeed = []
      for (const [k, seed] of seeds.entries()) bySeed.push({ seed, experiments: yield* rowsFor(seed, k === 0) })
      const experiments = bySeed[0]!.experiments
      // In the plan's order, whatever order the experiments finished in.
      const ordered = Object.fromEntries(plan.flatMap((e) => (e.id in layerStats ? [[e.id, layerStats[e.id]!] as const] : [])))
      // Over seeds only when there are several: a one-seed run's results.json is what it always was.
      return { splits: dataSplits(data), experiments, layerStats: ordered, ...(seeds.length > 1 ? { overSeeds: { seeds, rows: summarizeSeeds(bySeed) } } : {}) }
    }),
  report: ({ splits, experiments, layerStats, overSeeds }, config) =>
    [
      "## ResNet18 without BN: initialization decides whether it trains (thesis Tables 6.2, 6.5)",
      "",
      `${datasetLine(config)}, ${splits.training.count} training / ${splits.accuracy.count} test images, ` +
        `${config.epochs} epochs, ${optimizerLine(trainConfigFrom(config))}, ${config.stem} stem.`,
      "",
      ...(overSeeds === undefined
        ? []
        : [
            `### Over ${overSeeds.seeds.length} seeds (${overSeeds.seeds.join(", ")}): test accuracy, mean ± sample sd`,
            "",
            "Each seed draws the initial weights, the LW mini-batch (LW and LSUV learn on it) and the batch order; the data split",
            `is seed ${overSeeds.seeds[0]}'s for all (the same test images). A diverged seed counts in the mean.`,
            "",
            seedsTable(overSeeds.rows, overSeeds.seeds),
            "",
            `### Seed ${overSeeds.seeds[0]} in detail`,
            ""
          ]),
      experimentTable(experiments),
      "",
      "The thesis's own figures are not reproduced here (this repository does not hold the thesis); compare with its",
      `Tables 6.2 and 6.5. Data differences: this run's subset and epochs, ${overSeeds === undefined ? "one seed" : `${overSeeds.seeds.length} seeds`}.`,
      "",
      splitsNote(splits),
      "",
      evidenceHeading(splits, "every conv at the start of training"),
      "",
      "Per layer: the output mean (LW's target 0) and the activation variance (target 1) on validation images no",
      "experiment learned or trained on — after LW for the LW rows, at the start for the others without BN (RAE1, RAE2,",
      "LSUV after its scaling, Fixup with its branch ends at 0, so each block starts as its shortcut; for Fixup's own",
      "network the scalar biases and multipliers, 0 and 1 at the start, are on the path).",
      "A residual block's last conv is learned against the activation after the addition (identity or 1×1 downsample",
      "path carried as in the forward pass), so its \"activation variance\" is that of relu(conv2 + shortcut).",
      `Each layer is learned on ${splits.lwBatch.count} training images; these statistics are on other images. The thesis'`,
      "N(0, 0.1²) start has a gain of fanIn·0.01 (46 at layer4), and gradient descent never shrinks the part of it",
      "outside the span of the images a layer is learned on: compare the first two tables' deep layers.",
      "",
      ...layerStatsSections(layerStats)
    ].join("\n"),
  figures: ({ experiments, layerStats, overSeeds }) => [
    ...(overSeeds === undefined ? [] : seedsFigure(overSeeds.rows, overSeeds.seeds)),
    ...experimentFigures(experiments, {
      byExperiment: layerStats,
      what: "On the validation split: after LW for the LW experiments, at the start for the others without BN (not under BN, whose running statistics are still 0 and 1)."
    })
  ],
  headline: ({ experiments, overSeeds }) => (overSeeds === undefined ? accuracyHeadline(experiments) : seedsHeadline(overSeeds.rows))
})

if (import.meta.main) runMain(resnetNobn)
