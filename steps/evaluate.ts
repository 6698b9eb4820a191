/** Evaluates weights on a dataset split: accuracy, mean cross-entropy loss, confusion matrix (rows: true class). */
import { Effect, Schema } from "effect"
import { defineStep } from "../shared/engine/step.ts"
import { ModelSpec, buildModel } from "../shared/models/spec.ts"
import { withPlaceholderWeights } from "../shared/models/layers.ts"
import { DatasetRef, WeightsRef, getDataset, getWeights } from "../shared/schemas.ts"
import { evaluate as evaluateModel } from "../shared/train/loop.ts"
import { writeWeights } from "../shared/train/weights.ts"

export const evaluate = defineStep({
  name: "evaluate",
  code: import.meta.url,
  input: Schema.Struct({ model: ModelSpec, weights: WeightsRef, data: DatasetRef, backend: Schema.String }),
  output: Schema.Struct({
    accuracy: Schema.Number,
    loss: Schema.Number,
    n: Schema.Int,
    confusion: Schema.Array(Schema.Array(Schema.Int)),
    nonFinite: Schema.Boolean
  }),
  run: (input) =>
    Effect.gen(function* () {
      const data = yield* getDataset(input.data)
      const arrays = yield* getWeights(input.weights)
      // Its weights are loaded below: no initial draw (withPlaceholderWeights).
      const model = withPlaceholderWeights(() => buildModel(input.model))
      try {
        writeWeights(model, arrays)
        const r = evaluateModel(model, data)
        // JSON cannot carry NaN: a diverged model's loss is reported as -1 with nonFinite set.
        return { ...r, loss: Number.isFinite(r.loss) ? r.loss : -1 }
      } finally {
        model.dispose()
      }
    })
})
