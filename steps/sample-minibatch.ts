/**
 * A seeded mini-batch from a prepared split: random or class-balanced, by count (the thesis's LeNet figures use 25
 * samples) or by fraction (it suggests ~30 % of the data for init learning). With `inputsOnly` the labels are not
 * stored (the batch's `labels` array is then empty): LW needs inputs only, and its key then ignores label order.
 */
import { Effect, Schema } from "effect"
import { sampleBatch } from "../shared/data/select.ts"
import { defineStep } from "../shared/engine/step.ts"
import { attempt } from "../shared/errors.ts"
import { DatasetRef, getDataset, putDataset } from "../shared/schemas.ts"
import { Amount } from "./prepare-dataset.ts"

export const sampleMinibatch = defineStep({
  name: "sample-minibatch",
  code: import.meta.url,
  input: Schema.Struct({
    data: DatasetRef,
    amount: Amount,
    balanced: Schema.Boolean,
    inputsOnly: Schema.Boolean,
    seed: Schema.Int
  }),
  output: DatasetRef,
  run: (input) =>
    Effect.gen(function* () {
      const set = yield* getDataset(input.data)
      const batch = yield* attempt(() => sampleBatch(set, { amount: input.amount, seed: input.seed, balanced: input.balanced }))
      return yield* putDataset(input.inputsOnly ? { ...batch, labels: new Uint8Array(0) } : batch)
    })
})
