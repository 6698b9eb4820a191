/** Small tensor helpers the steps share. */
import * as tf from "@tensorflow/tfjs"
import type { ImageSet } from "../data/types.ts"
import type { NamedArray } from "../engine/arrays.ts"
import { withPlaceholderWeights } from "../models/layers.ts"
import { type ModelSpec, buildModel } from "../models/spec.ts"
import { writeWeights } from "./weights.ts"

/** The whole set's inputs as one NHWC float tensor (the caller disposes it). */
export const batchTensor = (set: Pick<ImageSet, "images" | "n" | "height" | "width" | "channels">): tf.Tensor4D =>
  tf.tensor4d(Float32Array.from(set.images), [set.n, set.height, set.width, set.channels])

/** Builds the model, runs `f`, disposes the model whatever happens. */
export const withModel = <A>(spec: ModelSpec, f: (model: tf.LayersModel) => A): A => {
  const model = buildModel(spec)
  try {
    return f(model)
  } finally {
    model.dispose()
  }
}

/** JSON has no NaN/Inf: a non-finite statistic is stored as null (and reported as such). */
export const finite = (x: number): number | null => (Number.isFinite(x) ? x : null)

/** Builds the model holding `weights` (no initial draw: they replace it), runs `f`, disposes the model. */
export const withModelWeights = <A>(
  spec: ModelSpec,
  weights: Readonly<Record<string, NamedArray>>,
  f: (model: tf.LayersModel) => A
): A => {
  const model = withPlaceholderWeights(() => buildModel(spec))
  try {
    writeWeights(model, weights)
    return f(model)
  } finally {
    model.dispose()
  }
}

/** Builds the model with `weights`, runs `f` on it and the set's inputs as one tensor, disposes both. */
export const withModelOnBatch = <A>(
  spec: ModelSpec,
  weights: Readonly<Record<string, NamedArray>>,
  set: Pick<ImageSet, "images" | "n" | "height" | "width" | "channels">,
  f: (model: tf.LayersModel, x: tf.Tensor4D) => A
): A =>
  withModelWeights(spec, weights, (model) => {
    const x = batchTensor(set)
    try {
      return f(model, x)
    } finally {
      x.dispose()
    }
  })

/** Layer statistics with NaN/Inf as null, for JSON. */
export const finiteStats = (s: { outputMean: number; outputVar: number; activationMean: number; activationVar: number }) => ({
  outputMean: finite(s.outputMean),
  outputVar: finite(s.outputVar),
  activationMean: finite(s.activationMean),
  activationVar: finite(s.activationVar)
})
