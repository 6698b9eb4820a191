/** Schema of `LwConfig` (config.ts), so a step input can carry LW's configuration as data (and its cache key). */
import { Schema } from "effect"
import { InitConfigSchema } from "../init/schema.ts"
import type { LwConfig } from "./config.ts"

const TermSite = Schema.Literals(["output", "activation", "off"])

export const LwConfigSchema: Schema.Codec<LwConfig, any> = Schema.Struct({
  meanAt: TermSite,
  varianceAt: TermSite,
  meanTarget: Schema.Number,
  varianceTarget: Schema.Number,
  alpha: Schema.Number,
  alphaScales: Schema.Literals(["mean", "variance"]),
  scope: Schema.Literals(["tensor", "channel"]),
  unbiasedVariance: Schema.Boolean,
  init: InitConfigSchema,
  lr: Schema.Number,
  momentum: Schema.Number,
  decayFactor: Schema.Number,
  decayEvery: Schema.Int,
  maxEpochs: Schema.Int,
  batchSize: Schema.Union([Schema.Literal("all"), Schema.Int]),
  convergence: Schema.Struct({ window: Schema.Int, tolerance: Schema.Number, threshold: Schema.Number }),
  pendingPartner: Schema.Literals(["zero", "current"])
}) as unknown as Schema.Codec<LwConfig, any>
