/**
 * CIFAR-style ResNets (He et al. 2016, §4.2): depth 6n + 2 — ResNet20 (n = 3), ResNet56 (n = 9), ResNet110 (n = 18).
 *
 *   conv1 3×3/1 16 → bn1 → act                                     [32,32,C] → [32,32,16]   (28 px: 28 → 28)
 *   stage1..stage3: n BasicBlocks each, 16/32/64 filters; the first block of stage2 and stage3 has stride 2
 *                                                                  [32,32,16] → [16,16,32] → [8,8,64]
 *   avgpool (global) → fc classes (logits)
 *
 * BasicBlock `stageS.i`:  conv1 3×3/s → bn1 → act1 → conv2 3×3/1 → bn2 → add(·, shortcut) → act2
 *
 * Shortcuts are option B of He et al. (projection where the shape changes, identity elsewhere): a 1×1 stride-2 conv
 * `stageS.0.downsample` + BN at the two stage transitions. The paper's CIFAR nets use option A (identity with zero
 * padding for the new channels, no parameters); B is built from the layers lwi's backends, init and LW already
 * handle, and costs 2 convs of 512 and 2,048 weights (+ BN) — ResNet20 with 10 classes and RGB input has 272,474
 * trainable parameters here against the paper's 0.27 M (option A: 269,722). Convs have no bias (BN's shift is the
 * bias), as in the paper's torch code.
 */
import * as tf from "@tensorflow/tfjs"
import { activationLayer, type ActivationSpec } from "../init/activations.ts"
import { apply, batchNorm, conv2d, dense } from "./layers.ts"

export interface ResNetCifarConfig {
  readonly inputShape: readonly [number, number, number]
  readonly classes: number
  /** 6n + 2 with n ≥ 1: 20, 32, 44, 56, 110, ... */
  readonly depth: number
  /** ReLU, as the paper, unless told. */
  readonly activation?: ActivationSpec
}

/** Filters per stage (the paper's 16/32/64). */
const stages = [16, 32, 64] as const

/** Blocks per stage for a depth of 6n + 2; a RangeError naming the valid depths otherwise. */
export const blocksPerStage = (depth: number): number => {
  const n = (depth - 2) / 6
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`a CIFAR ResNet's depth is 6n + 2 (20, 32, 44, 56, 110, ...), got ${depth}`)
  return n
}

export const createResNetCifar = (config: ResNetCifarConfig): tf.LayersModel => {
  const { inputShape, classes, depth, activation = "relu" } = config
  const n = blocksPerStage(depth)
  const act = (x: tf.SymbolicTensor, name: string) => apply(activationLayer(activation, name), x)

  const input = tf.input({ shape: [...inputShape], name: "input" })
  let x = conv2d(input, { name: "conv1", filters: stages[0], kernel: 3, stride: 1, pad: 1, bias: false })
  x = act(batchNorm(x, "bn1"), "act")

  let channels: number = stages[0]
  stages.forEach((width, s) => {
    for (let b = 0; b < n; b++) {
      const name = `stage${s + 1}.${b}`
      const stride = s > 0 && b === 0 ? 2 : 1
      let shortcut = x
      // Built before the branch, as resnet.ts: the downsample conv precedes the block's convs in forward order.
      if (stride !== 1 || channels !== width) {
        shortcut = conv2d(x, { name: `${name}.downsample`, filters: width, kernel: 1, stride, pad: 0, bias: false })
        shortcut = batchNorm(shortcut, `${name}.downsample.bn`)
      }
      let y = conv2d(x, { name: `${name}.conv1`, filters: width, kernel: 3, stride, pad: 1, bias: false })
      y = act(batchNorm(y, `${name}.bn1`), `${name}.act1`)
      y = conv2d(y, { name: `${name}.conv2`, filters: width, kernel: 3, stride: 1, pad: 1, bias: false })
      y = batchNorm(y, `${name}.bn2`)
      x = act(apply(tf.layers.add({ name: `${name}.add` }), [y, shortcut]), `${name}.act2`)
      channels = width
    }
  })

  x = apply(tf.layers.globalAveragePooling2d({ name: "avgpool" }), x)
  const logits = dense(x, "fc", classes)
  return tf.model({ inputs: input, outputs: logits, name: `resnet${depth}-cifar` })
}
