/**
 * Whole-model weights as named arrays (for checkpoints and artifacts) and initialization of every kernel of a model.
 * Names are `<index>:<weight name>` in `model.weights` order, so two models built by the same factory line up even
 * when tfjs uniquifies layer names with suffixes.
 */
import * as tf from "@tensorflow/tfjs"
import type { NamedArray } from "../engine/arrays.ts"
import { type InitConfig, initialize } from "../init/initializers.ts"

const slot = (i: number, name: string) => `${String(i).padStart(4, "0")}:${name}`

export const readWeights = (model: tf.LayersModel): Record<string, NamedArray> => {
  const out: Record<string, NamedArray> = {}
  model.weights.forEach((w, i) => {
    const v = w.read()
    out[slot(i, w.originalName)] = { dtype: "float32", shape: v.shape, data: v.dataSync() as Float32Array }
  })
  return out
}

export const writeWeights = (model: tf.LayersModel, arrays: Readonly<Record<string, NamedArray>>): void => {
  const names = Object.keys(arrays).sort()
  if (names.length !== model.weights.length) {
    throw new RangeError(`weights: the model has ${model.weights.length} tensors, the artifact ${names.length}`)
  }
  model.weights.forEach((w, i) => {
    const a = arrays[slot(i, w.originalName)]
    if (!a) throw new RangeError(`weights: no value for ${slot(i, w.originalName)}`)
    if (a.shape.join("x") !== w.shape.join("x")) {
      throw new RangeError(`weights: ${w.originalName} has shape [${w.shape}], the artifact [${a.shape}]`)
    }
    const value = tf.tensor(a.data as Float32Array, [...a.shape])
    w.write(value)
    value.dispose()
  })
}

/**
 * Draws every conv/dense kernel from `config` (seeded per layer) and zeroes their biases; BN and other weights keep
 * the factory's values. `last`, when given, initializes the final decision layer instead (the thesis keeps it
 * standard: PyTorch's default for Linear is U(±1/√fanIn), our "heuristic").
 */
export const initializeModel = (
  model: tf.LayersModel,
  config: InitConfig,
  seed: number,
  options: { last?: InitConfig } = {}
): void => {
  const layers = model.layers.filter((l) => /^(Conv2D|Dense)$/.test(l.getClassName()))
  layers.forEach((layer, i) => {
    const [kernel, bias] = layer.getWeights()
    if (!kernel) return
    const chosen = i === layers.length - 1 && options.last ? options.last : config
    const values = initialize(chosen, kernel.shape, seed * 7919 + i)
    const next = [tf.tensor(values, kernel.shape)]
    if (bias) next.push(tf.zerosLike(bias))
    layer.setWeights(next)
    for (const t of next) t.dispose()
  })
}
