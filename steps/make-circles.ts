/** Synthetic 2-D concentric circles (two classes) as a stored dataset: the smallest real classification problem. */
import { Effect, Schema } from "effect"
import { makeCircles as generate } from "../shared/data/circles.ts"
import { defineStep } from "../shared/engine/step.ts"
import { DatasetRef, NonNegative, putDataset } from "../shared/schemas.ts"

export const makeCircles = defineStep({
  name: "make-circles",
  code: import.meta.url,
  input: Schema.Struct({
    n: Schema.Int.check(Schema.isGreaterThanOrEqualTo(2)),
    noise: NonNegative,
    factor: Schema.Number.check(Schema.isGreaterThan(0), Schema.isLessThan(1)),
    seed: Schema.Int
  }),
  output: DatasetRef,
  run: (input) => Effect.flatMap(Effect.try({ try: () => generate(input), catch: (e) => e as Error }), putDataset)
})
