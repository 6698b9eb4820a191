/**
 * One cell of the depth study (pipelines/deep-stats.ts): an MLP of `depth` hidden layers of `width` units,
 * initialized one way (a data-free draw, LSUV or LW), then measured on a fresh N(0, 1) batch: each hidden layer's
 * activation mean/variance and the mean/variance of the loss gradient with respect to that activation
 * (shared/init/depth-stats.ts). LSUV and LW fit on their own N(0, 1) batch, never the one measured.
 *
 * Seeds: the weights from `seed` (each layer from deriveSeed(seed, layer name), as every init here), the fitting
 * batch, the measured batch and its random labels each from deriveSeed(seed, their role): every cell of a run
 * is measured on the same batch and labels.
 */
import * as tf from "@tensorflow/tfjs"
import { Effect, Schema } from "effect"
import { defineStep } from "../shared/engine/step.ts"
import { Reporter } from "../shared/engine/reporter.ts"
import { attempt } from "../shared/errors.ts"
import { type DenseWeights, depthStats } from "../shared/init/depth-stats.ts"
import { createRng, normalArray } from "../shared/init/random.ts"
import { InitConfigSchema } from "../shared/init/schema.ts"
import { LwConfigSchema } from "../shared/lw/config.ts"
import { learnInit } from "../shared/lw/api.ts"
import { findLayer } from "../shared/models/graph.ts"
import { buildModel } from "../shared/models/spec.ts"
import { applyInit, applyLsuv, learnableLayers } from "../shared/models/weights.ts"
import { deriveSeed } from "../shared/random.ts"
import { PositiveInt } from "../shared/schemas.ts"
import { finite } from "../shared/train/tensors.ts"

export const DepthInit = Schema.Union([
  /** Every layer (the readout too) drawn from `config`, biases 0. */
  Schema.Struct({ method: Schema.Literal("draw"), config: InitConfigSchema }),
  /** Mishkin & Matas: `preInit` (orthogonal in the paper), then each layer's kernel scaled to unit output variance. */
  Schema.Struct({
    method: Schema.Literal("lsuv"),
    preInit: InitConfigSchema,
    tolerance: Schema.Number,
    maxIterations: PositiveInt,
    targetVariance: Schema.Number,
    /** N(0, 1) samples LSUV measures on. */
    batch: PositiveInt
  }),
  /** LW on every hidden layer; the readout keeps `classifier` (the thesis: the standard init). */
  Schema.Struct({ method: Schema.Literal("lw"), config: LwConfigSchema, classifier: InitConfigSchema, batch: PositiveInt })
])
export type DepthInit = typeof DepthInit.Type

const Stat = Schema.NullOr(Schema.Number)

export const DepthLayer = Schema.Struct({
  layer: Schema.Int,
  forwardMean: Stat,
  forwardVar: Stat,
  gradMean: Stat,
  gradVar: Stat
})

/** What LSUV or LW did to one layer (empty for a draw). */
export const FitLayer = Schema.Struct({
  layer: Schema.String,
  /** LSUV: converged / not converged; LW: learned / unreachable / diverged / skipped. */
  status: Schema.String,
  /** LSUV passes or LW epochs. */
  iterations: Schema.Int,
  note: Schema.NullOr(Schema.String)
})

export const depthStatsStep = defineStep({
  name: "depth-stats",
  code: import.meta.url,
  input: Schema.Struct({
    depth: PositiveInt,
    width: PositiveInt,
    /** Readout units (and the random labels' classes). */
    classes: PositiveInt,
    activation: Schema.Literals(["relu", "tanh", "linear", "sigmoid"]),
    init: DepthInit,
    /** Samples of the measured N(0, 1) batch. */
    batch: PositiveInt,
    loss: Schema.Literals(["cross-entropy", "sum"]),
    seed: Schema.Int,
    backend: Schema.String
  }),
  output: Schema.Struct({
    layers: Schema.Array(DepthLayer),
    loss: Stat,
    fit: Schema.Array(FitLayer),
    initSeconds: Schema.Number,
    measureSeconds: Schema.Number
  }),
  run: (input) =>
    Effect.gen(function* () {
      const reporter = yield* Reporter
      const gaussian = (n: number, role: string) =>
        tf.tensor2d(normalArray(createRng(deriveSeed(input.seed, `deep-stats/${role}`)), n * input.width, 0, 1), [n, input.width])
      const model = buildModel({ arch: "mlp", inputShape: [input.width], depth: input.depth, width: input.width, classes: input.classes, activation: input.activation })
      try {
        const started = performance.now()
        const fit = yield* initialize(model, input.init, input.seed, gaussian, reporter.line)
        const initSeconds = (performance.now() - started) / 1000
        const names = learnableLayers(model).map((l) => l.name) // fc1 … fc{depth+1}, in forward order
        const dense = (name: string): DenseWeights => {
          const [kernel, bias] = findLayer(model, name).getWeights() as [tf.Tensor2D, tf.Tensor1D]
          return { kernel, bias }
        }
        const rng = createRng(deriveSeed(input.seed, "deep-stats/labels"))
        const labels = Int32Array.from({ length: input.batch }, () => Math.floor(rng.next() * input.classes))
        const x = gaussian(input.batch, "probe")
        const measured = performance.now()
        const stats = depthStats(names.slice(0, -1).map(dense), dense(names.at(-1)!), input.activation, x, input.loss === "sum" ? { kind: "sum" } : { kind: "cross-entropy", labels })
        x.dispose()
        return {
          layers: stats.layers.map((s) => ({
            layer: s.layer,
            forwardMean: finite(s.forwardMean),
            forwardVar: finite(s.forwardVar),
            gradMean: finite(s.gradMean),
            gradVar: finite(s.gradVar)
          })),
          loss: finite(stats.loss),
          fit,
          initSeconds,
          measureSeconds: (performance.now() - measured) / 1000
        }
      } finally {
        model.dispose()
      }
    })
})

/** Applies `init` to `model` in place; returns what LSUV or LW did per layer. */
const initialize = (
  model: tf.LayersModel,
  init: DepthInit,
  seed: number,
  gaussian: (n: number, role: string) => tf.Tensor2D,
  log: (line: string) => void
) =>
  Effect.gen(function* () {
    switch (init.method) {
      case "draw":
        applyInit(model, init.config, { seed })
        return []
      case "lsuv": {
        const batch = gaussian(init.batch, "fit")
        try {
          const report = applyLsuv(model, batch, {
            seed,
            preInit: init.preInit,
            lsuv: { tolerance: init.tolerance, maxIterations: init.maxIterations, targetVariance: init.targetVariance }
          })
          return report.map((r) => ({
            layer: r.layer,
            status: r.converged ? "converged" : "not converged",
            iterations: r.iterations,
            note: `output variance ${r.variance.toPrecision(3)} after scaling by ${r.totalScale.toPrecision(3)}`
          }))
        } finally {
          batch.dispose()
        }
      }
      case "lw": {
        const classifier = learnableLayers(model).find((l) => l.context.role === "classifier")!.name
        applyInit(model, init.classifier, { seed, layers: [classifier] })
        const batch = gaussian(init.batch, "fit")
        try {
          const report = yield* attempt(() =>
            learnInit(model, batch, {
              config: init.config,
              seed,
              onLayer: (p) => log(`LW ${p.layer} (${p.index + 1}/${p.total}): ${p.status}, ${p.epochs} epochs, ${p.seconds.toFixed(1)} s`)
            })
          )
          return report.layers.map((l) => ({ layer: l.layer, status: l.status, iterations: l.epochs, note: l.reason ?? null }))
        } finally {
          batch.dispose()
        }
      }
    }
  })
