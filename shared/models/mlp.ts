/**
 * A plain MLP (deep-net init studies use 50 × 512 on MNIST):
 *
 *   input → flatten → [fc_i width → act] for i = 1..depth → fc_{depth+1} classes (logits)
 *
 * `depth` counts the hidden layers; the output layer is `fc{depth+1}`. Logits, as every factory here.
 */
import * as tf from "@tensorflow/tfjs"
import { activationLayer, type ActivationSpec } from "../init/activations.ts"
import { apply, dense } from "./layers.ts"

export interface MlpConfig {
  readonly inputShape: readonly number[]
  /** Hidden layers. */
  readonly depth: number
  /** Units per hidden layer. */
  readonly width: number
  readonly classes: number
  readonly activation?: ActivationSpec
}

export const createMLP = ({ inputShape, depth, width, classes, activation = "relu" }: MlpConfig): tf.LayersModel => {
  if (!(Number.isInteger(depth) && depth >= 0)) throw new RangeError(`createMLP: depth must be an integer ≥ 0, got ${depth}`)
  const input = tf.input({ shape: [...inputShape], name: "input" })
  let x = inputShape.length > 1 ? apply(tf.layers.flatten({ name: "flatten" }), input) : input
  for (let i = 1; i <= depth; i++) x = apply(activationLayer(activation, `fc${i}.act`), dense(x, `fc${i}`, width))
  const logits = dense(x, `fc${depth + 1}`, classes)
  return tf.model({ inputs: input, outputs: logits, name: `mlp${depth}x${width}` })
}
