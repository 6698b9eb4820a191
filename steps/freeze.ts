/**
 * Freezes a learned initialization: the weights the LW chain ended with become the init artifact, and the evidence
 * that the method did what it claims is measured — every layer's output mean and activation variance on a held-out
 * batch (not the one it was learned on), beside the targets.
 */
import { Effect, Schema } from "effect"
import { defineStep } from "../shared/engine/step.ts"
import { layerStats } from "../shared/lw/greedy.ts"
import { ModelSpec } from "../shared/models/spec.ts"
import { DatasetRef, WeightsRef, getDataset, getWeights } from "../shared/schemas.ts"
import { finiteStats, withModelOnBatch } from "../shared/train/tensors.ts"
import { LayerStatsSchema } from "./learn-layer-init.ts"

export const freeze = defineStep({
  name: "freeze",
  code: import.meta.url,
  input: Schema.Struct({ model: ModelSpec, state: WeightsRef, heldOut: DatasetRef, backend: Schema.String }),
  output: Schema.Struct({
    weights: WeightsRef,
    layerStats: Schema.Array(Schema.Struct({ name: Schema.String, hasActivation: Schema.Boolean, ...LayerStatsSchema.fields }))
  }),
  run: (input) =>
    Effect.gen(function* () {
      const data = yield* getDataset(input.heldOut)
      const weights = yield* getWeights(input.state)
      const stats = withModelOnBatch(input.model, weights, data, (model, x) => layerStats(model, x))
      return {
        weights: input.state,
        layerStats: stats.map((s) => ({ name: s.name, hasActivation: s.hasActivation, ...finiteStats(s) }))
      }
    })
})
