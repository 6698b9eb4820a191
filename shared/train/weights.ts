/** Whole-model weights as named arrays: the bridge between shared/models' weights and stored artifacts. */
import type * as tf from "@tensorflow/tfjs"
import type { NamedArray } from "../engine/arrays.ts"
import { loadWeights, serializeWeights } from "../models/weights.ts"

export const readWeights = (model: tf.LayersModel): Record<string, NamedArray> =>
  Object.fromEntries(serializeWeights(model).map((w) => [w.name, { dtype: "float32", shape: w.shape, data: w.data }]))

export const writeWeights = (model: tf.LayersModel, arrays: Readonly<Record<string, NamedArray>>): void =>
  loadWeights(
    model,
    Object.entries(arrays).map(([name, a]) => ({
      name,
      shape: a.shape,
      data: a.data instanceof Float32Array ? a.data : Float32Array.from(a.data)
    }))
  )
