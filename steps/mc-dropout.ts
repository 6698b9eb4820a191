/**
 * Scores trained MLP weights on a split two ways: the deterministic net (dropout off: the weight-scaling rule) and
 * Monte-Carlo dropout ensembles, the mean softmax of the first n of max(passes) stochastic passes at each n in
 * `passes` (shared/train/mc-dropout.ts). The masks come from `dropout.seed`: the same input, the same numbers.
 */
import { Effect, Schema } from "effect"
import { Reporter } from "../shared/engine/reporter.ts"
import { defineStep } from "../shared/engine/step.ts"
import { BadConfig } from "../shared/errors.ts"
import { ModelSpec } from "../shared/models/spec.ts"
import { DatasetRef, PositiveInt, WeightsRef, getDataset, getWeights } from "../shared/schemas.ts"
import { checkCheckpoints, mcDropoutCurve } from "../shared/train/mc-dropout.ts"
import { writeWeights } from "../shared/train/weights.ts"
import { DropoutConfig, dropoutMlp } from "./train-dropout.ts"

const Score = { error: Schema.Number, nll: Schema.Number }

export const mcDropout = defineStep({
  name: "mc-dropout",
  code: import.meta.url,
  input: Schema.Struct({
    model: ModelSpec,
    /** The rate the passes drop at (the trained rate, for the paper's MC averaging) and the masks' seed. */
    dropout: DropoutConfig,
    weights: WeightsRef,
    data: DatasetRef,
    /** Ensemble sizes to score, increasing: one stream of max(passes) passes, scored at each. */
    passes: Schema.Array(PositiveInt),
    batchSize: PositiveInt,
    backend: Schema.String
  }),
  output: Schema.Struct({
    deterministic: Schema.Struct(Score),
    curve: Schema.Array(Schema.Struct({ n: Schema.Int, ...Score })),
    seconds: Schema.Number
  }),
  run: (input) =>
    Effect.gen(function* () {
      const reporter = yield* Reporter
      if (input.dropout.rate === 0) {
        return yield* new BadConfig({ field: "dropout.rate", value: "0", expected: "> 0 (without dropout every pass is the same)" })
      }
      yield* Effect.try({ try: () => checkCheckpoints(input.passes), catch: (e) => new BadConfig({ field: "passes", value: `[${input.passes.join(", ")}]`, expected: String(e) }) })
      const data = yield* getDataset(input.data)
      const weights = yield* getWeights(input.weights)
      const model = yield* Effect.try({ try: () => dropoutMlp(input.model, input.dropout), catch: (e) => e as BadConfig })
      try {
        writeWeights(model, weights)
        const started = performance.now()
        const total = input.passes.at(-1)!
        const bar = reporter.progress(`MC dropout passes over ${data.n} samples`, total)
        const r = mcDropoutCurve(model, data, input.passes, { batchSize: input.batchSize, onPass: () => bar.tick(1) })
        bar.done(`${total} passes`)
        return { ...r, seconds: (performance.now() - started) / 1000 }
      } finally {
        model.dispose()
      }
    })
})
