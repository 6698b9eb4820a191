/**
 * Trains a model from given initial weights: SGD (momentum) / Adam / AdamW, a learning-rate schedule, minibatches in
 * a (seed, epoch)-determined order. Checkpoints after every epoch and when interrupted (between batches), so a rerun
 * continues exactly where it stopped. NaN/Inf loss stops training and is recorded as `diverged`, not thrown.
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
import { batchIndices, epochOrder, trainBatch, trainableVars } from "../shared/train/loop.ts"
import { lrAt, makeOptimizer } from "../shared/train/optim.ts"
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
  seed: Schema.Int
})
export type TrainConfig = typeof TrainConfig.Type

export const EpochRecord = Schema.Struct({
  epoch: Schema.Int,
  lr: Schema.Number,
  trainLoss: Schema.Number,
  trainAccuracy: Schema.Number,
  seconds: Schema.Number
})

const TrainState = Schema.Struct({
  epoch: Schema.Int,
  batch: Schema.Int,
  lossSum: Schema.Number,
  correct: Schema.Number,
  epochSeconds: Schema.Number,
  weights: WeightsRef,
  optimizer: ArtifactRef,
  history: Schema.Array(EpochRecord)
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
    config: TrainConfig,
    /** Part of the key: numbers differ (slightly) between backends, and a cached result says which produced it. */
    backend: Schema.String
  }),
  output: Schema.Struct({
    weights: WeightsRef,
    history: Schema.Array(EpochRecord),
    diverged: Schema.NullOr(Divergence),
    seconds: Schema.Number
  }),
  run: (input, ctx) =>
    Effect.gen(function* () {
      const reporter = yield* Reporter
      const { config } = input
      const data = yield* getDataset(input.data)
      const ckpt = ctx.checkpoint(TrainState)
      const saved = yield* ckpt.load
      // Its weights are loaded below: no initial draw (withPlaceholderWeights).
      const model = withPlaceholderWeights(() => buildModel(input.model))
      const vars = trainableVars(model)
      const optimizer = makeOptimizer(config.optimizer, vars)
      yield* Effect.addFinalizer(() => Effect.sync(() => (optimizer.dispose(), model.dispose())))
      writeWeights(model, yield* getWeights(saved?.weights ?? input.initial))
      if (saved) optimizer.load(toF32(yield* getArrays(saved.optimizer)))

      let state: Omit<TrainState, "weights" | "optimizer"> = saved ?? {
        epoch: 0,
        batch: 0,
        lossSum: 0,
        correct: 0,
        epochSeconds: 0,
        history: []
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
            const r = trainBatch(model, vars, optimizer, data, idx, lr)
            if (!Number.isFinite(r.loss)) {
              diverged = { epoch, batch: state.batch, loss: String(r.loss) }
              break
            }
            const now = performance.now()
            state = {
              ...state,
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
          const record = {
            epoch,
            lr,
            trainLoss: state.lossSum / data.n,
            trainAccuracy: state.correct / data.n,
            seconds: state.epochSeconds
          }
          bar.done(`loss ${record.trainLoss.toFixed(4)} acc ${(100 * record.trainAccuracy).toFixed(2)}%`)
          state = { epoch: epoch + 1, batch: 0, lossSum: 0, correct: 0, epochSeconds: 0, history: [...state.history, record] }
          if (state.epoch < config.epochs) yield* save
        }
      })
      yield* loop.pipe(Effect.onInterrupt(() => save.pipe(Effect.ignore)))
      const weights = yield* putWeights(readWeights(model))
      return { weights, history: state.history, diverged, seconds: (performance.now() - started) / 1000 }
    }).pipe(Effect.scoped)
})

const snapshot = (tensors: Record<string, tf.Tensor>) =>
  Object.fromEntries(
    Object.entries(tensors).map(([k, t]) => [k, { dtype: "float32" as const, shape: t.shape, data: t.dataSync() as Float32Array }])
  )

const toF32 = (arrays: Record<string, { shape: ReadonlyArray<number>; data: ArrayLike<number> }>) =>
  Object.fromEntries(Object.entries(arrays).map(([k, a]) => [k, { shape: a.shape, data: Float32Array.from(a.data) }]))
