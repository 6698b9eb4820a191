/**
 * Bias initializers. The kernel initializers (initializers.ts) leave biases at 0; some studies draw them instead:
 *
 *   zero        0                    what `applyInit` writes (shared/models/weights.ts)
 *   heuristic   U(±1/√fanIn)         PyTorch's default for Linear/Conv biases (the layer's fan-in, as its kernel's)
 *
 * `fanIn` is the layer's kernel fan-in (inputs per output unit), `units` its bias length.
 */
import { Schema } from "effect"
import { createRng, uniformArray } from "./random.ts"

export const BiasInitSchema = Schema.Union([Schema.Struct({ name: Schema.Literal("zero") }), Schema.Struct({ name: Schema.Literal("heuristic") })])
export type BiasInit = typeof BiasInitSchema.Type

/** The half-width of the heuristic draw: 1/√fanIn. */
export const heuristicBiasBound = (fanIn: number): number => 1 / Math.sqrt(fanIn)

/** Draw a bias of `units` values for a layer of fan-in `fanIn` from `seed`. Same arguments → same values. */
export const drawBias = (config: BiasInit, units: number, fanIn: number, seed: number): Float32Array => {
  if (!(Number.isInteger(fanIn) && fanIn >= 1)) throw new RangeError(`drawBias: fanIn must be an integer ≥ 1, got ${fanIn}`)
  switch (config.name) {
    case "zero":
      return new Float32Array(units)
    case "heuristic": {
      const b = heuristicBiasBound(fanIn)
      return uniformArray(createRng(seed), units, -b, b)
    }
  }
}

/** The per-value variance the draw aims at: 0, or b²/3 for U(±b). */
export const biasVariance = (config: BiasInit, fanIn: number): number =>
  config.name === "zero" ? 0 : heuristicBiasBound(fanIn) ** 2 / 3
