/**
 * LSUV (Mishkin & Matas 2016) on a model as an artifact: every conv/dense layer pre-initialized (orthogonal in the
 * paper, biases 0), then, in forward order, each kernel scaled until its output variance on `batch` is 1
 * (shared/init/lsuv.ts, wired to tfjs in shared/models/weights.ts `applyLsuv`). Every layer, the classifier too, as
 * the paper does. The data-dependent twin of init-weights: its key holds the batch and the backend that measured it.
 */
import { Effect, Schema } from "effect"
import { defineStep } from "../shared/engine/step.ts"
import { Reporter } from "../shared/engine/reporter.ts"
import { InitConfigSchema } from "../shared/init/schema.ts"
import { ModelSpec, buildModel } from "../shared/models/spec.ts"
import { applyLsuv } from "../shared/models/weights.ts"
import { DatasetRef, Positive, PositiveInt, WeightsRef, getDataset, putWeights } from "../shared/schemas.ts"
import { batchTensor, finite } from "../shared/train/tensors.ts"
import { readWeights } from "../shared/train/weights.ts"

export const LsuvSettings = Schema.Struct({
  /** The draw LSUV starts from: orthogonal (gain 1) in the paper. */
  preInit: InitConfigSchema,
  /** The paper's Tol_var = 0.1. */
  tolerance: Positive,
  /** The paper's T_max = 10 passes per layer. */
  maxIterations: PositiveInt,
  targetVariance: Positive
})

/** The paper's settings (shared/init/lsuv.ts defaultLsuvConfig, after an orthogonal draw of gain 1). */
export const paperLsuv: typeof LsuvSettings.Type = { preInit: { name: "orthogonal", gain: 1 }, tolerance: 0.1, maxIterations: 10, targetVariance: 1 }

export const lsuvInit = defineStep({
  name: "lsuv-init",
  code: import.meta.url,
  input: Schema.Struct({
    model: ModelSpec,
    settings: LsuvSettings,
    /** The images each layer's variance is measured on (inputs only are used). */
    batch: DatasetRef,
    seed: Schema.Int,
    backend: Schema.String
  }),
  output: Schema.Struct({
    weights: WeightsRef,
    layers: Schema.Array(
      Schema.Struct({
        layer: Schema.String,
        iterations: Schema.Int,
        /** Output variance on the last pass; null when not finite. */
        variance: Schema.NullOr(Schema.Number),
        totalScale: Schema.NullOr(Schema.Number),
        converged: Schema.Boolean
      })
    )
  }),
  run: (input) =>
    Effect.gen(function* () {
      const data = yield* getDataset(input.batch)
      const { settings } = input
      const { arrays, report } = yield* Effect.sync(() => {
        const model = buildModel(input.model)
        const x = batchTensor(data)
        try {
          const report = applyLsuv(model, x, {
            seed: input.seed,
            preInit: settings.preInit,
            lsuv: { tolerance: settings.tolerance, maxIterations: settings.maxIterations, targetVariance: settings.targetVariance }
          })
          return { arrays: readWeights(model), report }
        } finally {
          x.dispose()
          model.dispose()
        }
      })
      const reporter = yield* Reporter
      const missed = report.filter((r) => !r.converged).map((r) => r.layer)
      if (missed.length > 0) reporter.warn(`LSUV: ${missed.length} layer(s) not within ±${settings.tolerance} of variance ${settings.targetVariance} after ${settings.maxIterations} passes: ${missed.join(", ")}`)
      return {
        weights: yield* putWeights(arrays),
        layers: report.map((r) => ({ layer: r.layer, iterations: r.iterations, variance: finite(r.variance), totalScale: finite(r.totalScale), converged: r.converged }))
      }
    })
})
