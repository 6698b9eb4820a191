/**
 * Writes weights learned on one model into another: every conv/dense kernel (and bias, where the target has one) is
 * copied by layer name; everything else keeps the target's own initialization (e.g. BN γ = 1, β = 0 when the target
 * has batch norm and the source — learned without it — has none). Shapes must agree.
 */
import { Effect, Schema } from "effect"
import { defineStep } from "../shared/engine/step.ts"
import { BadConfig } from "../shared/errors.ts"
import { InitConfigSchema } from "../shared/init/schema.ts"
import { ModelSpec } from "../shared/models/spec.ts"
import { applyInit } from "../shared/models/weights.ts"
import { WeightsRef, getWeights, putWeights } from "../shared/schemas.ts"
import { withModel } from "../shared/train/tensors.ts"
import { readWeights, writeWeights } from "../shared/train/weights.ts"

export const transfer = defineStep({
  name: "transfer",
  code: import.meta.url,
  input: Schema.Struct({
    from: WeightsRef,
    to: ModelSpec,
    /** The target's own init for what is not copied (seeded, so the result is reproducible). */
    targetInit: InitConfigSchema,
    seed: Schema.Int
  }),
  output: Schema.Struct({ weights: WeightsRef, copied: Schema.Array(Schema.String), kept: Schema.Array(Schema.String) }),
  run: (input) =>
    Effect.gen(function* () {
      const source = yield* getWeights(input.from)
      const result = withModel(input.to, (model) => {
        applyInit(model, input.targetInit, { seed: input.seed })
        const target = readWeights(model)
        const copied: string[] = []
        const kept: string[] = []
        for (const name of Object.keys(target)) {
          const s = source[name]
          if (s === undefined) {
            kept.push(name)
            continue
          }
          if (s.shape.join("x") !== target[name]!.shape.join("x")) {
            return new BadConfig({
              field: `transfer.${name}`,
              value: `[${s.shape}]`,
              expected: `shape [${target[name]!.shape}] of the target model`
            })
          }
          target[name] = s
          copied.push(name)
        }
        writeWeights(model, target)
        return { weights: readWeights(model), copied, kept }
      })
      if (result instanceof BadConfig) return yield* result
      return { weights: yield* putWeights(result.weights), copied: result.copied, kept: result.kept }
    })
})
