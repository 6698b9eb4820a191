/**
 * LeNet-5 (LeCun et al. 1998), in the modern form used for MNIST:
 *
 *   input [h, w, c]
 *   conv1  6 @ 5×5, pad 2 ('same')   → act → pool1 2×2   [28,28,1] → [28,28,6] → [14,14,6]
 *   conv2 16 @ 5×5, valid            → act → pool2 2×2   → [10,10,16] → [5,5,16]
 *   flatten                                              → [400]
 *   fc1 120 → act, fc2 84 → act, fc3 classes (logits)
 *
 * Outputs are LOGITS (no softmax): pair them with `tf.losses.softmaxCrossEntropy` (numerically stable) and apply
 * `tf.softmax` only to read probabilities. 61,706 parameters for a 28×28×1 input and 10 classes, as PyTorch.
 * Activation layers are named `<layer>.act`.
 */
import * as tf from "@tensorflow/tfjs"
import { activationLayer, type ActivationSpec } from "../init/activations.ts"
import { apply, conv2d, dense } from "./layers.ts"

export interface LeNet5Config {
  readonly inputShape: readonly [number, number, number]
  readonly classes: number
  /** ReLU unless told: the activation the LW experiments compare others against. */
  readonly activation?: ActivationSpec
}

export const createLeNet5 = ({ inputShape, classes, activation = "relu" }: LeNet5Config): tf.LayersModel => {
  const input = tf.input({ shape: [...inputShape], name: "input" })
  const act = (x: tf.SymbolicTensor, after: string) => apply(activationLayer(activation, `${after}.act`), x)
  let x = conv2d(input, { name: "conv1", filters: 6, kernel: 5, stride: 1, pad: 2, bias: true })
  x = act(x, "conv1")
  x = apply(tf.layers.maxPooling2d({ name: "pool1", poolSize: 2, strides: 2 }), x)
  x = conv2d(x, { name: "conv2", filters: 16, kernel: 5, stride: 1, pad: 0, bias: true })
  x = act(x, "conv2")
  x = apply(tf.layers.maxPooling2d({ name: "pool2", poolSize: 2, strides: 2 }), x)
  x = apply(tf.layers.flatten({ name: "flatten" }), x)
  x = act(dense(x, "fc1", 120), "fc1")
  x = act(dense(x, "fc2", 84), "fc2")
  const logits = dense(x, "fc3", classes)
  return tf.model({ inputs: input, outputs: logits, name: "lenet5" })
}
