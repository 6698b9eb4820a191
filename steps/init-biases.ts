/**
 * Redraws the biases of given weights (init-weights writes them as 0): each conv/dense layer's bias from
 * shared/init/bias.ts with the layer's fan-in, e.g. PyTorch's U(±1/√fanIn). Kernels and every other weight pass
 * through unchanged, so "Kaiming-normal weights, U(±1/√n) biases" is init-weights then this.
 */
import { Effect, Schema } from "effect"
import { defineStep } from "../shared/engine/step.ts"
import { BiasInitSchema, drawBias } from "../shared/init/bias.ts"
import { deriveSeed } from "../shared/init/random.ts"
import { ModelSpec, buildModel } from "../shared/models/spec.ts"
import { withPlaceholderWeights } from "../shared/models/layers.ts"
import { learnableLayers } from "../shared/models/weights.ts"
import { WeightMismatch } from "../shared/models/errors.ts"
import { WeightsRef, getWeights, putWeights } from "../shared/schemas.ts"

/** Each biased layer's name, bias length and fan-in, in forward order. */
export const biasedLayers = (spec: ModelSpec) => {
  const model = withPlaceholderWeights(() => buildModel(spec))
  try {
    return learnableLayers(model)
      .filter((l) => l.hasBias)
      .map((l) => ({ name: l.name, units: l.units, fanIn: l.fanIn }))
  } finally {
    model.dispose()
  }
}

export const initBiases = defineStep({
  name: "init-biases",
  code: import.meta.url,
  input: Schema.Struct({
    model: ModelSpec,
    weights: WeightsRef,
    bias: BiasInitSchema,
    /** Layer `name` draws from deriveSeed(seed, "name/bias"). */
    seed: Schema.Int
  }),
  output: WeightsRef,
  run: (input) =>
    Effect.gen(function* () {
      const arrays = { ...(yield* getWeights(input.weights)) }
      for (const l of biasedLayers(input.model)) {
        const name = `${l.name}/bias`
        if (arrays[name] === undefined) {
          return yield* new WeightMismatch({ weight: name, problem: "the given weights have no such bias: are they this model's?" })
        }
        arrays[name] = { dtype: "float32", shape: [l.units], data: drawBias(input.bias, l.units, l.fanIn, deriveSeed(input.seed, name)) }
      }
      return yield* putWeights(arrays)
    })
})
