/**
 * The 4-conv CNN (every conv halves the resolution; no pooling until the end):
 *
 *   conv1  8 @ 5×5 stride 2 pad 2 → act     [28,28,1] → [14,14,8]
 *   conv2 16 @ 3×3 stride 2 pad 1 → act     → [7,7,16]
 *   conv3 32 @ 3×3 stride 2 pad 1 → act     → [4,4,32]
 *   conv4 64 @ 3×3 stride 2 pad 1 → act     → [2,2,64]
 *   avgpool (global, PyTorch's AdaptiveAvgPool2d(1)) → [64]
 *   fc 64 → classes (logits)
 *
 * Stride-2 convs with PyTorch padding use explicit pad layers (`conv1.pad` ...): see layers.ts.
 */
import * as tf from "@tensorflow/tfjs"
import { activationLayer, type ActivationSpec } from "../init/activations.ts"
import { apply, conv2d, dense } from "./layers.ts"

export interface Cnn4Config {
  readonly inputShape: readonly [number, number, number]
  readonly classes: number
  readonly activation?: ActivationSpec
}

export const createCnn4 = ({ inputShape, classes, activation = "relu" }: Cnn4Config): tf.LayersModel => {
  const input = tf.input({ shape: [...inputShape], name: "input" })
  const convs = [
    { name: "conv1", filters: 8, kernel: 5, pad: 2 },
    { name: "conv2", filters: 16, kernel: 3, pad: 1 },
    { name: "conv3", filters: 32, kernel: 3, pad: 1 },
    { name: "conv4", filters: 64, kernel: 3, pad: 1 }
  ]
  let x = input
  for (const c of convs) {
    x = conv2d(x, { ...c, stride: 2, bias: true })
    x = apply(activationLayer(activation, `${c.name}.act`), x)
  }
  x = apply(tf.layers.globalAveragePooling2d({ name: "avgpool" }), x)
  const logits = dense(x, "fc", classes)
  return tf.model({ inputs: input, outputs: logits, name: "cnn4" })
}
