/** Schema of `InitConfig` (shared/init/initializers.ts), so step inputs can carry an initializer as data. */
import { Schema } from "effect"
import type { InitConfig } from "./initializers.ts"

const Nonlinearity = Schema.Literals(["linear", "sigmoid", "tanh", "relu", "leakyRelu"])
const Truncation = Schema.Struct({
  low: Schema.Number,
  high: Schema.Number,
  method: Schema.Literals(["resample", "clip"])
})

const Base = Schema.Union([
  Schema.Struct({ name: Schema.Literal("heuristic") }),
  Schema.Struct({ name: Schema.Literal("xavierUniform"), gain: Schema.Number }),
  Schema.Struct({ name: Schema.Literal("xavierNormal"), gain: Schema.Number }),
  Schema.Struct({ name: Schema.Literal("kaimingUniform"), nonlinearity: Nonlinearity, negativeSlope: Schema.Number }),
  Schema.Struct({ name: Schema.Literal("kaimingNormal"), nonlinearity: Nonlinearity, negativeSlope: Schema.Number }),
  Schema.Struct({ name: Schema.Literal("orthogonal"), gain: Schema.Number }),
  Schema.Struct({ name: Schema.Literal("random") }),
  Schema.Struct({
    name: Schema.Literal("normal"),
    mean: Schema.Number,
    std: Schema.Number,
    truncation: Schema.optional(Truncation)
  })
])

export const InitConfigSchema: Schema.Codec<InitConfig, any> = Schema.Union([
  Base,
  Schema.Struct({ name: Schema.Literal("enhanced"), base: Base }),
  Schema.Struct({ name: Schema.Literal("fixup"), base: Base })
]) as unknown as Schema.Codec<InitConfig, any>
