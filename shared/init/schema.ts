/**
 * Schema of an initializer's config, so step inputs can carry one as data. It is the source of truth: `InitConfig`
 * (shared/init/initializers.ts) is derived from it, so the two cannot drift and no field falls out of a key.
 */
import { Schema } from "effect"

const Nonlinearity = Schema.Literals(["linear", "sigmoid", "tanh", "relu", "leakyRelu"])
const Truncation = Schema.Struct({
  low: Schema.Number,
  high: Schema.Number,
  method: Schema.Literals(["resample", "clip"])
})

export const BaseInitConfigSchema = Schema.Union([
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

/**
 * The enhanced init's two choices (shared/init/initializers.ts `enhanced`), both optional so that a config without
 * them keeps its meaning and its cache key: `law` — how each group's variance is drawn (absent: "gamma");
 * `per` — what a group is (absent: "filter").
 */
export const EnhancedLaw = Schema.Literals(["gamma", "uniform"])
export const EnhancedGroup = Schema.Literals(["filter", "slice"])

export const InitConfigSchema = Schema.Union([
  BaseInitConfigSchema,
  Schema.Struct({
    name: Schema.Literal("enhanced"),
    base: BaseInitConfigSchema,
    law: Schema.optional(EnhancedLaw),
    per: Schema.optional(EnhancedGroup)
  }),
  Schema.Struct({ name: Schema.Literal("fixup"), base: BaseInitConfigSchema })
])
