/**
 * LW for one layer: given the model's weights with every layer below already learned (and frozen), learn `layer` on
 * the fixed mini-batch so that its statistics reach their targets (shared/lw), and return the weights with it set.
 * One cached step per layer, chained: an interrupted LW run resumes at the layer it reached.
 *
 * The layer's targets are resolved by shared/lw for the activation that follows it (`varianceTarget: "auto"`: a
 * target that activation can reach, shared/lw/config.ts `resolveLwConfig`, in learnLayer — the one place that
 * decides), recorded in `target` with whether they can be met and whether they were; an unreachable or saturating
 * target is one warning line.
 */
import { Effect, Schema } from "effect"
import { defineStep } from "../shared/engine/step.ts"
import { Reporter } from "../shared/engine/reporter.ts"
import { LwConfigSchema, targetWarning } from "../shared/lw/config.ts"
import { learnOneLayer } from "../shared/lw/greedy.ts"
import { ModelSpec } from "../shared/models/spec.ts"
import { getLayerWeights } from "../shared/models/weights.ts"
import { DatasetRef, PositiveInt, WeightsRef, getDataset, getWeights, putWeights } from "../shared/schemas.ts"
import { finite, finiteStats, withModelOnBatch } from "../shared/train/tensors.ts"

/** Statistics that may be NaN/Inf after a divergence: JSON carries those as null. */
const Stat = Schema.NullOr(Schema.Number)
export const LayerStatsSchema = Schema.Struct({
  outputMean: Stat,
  outputVar: Stat,
  activationMean: Stat,
  activationVar: Stat
})

/** What the layer aimed at (shared/lw/config.ts `LayerTarget`) and whether it got there on the LW batch. */
export const LayerTargetSchema = Schema.Struct({
  /** As shared/init `activationKindOf` names it ("linear": none follows); null: lwi does not know its range. */
  activation: Schema.NullOr(Schema.String),
  auto: Schema.Boolean,
  meanAt: Schema.String,
  meanTarget: Schema.Number,
  varianceAt: Schema.String,
  varianceTarget: Schema.Number,
  feasibility: Schema.Literals(["feasible", "saturating", "infeasible", "unknown"]),
  /** Why a target is not (comfortably) reachable, in one line; null when feasible. */
  reason: Schema.NullOr(Schema.String),
  reached: Schema.Boolean
})

export const learnLayerInit = defineStep({
  name: "learn-layer-init",
  code: import.meta.url,
  input: Schema.Struct({
    model: ModelSpec,
    /** The whole model's weights: layers below `layer` learned, the rest as initialized. */
    state: WeightsRef,
    layer: Schema.String,
    /** The fixed mini-batch the layer is learned on (inputs only are used). */
    batch: DatasetRef,
    config: LwConfigSchema,
    seed: Schema.Int,
    backend: Schema.String
  }),
  output: Schema.Struct({
    state: WeightsRef,
    layer: Schema.String,
    epochs: Schema.Int,
    converged: Schema.Boolean,
    stop: Schema.String,
    diverged: Schema.NullOr(Schema.Struct({ epoch: Schema.Int, loss: Schema.String })),
    curve: Schema.Array(Schema.Struct({ meanLoss: Stat, varLoss: Stat, loss: Stat, lr: Schema.Number })),
    final: LayerStatsSchema,
    target: LayerTargetSchema,
    /** Wall time of the learning when it was computed (absent from entries cached before it was recorded). */
    seconds: Schema.optional(Schema.Number)
  }),
  run: (input) =>
    Effect.gen(function* () {
      const data = yield* getDataset(input.batch)
      const weights = yield* getWeights(input.state)
      const started = performance.now()
      const learned = withModelOnBatch(input.model, weights, data, (model, x) => ({
        result: learnOneLayer(model, input.layer, x, input.config, input.seed),
        // Only this layer changed: the input state with its weights replaced (not a copy of all ~11 M out of
        // the backend), in the same order, so the artifact is byte-identical to a full read.
        state: {
          ...weights,
          ...Object.fromEntries(
            getLayerWeights(model, input.layer).map((w) => [w.name, { dtype: "float32" as const, shape: w.shape, data: w.data }])
          )
        }
      }))
      const { result } = learned
      const { reached, ...target } = result.target
      const warning = targetWarning(input.layer, target)
      if (warning !== undefined) (yield* Reporter).warn(warning)
      return {
        state: yield* putWeights(learned.state),
        layer: input.layer,
        epochs: result.epochs,
        converged: result.converged,
        stop: result.stop,
        diverged: result.diverged ? { epoch: result.diverged.epoch, loss: String(result.diverged.loss) } : null,
        curve: result.curve.map((e) => ({ meanLoss: finite(e.meanLoss), varLoss: finite(e.varLoss), loss: finite(e.loss), lr: e.lr })),
        final: finiteStats(result.final),
        target: {
          ...target,
          activation: target.activation ?? null,
          feasibility: target.feasibility.status,
          reason: target.feasibility.status === "feasible" ? null : target.feasibility.reason,
          reached
        },
        seconds: (performance.now() - started) / 1000
      }
    })
})
