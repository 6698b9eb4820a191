/** Draws a model's initial weights from a heuristic initializer (Xavier, Kaiming, N(0,1), ...) as an artifact. */
import { Effect, Schema } from "effect"
import { defineStep } from "../shared/engine/step.ts"
import { InitConfigSchema } from "../shared/init/schema.ts"
import { ModelSpec, buildModel } from "../shared/models/spec.ts"
import { WeightsRef, putWeights } from "../shared/schemas.ts"
import type * as tf from "@tensorflow/tfjs"
import { applyInit, learnableLayers } from "../shared/models/weights.ts"
import { readWeights } from "../shared/train/weights.ts"

const classifierOf = (model: tf.LayersModel) => learnableLayers(model).find((l) => l.context.role === "classifier")!.name

export const initWeights = defineStep({
  name: "init-weights",
  code: import.meta.url,
  input: Schema.Struct({
    model: ModelSpec,
    init: InitConfigSchema,
    /** Initializer of the final decision layer when it differs (the thesis keeps it standard: PyTorch's default
     *  for Linear, U(±1/√fanIn) = "heuristic"). */
    classifier: Schema.optional(InitConfigSchema),
    seed: Schema.Int
  }),
  output: WeightsRef,
  run: (input) =>
    Effect.flatMap(
      Effect.sync(() => {
        const model = buildModel(input.model)
        applyInit(model, input.init, { seed: input.seed, excludeClassifier: input.classifier !== undefined })
        if (input.classifier) applyInit(model, input.classifier, { seed: input.seed, layers: [classifierOf(model)] })
        const arrays = readWeights(model)
        model.dispose()
        return arrays
      }),
      putWeights
    )
})
