/**
 * Trains a model from given initial weights: SGD (momentum) / Adam / AdamW, a learning-rate schedule, minibatches in
 * a (seed, epoch)-determined order. Checkpoints after every epoch and when interrupted (between batches), so a rerun
 * continues exactly where it stopped. NaN/Inf loss stops training and is recorded as `diverged`, not thrown.
 *
 * What it records, for judging the initialization: the loss and accuracy of the first batch before any update
 * (`initial`, beside ln C), per epoch the training and (given `validation`) validation loss and accuracy, and with
 * `monitor` every K steps each conv/dense layer's activation, kernel-gradient and dead-unit statistics
 * (shared/train/monitor.ts). The checkpoint carries all of it, so a resumed run records exactly the same series.
 */
import * as tf from "@tensorflow/tfjs"
import { Effect, Schema } from "effect"
import { ArtifactRef, getArrays, putArrays } from "../shared/engine/artifacts.ts"
import { Reporter } from "../shared/engine/reporter.ts"
import { defineStep } from "../shared/engine/step.ts"
import { ModelSpec, buildModel } from "../shared/models/spec.ts"
import { withPlaceholderWeights } from "../shared/models/layers.ts"
import {
  DatasetRef,
  Divergence,
  NonNegative,
  Positive,
  PositiveInt,
  WeightsRef,
  getDataset,
  getWeights,
  putWeights
} from "../shared/schemas.ts"
import { createStepReplay } from "../shared/backend/torch/replay.ts"
import { type BatchMonitor, batchIndices, epochOrder, evaluate, trainBatch, trainableVars } from "../shared/train/loop.ts"
import { type LayerStatsSample, defaultMonitor, expectedInitialLoss, monitorFor, monitorPlan, sampledAt } from "../shared/train/monitor.ts"
import { lrAt, makeOptimizer } from "../shared/train/optim.ts"
import { finite } from "../shared/train/tensors.ts"
import { readWeights, writeWeights } from "../shared/train/weights.ts"

export const TrainConfig = Schema.Struct({
  optimizer: Schema.Struct({
    kind: Schema.Literals(["sgd", "adam", "adamw"]),
    momentum: NonNegative,
    weightDecay: NonNegative
  }),
  lr: Positive,
  schedule: Schema.Struct({
    kind: Schema.Literals(["constant", "step", "cosine"]),
    every: Schema.optional(PositiveInt),
    factor: Schema.optional(Positive)
  }),
  epochs: PositiveInt,
  batchSize: PositiveInt,
  seed: Schema.Int,
  /**
   * Learning-rate factor for every weight named `bias` or `scale` (a layer's bias, Fixup's scalar biases and
   * multipliers): Fixup's reference trains those at a tenth of the rate (Zhang et al. 2019, §3). Absent: 1, and the
   * config (so the key) is what it was before the field existed.
   */
  biasLrFactor: Schema.optional(Positive)
})
export type TrainConfig = typeof TrainConfig.Type

/** Per trainable variable, the factor its learning rate is multiplied by (`TrainConfig.biasLrFactor`). */
export const lrFactorsFor = (vars: ReadonlyArray<{ readonly name: string }>, biasLrFactor: number | undefined): number[] | undefined =>
  biasLrFactor === undefined ? undefined : vars.map((v) => (/\/(bias|scale)(_\d+)?$/.test(v.name) ? biasLrFactor : 1))

/** A statistic that may be NaN/Inf (a diverging run): JSON carries those as null. */
const Stat = Schema.NullOr(Schema.Number)

export const EpochRecord = Schema.Struct({
  epoch: Schema.Int,
  lr: Schema.Number,
  trainLoss: Schema.Number,
  trainAccuracy: Schema.Number,
  /** On the `validation` split after the epoch (BN in inference mode, as `evaluate`); null without one, or NaN/Inf. */
  validationLoss: Stat,
  validationAccuracy: Stat,
  seconds: Schema.Number
})
export type EpochRecord = typeof EpochRecord.Type

/** The monitor's settings (shared/train/monitor.ts); absent = no sampling. */
export const MonitorConfig = Schema.Struct({
  /** Sample every `every` training steps, step 0 (before the first update) included. */
  every: PositiveInt,
  /** A unit is dead when its activation's std over the batch and positions is below this. */
  deadThreshold: Positive
})
export type MonitorConfig = typeof MonitorConfig.Type
export { defaultMonitor, monitorFor }

/** One conv/dense layer at one sampled step, on that step's training batch, at the weights before its update. */
export const LayerSample = Schema.Struct({
  /** Global step, 0-based over all epochs: epoch × batchesPerEpoch + batch. */
  step: Schema.Int,
  epoch: Schema.Int,
  layer: Schema.String,
  activationMean: Stat,
  activationVar: Stat,
  gradMean: Stat,
  gradVar: Stat,
  gradNorm: Stat,
  /** Share of the layer's units (channels / neurons) whose activation std is below `deadThreshold`. */
  deadShare: Stat
})
export type LayerSample = typeof LayerSample.Type

/** The first batch before any update: its loss beside ln C, what an uninformative start gives. */
export const InitialRecord = Schema.Struct({ loss: Stat, accuracy: Schema.Number, expectedLoss: Schema.Number })
export type InitialRecord = typeof InitialRecord.Type

const TrainState = Schema.Struct({
  epoch: Schema.Int,
  batch: Schema.Int,
  lossSum: Schema.Number,
  correct: Schema.Number,
  epochSeconds: Schema.Number,
  weights: WeightsRef,
  optimizer: ArtifactRef,
  history: Schema.Array(EpochRecord),
  /** Set once the first batch has run. */
  initial: Schema.NullOr(InitialRecord),
  monitor: Schema.Array(LayerSample)
})
type TrainState = typeof TrainState.Type

/** Lets the event loop run (signal handlers, progress output) between batches; costs microseconds. */
const breathe = Effect.promise(() => new Promise<void>((resolve) => setImmediate(resolve)))

export const train = defineStep({
  name: "train",
  code: import.meta.url,
  input: Schema.Struct({
    model: ModelSpec,
    initial: WeightsRef,
    data: DatasetRef,
    /** Scored after every epoch (validationLoss/Accuracy in `history`). */
    validation: Schema.optional(DatasetRef),
    config: TrainConfig,
    /** Absent: no per-layer sampling (`monitorFor(steps)` is the measured default). */
    monitor: Schema.optional(MonitorConfig),
    /** Part of the key: numbers differ (slightly) between backends, and a cached result says which produced it. */
    backend: Schema.String
  }),
  output: Schema.Struct({
    weights: WeightsRef,
    history: Schema.Array(EpochRecord),
    initial: InitialRecord,
    monitor: Schema.Array(LayerSample),
    diverged: Schema.NullOr(Divergence),
    seconds: Schema.Number
  }),
  run: (input, ctx) =>
    Effect.gen(function* () {
      const reporter = yield* Reporter
      const { config } = input
      const data = yield* getDataset(input.data)
      const validation = input.validation === undefined ? undefined : yield* getDataset(input.validation)
      const ckpt = ctx.checkpoint(TrainState)
      const saved = yield* ckpt.load
      // Its weights are loaded below: no initial draw (withPlaceholderWeights).
      const model = withPlaceholderWeights(() => buildModel(input.model))
      const vars = trainableVars(model)
      const optimizer = makeOptimizer(config.optimizer, vars, lrFactorsFor(vars, config.biasLrFactor))
      // Shares the model's layers: disposing the model disposes its weights.
      const monitor: BatchMonitor | undefined =
        input.monitor === undefined ? undefined : { plan: monitorPlan(model), deadThreshold: input.monitor.deadThreshold }
      // Steps without monitor samples may run as native replays of a recorded step (torch backend; bit-identical,
      // so nothing in the key changes); a fallback is said once per reason, and the count at the end.
      const replay = createStepReplay({ log: (l) => reporter.line(`  ${l}`) })
      yield* Effect.addFinalizer(() => Effect.sync(() => (replay.dispose(), optimizer.dispose(), model.dispose())))
      writeWeights(model, yield* getWeights(saved?.weights ?? input.initial))
      if (saved) optimizer.load(toF32(yield* getArrays(saved.optimizer)))

      let state: Omit<TrainState, "weights" | "optimizer"> = saved ?? {
        epoch: 0,
        batch: 0,
        lossSum: 0,
        correct: 0,
        epochSeconds: 0,
        history: [],
        initial: null,
        monitor: []
      }
      const save = Effect.gen(function* () {
        const weights = yield* putWeights(readWeights(model))
        const opt = yield* putArrays(snapshot(optimizer.state()), "optimizer")
        yield* ckpt.save({ ...state, weights, optimizer: opt })
      })
      if (saved) reporter.line(`  resuming at epoch ${saved.epoch + 1}, batch ${saved.batch}`)

      const started = performance.now()
      let diverged: Divergence | null = null
      const loop = Effect.gen(function* () {
        const batches = Math.ceil(data.n / config.batchSize)
        while (state.epoch < config.epochs && diverged === null) {
          const { epoch } = state
          const lr = lrAt(config.lr, config.schedule, epoch, config.epochs)
          const order = epochOrder(data.n, config.seed, epoch)
          const bar = reporter.progress(`train epoch ${epoch + 1}/${config.epochs}`, batches)
          bar.tick(state.batch)
          let t = performance.now()
          while (state.batch < batches) {
            const idx = batchIndices(order, state.batch, config.batchSize)
            const step = epoch * batches + state.batch
            const sampled = monitor !== undefined && sampledAt(step, input.monitor!.every)
            const r = trainBatch(model, vars, optimizer, data, idx, lr, sampled ? monitor : undefined, replay)
            const samples = (r.layers ?? []).map((l) => sampleRecord(step, epoch, l))
            const initial = state.initial ?? { loss: finite(r.loss), accuracy: r.correct / idx.length, expectedLoss: expectedInitialLoss(data.classes) }
            if (!Number.isFinite(r.loss)) {
              // The diverging batch's sample shows which layer blew up first: kept.
              state = { ...state, initial, monitor: [...state.monitor, ...samples] }
              diverged = { epoch, batch: state.batch, loss: String(r.loss) }
              break
            }
            const now = performance.now()
            state = {
              ...state,
              initial,
              monitor: samples.length === 0 ? state.monitor : [...state.monitor, ...samples],
              batch: state.batch + 1,
              lossSum: state.lossSum + r.loss * idx.length,
              correct: state.correct + r.correct,
              epochSeconds: state.epochSeconds + (now - t) / 1000
            }
            t = now
            bar.tick(1, `loss ${r.loss.toFixed(4)}`)
            yield* breathe
          }
          if (diverged !== null) {
            bar.done(`diverged (loss ${diverged.loss}) at batch ${diverged.batch}`)
            break
          }
          const scored = validation === undefined ? undefined : evaluate(model, validation)
          const record: EpochRecord = {
            epoch,
            lr,
            trainLoss: state.lossSum / data.n,
            trainAccuracy: state.correct / data.n,
            validationLoss: scored === undefined ? null : finite(scored.loss),
            validationAccuracy: scored === undefined || scored.nonFinite ? null : scored.accuracy,
            seconds: state.epochSeconds
          }
          bar.done(`loss ${record.trainLoss.toFixed(4)} acc ${(100 * record.trainAccuracy).toFixed(2)}%`)
          state = { ...state, epoch: epoch + 1, batch: 0, lossSum: 0, correct: 0, epochSeconds: 0, history: [...state.history, record] }
          if (state.epoch < config.epochs) yield* save
        }
      })
      yield* loop.pipe(Effect.onInterrupt(() => save.pipe(Effect.ignore)))
      const facts = replay.facts()
      if (facts.replayed > 0) {
        reporter.line(`  step replay: ${facts.replayed} steps replayed natively, ${facts.recorded} recorded through tfjs`)
      }
      const weights = yield* putWeights(readWeights(model))
      return {
        weights,
        history: state.history,
        // Epochs ≥ 1, so the first batch ran (on a resumed run, before the interruption).
        initial: state.initial!,
        monitor: state.monitor,
        diverged,
        seconds: (performance.now() - started) / 1000
      }
    }).pipe(Effect.scoped)
})

const sampleRecord = (step: number, epoch: number, l: LayerStatsSample): LayerSample => ({
  step,
  epoch,
  layer: l.layer,
  activationMean: finite(l.activationMean),
  activationVar: finite(l.activationVar),
  gradMean: finite(l.gradMean),
  gradVar: finite(l.gradVar),
  gradNorm: finite(l.gradNorm),
  deadShare: finite(l.deadShare)
})

const snapshot = (tensors: Record<string, tf.Tensor>) =>
  Object.fromEntries(
    Object.entries(tensors).map(([k, t]) => [k, { dtype: "float32" as const, shape: t.shape, data: t.dataSync() as Float32Array }])
  )

const toF32 = (arrays: Record<string, { shape: ReadonlyArray<number>; data: ArrayLike<number> }>) =>
  Object.fromEntries(Object.entries(arrays).map(([k, a]) => [k, { shape: a.shape, data: Float32Array.from(a.data) }]))
