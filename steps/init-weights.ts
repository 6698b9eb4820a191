/** Draws a model's initial weights from a heuristic initializer (Xavier, Kaiming, N(0,1), ...) as an artifact. */
import { Effect, Schema } from "effect"
import { defineStep } from "../shared/engine/step.ts"
import { InitConfigSchema } from "../shared/init/schema.ts"
import { ModelSpec, buildModel } from "../shared/models/spec.ts"
import { WeightsRef, putWeights } from "../shared/schemas.ts"
import { initializeModel, readWeights } from "../shared/train/weights.ts"

export const initWeights = defineStep({
  name: "init-weights",
  version: 1,
  input: Schema.Struct({
    model: ModelSpec,
    init: InitConfigSchema,
    /** Initializer of the final decision layer, when it differs (the thesis keeps it standard). */
    last: Schema.optional(InitConfigSchema),
    seed: Schema.Int
  }),
  output: WeightsRef,
  run: (input) =>
    Effect.flatMap(
      Effect.sync(() => {
        const model = buildModel(input.model)
        initializeModel(model, input.init, input.seed, input.last ? { last: input.last } : {})
        const arrays = readWeights(model)
        model.dispose()
        return arrays
      }),
      putWeights
    )
})
