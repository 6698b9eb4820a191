/**
 * Trains an MLP with dropout (shared/models/mlp.ts SeededDropout, masks from a seeded stream) from given initial
 * weights: the `train` step's loop (shared/train/loop.ts, minibatches in a (seed, epoch) order, the optimizers and
 * schedules of shared/train/optim.ts) on a model `ModelSpec` cannot describe yet, since it has no dropout field.
 * Records per epoch the training and validation loss and accuracy (validation with dropout off). NaN/Inf loss stops
 * training and is recorded as `diverged`. No checkpoint: a run here takes minutes, and the dropout stream restarts
 * with the model, so a resumed run would not draw the masks an unbroken one does.
 */
import { Effect, Schema } from "effect"
import { Reporter } from "../shared/engine/reporter.ts"
import { defineStep } from "../shared/engine/step.ts"
import { BadConfig } from "../shared/errors.ts"
import { withPlaceholderWeights } from "../shared/models/layers.ts"
import { createMLP } from "../shared/models/mlp.ts"
import { ModelSpec } from "../shared/models/spec.ts"
import { DatasetRef, Divergence, WeightsRef, getDataset, getWeights, putWeights } from "../shared/schemas.ts"
import { batchIndices, epochOrder, evaluate, trainBatch, trainableVars } from "../shared/train/loop.ts"
import { expectedInitialLoss } from "../shared/train/monitor.ts"
import { lrAt, makeOptimizer } from "../shared/train/optim.ts"
import { finite } from "../shared/train/tensors.ts"
import { readWeights, writeWeights } from "../shared/train/weights.ts"
import { EpochRecord, InitialRecord, TrainConfig } from "./train.ts"

/** Dropout after every hidden activation: its rate (0 = none) and the seed of its masks. */
export const DropoutConfig = Schema.Struct({
  rate: Schema.Number.check(Schema.isGreaterThanOrEqualTo(0), Schema.isLessThan(1)),
  seed: Schema.Int
})
export type DropoutConfig = typeof DropoutConfig.Type

/** The MLP of `spec` with `dropout`; any other architecture is a BadConfig. */
export const dropoutMlp = (spec: ModelSpec, dropout: DropoutConfig) => {
  if (spec.arch !== "mlp") throw new BadConfig({ field: "model.arch", value: spec.arch, expected: "mlp (dropout is an MLP option)" })
  return withPlaceholderWeights(() => createMLP({ ...spec, dropout: dropout.rate, dropoutSeed: dropout.seed }))
}

export const trainDropout = defineStep({
  name: "train-dropout",
  code: import.meta.url,
  input: Schema.Struct({
    model: ModelSpec,
    dropout: DropoutConfig,
    initial: WeightsRef,
    data: DatasetRef,
    validation: Schema.optional(DatasetRef),
    config: TrainConfig,
    backend: Schema.String
  }),
  output: Schema.Struct({
    weights: WeightsRef,
    history: Schema.Array(EpochRecord),
    initial: InitialRecord,
    diverged: Schema.NullOr(Divergence),
    seconds: Schema.Number
  }),
  run: (input) =>
    Effect.gen(function* () {
      const reporter = yield* Reporter
      const { config } = input
      const data = yield* getDataset(input.data)
      const validation = input.validation === undefined ? undefined : yield* getDataset(input.validation)
      const model = yield* Effect.try({ try: () => dropoutMlp(input.model, input.dropout), catch: (e) => e as BadConfig })
      const vars = trainableVars(model)
      const optimizer = makeOptimizer(config.optimizer, vars)
      yield* Effect.addFinalizer(() => Effect.sync(() => (optimizer.dispose(), model.dispose())))
      writeWeights(model, yield* getWeights(input.initial))

      const started = performance.now()
      const history: EpochRecord[] = []
      let initial: InitialRecord | undefined
      let diverged: Divergence | null = null
      const batches = Math.ceil(data.n / config.batchSize)
      for (let epoch = 0; epoch < config.epochs && diverged === null; epoch++) {
        const lr = lrAt(config.lr, config.schedule, epoch, config.epochs)
        const order = epochOrder(data.n, config.seed, epoch)
        const bar = reporter.progress(`train (dropout ${input.dropout.rate}) epoch ${epoch + 1}/${config.epochs}`, batches)
        const t = performance.now()
        let lossSum = 0
        let correct = 0
        for (let b = 0; b < batches; b++) {
          const idx = batchIndices(order, b, config.batchSize)
          const r = trainBatch(model, vars, optimizer, data, idx, lr)
          initial ??= { loss: finite(r.loss), accuracy: r.correct / idx.length, expectedLoss: expectedInitialLoss(data.classes) }
          if (!Number.isFinite(r.loss)) {
            diverged = { epoch, batch: b, loss: String(r.loss) }
            break
          }
          lossSum += r.loss * idx.length
          correct += r.correct
          bar.tick(1, `loss ${r.loss.toFixed(4)}`)
          // Lets signal handlers and progress output run between batches.
          yield* Effect.promise(() => new Promise<void>((resolve) => setImmediate(resolve)))
        }
        if (diverged !== null) {
          bar.done(`diverged at batch ${diverged.batch}`)
          break
        }
        const scored = validation === undefined ? undefined : evaluate(model, validation)
        history.push({
          epoch,
          lr,
          trainLoss: lossSum / data.n,
          trainAccuracy: correct / data.n,
          validationLoss: scored === undefined ? null : finite(scored.loss),
          validationAccuracy: scored === undefined || scored.nonFinite ? null : scored.accuracy,
          seconds: (performance.now() - t) / 1000
        })
        bar.done(`loss ${(lossSum / data.n).toFixed(4)} acc ${((100 * correct) / data.n).toFixed(2)}%`)
      }
      return {
        weights: yield* putWeights(readWeights(model)),
        history,
        // Epochs ≥ 1, so the first batch ran.
        initial: initial!,
        diverged,
        seconds: (performance.now() - started) / 1000
      }
    }).pipe(Effect.scoped)
})
