/** Small tensor helpers the steps share. */
import * as tf from "@tensorflow/tfjs"
import type { ImageSet } from "../data/types.ts"
import { type ModelSpec, buildModel } from "../models/spec.ts"

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
