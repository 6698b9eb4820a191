/**
 * The initial draw's filter variances: every conv filter's sample variance over the variance its initializer aims at
 * (σ² of the layer's base), pooled over the conv layers, as a histogram — what the enhanced inits change (each filter
 * its own scale) and the base inits do not (every filter near 1). With an enhanced init per filter, the KS distance
 * to its law (χ²₁ or 3U², shared/init/enhanced.ts) says how closely the draw follows it.
 */
import { Effect, Schema } from "effect"
import { defineStep } from "../shared/engine/step.ts"
import { groupVariances, histogram, ksDistance, varianceLaws } from "../shared/init/enhanced.ts"
import { initVariance } from "../shared/init/initializers.ts"
import { InitConfigSchema } from "../shared/init/schema.ts"
import { withPlaceholderWeights } from "../shared/models/layers.ts"
import { ModelSpec } from "../shared/models/spec.ts"
import { learnableLayers } from "../shared/models/weights.ts"
import { PositiveInt, WeightsRef, getWeights } from "../shared/schemas.ts"
import { withModel } from "../shared/train/tensors.ts"

export const filterVariances = defineStep({
  name: "filter-variances",
  code: import.meta.url,
  input: Schema.Struct({
    model: ModelSpec,
    weights: WeightsRef,
    /** The init that drew `weights`: each layer's σ² is its (base's) variance for the layer's shape. */
    init: InitConfigSchema,
    /** Histogram of filter variance / σ² on [0, max). */
    max: Schema.Number.check(Schema.isGreaterThan(0)),
    bins: PositiveInt
  }),
  output: Schema.Struct({
    layers: Schema.Int,
    filters: Schema.Int,
    /** Mean and variance of filter variance / σ² over all filters (a law's are 1 and 2 for χ²₁, 1 and 0.8 for 3U²). */
    mean: Schema.Number,
    variance: Schema.Number,
    bins: Schema.Array(Schema.Struct({ low: Schema.Number, high: Schema.Number, density: Schema.Number })),
    /** Share of filters at or beyond `max`. */
    above: Schema.Number,
    /** KS distance to the init's law when it is enhanced per filter; null otherwise. */
    ks: Schema.NullOr(Schema.Number)
  }),
  run: (input) =>
    Effect.gen(function* () {
      const arrays = yield* getWeights(input.weights)
      const layers = withPlaceholderWeights(() => withModel(input.model, learnableLayers)).filter((l) => l.kind === "conv")
      const ratios = layers.flatMap((l) => {
        const kernel = arrays[`${l.name}/kernel`]!
        const sigma2 = initVariance(input.init, l.kernels[0]!.drawShape, l.context)
        return Array.from(groupVariances(kernel.data, l.kernels[0]!.drawShape, "filter"), (v) => v / sigma2)
      })
      const mean = ratios.reduce((a, x) => a + x, 0) / ratios.length
      const variance = ratios.reduce((a, x) => a + (x - mean) ** 2, 0) / ratios.length
      const { init } = input
      const perFilterLaw = init.name === "enhanced" && (init.per ?? "filter") === "filter" ? varianceLaws[init.law ?? "gamma"] : undefined
      return {
        layers: layers.length,
        filters: ratios.length,
        mean,
        variance,
        ...histogram(ratios, input.max, input.bins),
        ks: perFilterLaw === undefined ? null : ksDistance(ratios, perFilterLaw.cdf)
      }
    })
})
