/**
 * A 2-D, two-class classifier's decision map: P(second class) at the trained weights on a regular grid spanning the
 * data (plus a margin), and a sample of the data's points to draw over it (the demo's decision-boundary figure).
 */
import * as tf from "@tensorflow/tfjs"
import { Effect, Schema } from "effect"
import type { ImageSet } from "../shared/data/types.ts"
import { defineStep } from "../shared/engine/step.ts"
import { BadConfig } from "../shared/errors.ts"
import { ModelSpec } from "../shared/models/spec.ts"
import { DatasetRef, PositiveInt, WeightsRef, getDataset, getWeights } from "../shared/schemas.ts"
import { finite, withModelOnBatch } from "../shared/train/tensors.ts"

export interface GridPlan {
  /** Cell centres along x and y, ascending. */
  readonly xs: number[]
  readonly ys: number[]
}

/** `resolution` centres per axis over the data's extent widened by `margin` of its span on each side. */
export const gridPlan = (set: Pick<ImageSet, "images" | "n">, resolution: number, margin = 0.1): GridPlan => {
  const axis = (offset: number) => {
    let lo = Infinity
    let hi = -Infinity
    for (let i = 0; i < set.n; i++) {
      const v = set.images[2 * i + offset]!
      if (v < lo) lo = v
      if (v > hi) hi = v
    }
    const pad = margin * (hi - lo || 1)
    const [a, b] = [lo - pad, hi + pad]
    const step = (b - a) / resolution
    return Array.from({ length: resolution }, (_, k) => a + (k + 0.5) * step)
  }
  return { xs: axis(0), ys: axis(1) }
}

/** The grid's cells as one input batch: cell (ix, iy) is sample iy × nx + ix, input [x, y]. */
export const gridInputs = (plan: GridPlan) => {
  const n = plan.xs.length * plan.ys.length
  const images = new Float32Array(2 * n)
  plan.ys.forEach((y, iy) =>
    plan.xs.forEach((x, ix) => {
      const i = iy * plan.xs.length + ix
      images[2 * i] = x
      images[2 * i + 1] = y
    })
  )
  return { images, n, height: 1, width: 2, channels: 1 }
}

export const decisionGrid = defineStep({
  name: "decision-grid",
  code: import.meta.url,
  input: Schema.Struct({
    model: ModelSpec,
    weights: WeightsRef,
    /** A 2-D (1 × 2 × 1), two-class dataset: the grid spans it, and its first `points` samples are drawn. */
    data: DatasetRef,
    /** Cells per axis. */
    resolution: PositiveInt,
    points: Schema.Int.check(Schema.isGreaterThanOrEqualTo(0)),
    backend: Schema.String
  }),
  output: Schema.Struct({
    xs: Schema.Array(Schema.Number),
    ys: Schema.Array(Schema.Number),
    /** P(second class) per cell, row-major (cell iy × xs.length + ix); null where the output was NaN/Inf. */
    probability: Schema.Array(Schema.NullOr(Schema.Number)),
    points: Schema.Array(Schema.Struct({ x: Schema.Number, y: Schema.Number, label: Schema.String, class: Schema.Int }))
  }),
  run: (input) =>
    Effect.gen(function* () {
      const { data: ref } = input
      if (ref.height * ref.width * ref.channels !== 2 || ref.classes !== 2) {
        return yield* new BadConfig({
          field: "decision-grid data",
          value: `${ref.height}×${ref.width}×${ref.channels} inputs, ${ref.classes} classes`,
          expected: "2-D inputs (1×2×1) and 2 classes, e.g. make-circles"
        })
      }
      const data = yield* getDataset(ref)
      const weights = yield* getWeights(input.weights)
      const plan = gridPlan(data, input.resolution)
      const probability = withModelOnBatch(input.model, weights, gridInputs(plan), (model, x) =>
        tf.tidy(() => Array.from((tf.softmax(model.apply(x, { training: false }) as tf.Tensor2D).slice([0, 1], [-1, 1]).dataSync())))
      ).map(finite)
      const label = (k: number) => data.classNames?.[k] ?? String(k)
      const points = Array.from({ length: Math.min(input.points, data.n) }, (_, i) => ({
        x: data.images[2 * i]!,
        y: data.images[2 * i + 1]!,
        label: label(data.labels[i]!),
        class: data.labels[i]!
      }))
      return { xs: plan.xs, ys: plan.ys, probability, points }
    })
})
