/**
 * Writes WIB-ReLU's μ into initial weights, per layer, from a batch of training images (shared/models/wib-shift.ts):
 * the weights artifact it outputs carries the estimate, so training from it is keyed by it. `fixed` leaves μ at
 * 1/√(2π) and measures the same statistics.
 */
import { Effect, Schema } from "effect"
import { defineStep } from "../shared/engine/step.ts"
import { ModelSpec } from "../shared/models/spec.ts"
import { WIB_SHIFT_ESTIMATORS, estimateWibShifts } from "../shared/models/wib-shift.ts"
import { DatasetRef, WeightsRef, getDataset, getWeights, putWeights } from "../shared/schemas.ts"
import { withModelOnBatch } from "../shared/train/tensors.ts"
import { readWeights } from "../shared/train/weights.ts"

export const WibShiftLayer = Schema.Struct({
  layer: Schema.String,
  preActivationMean: Schema.Number,
  preActivationStd: Schema.Number,
  /** mean relu(z) on the batch. */
  measured: Schema.Number,
  /** σ_z/√(2π): E[relu(z)] were z ~ N(0, σ_z²). */
  gaussian: Schema.Number,
  /** The μ the layer subtracts. */
  shift: Schema.Number,
  /** The layer's output mean on the batch with that μ. */
  outputMean: Schema.Number
})

export const estimateWibShift = defineStep({
  name: "estimate-wib-shift",
  code: import.meta.url,
  input: Schema.Struct({
    model: ModelSpec,
    weights: WeightsRef,
    /** The images the pre-activations are measured on (a batch of the training split). */
    batch: DatasetRef,
    estimator: Schema.Literals(WIB_SHIFT_ESTIMATORS),
    backend: Schema.String
  }),
  output: Schema.Struct({ weights: WeightsRef, layers: Schema.Array(WibShiftLayer) }),
  run: (input) =>
    Effect.gen(function* () {
      const data = yield* getDataset(input.batch)
      const before = yield* getWeights(input.weights)
      const { layers, arrays } = withModelOnBatch(input.model, before, data, (model, x) => ({
        layers: estimateWibShifts(model, x, input.estimator),
        arrays: readWeights(model)
      }))
      return { weights: yield* putWeights(arrays), layers }
    })
})
