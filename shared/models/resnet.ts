/**
 * ResNet18 (He et al. 2016), layer names as torchvision's so weights and results line up:
 *
 *   stem "imagenet":  conv1 7×7/2 pad 3 → bn1 → act → maxpool 3×3/2 pad 1     [224,224,3] → [56,56,64]
 *   stem "small":     conv1 3×3/1 pad 1 → bn1 → act                             [32,32,3]  → [32,32,64]
 *                     (the CIFAR/MNIST-size stem: no downsampling before layer1)
 *   layer1..layer4:   2 BasicBlocks each, 64/128/256/512 channels; the first block of layer2..4 has stride 2
 *                     and a 1×1 stride-2 shortcut conv `layerN.0.downsample` (+ `layerN.0.downsample.bn`)
 *   avgpool (global) → fc classes (logits)
 *
 * BasicBlock `layerN.i`:  conv1 3×3/s → bn1 → act1 → conv2 3×3/1 → bn2 → add(·, shortcut) → act2
 *
 * batchNorm: false removes every BN layer and gives every conv a bias. With BN the bias is redundant (BN subtracts
 * the channel mean and adds its own learned shift β), which is why PyTorch's ResNet convs have bias=False; without
 * BN nothing else can shift a channel, and LW needs that shift to make each layer's output mean 0.
 *
 * Parameter counts (measured in tests/models): small stem, 10 classes, with BN: 11,173,962 trainable (as the
 * usual PyTorch CIFAR ResNet18) + 9,600 BN running statistics; without BN: 11,169,162. ImageNet stem, 1000
 * classes, with BN: 11,689,512 trainable (torchvision's resnet18).
 *
 * Each block's shortcut is built before its branch, so the downsample conv comes before the block's convs in
 * forward order (weights.ts): the activation after the add — the target of the block's last conv — depends on it.
 *
 * fixup: true (batchNorm false) is Fixup's ResNet18 (Zhang, Dauphin & Ma 2019; the reference's
 * fixup_resnet_imagenet.py): convs without biases, and scalar parameters (./scalar.ts) named as the reference's:
 *
 *   stem:   conv1 → + bias1 → act (→ maxpool)
 *   block:  x' = x + bias1a;  shortcut = x, or downsample(x') (the 1×1 conv reads the same biased input)
 *           conv1(x') → + bias1b → act1 → + bias2a → conv2 → × scale → + bias2b → add(·, shortcut) → act2
 *   head:   avgpool → + bias2 → fc (with its bias)
 *
 * The initialization (zero branch ends and classifier, scaled branch starts) is shared/init's `fixup`; the scalars
 * start at 0 and 1 as built. Small stem, 10 classes: 11,164,404 trainable (tests/models/fixup.test.ts) — the no-BN
 * net's 11,169,162 less its 4,800 conv biases plus 42 scalars (5 per block, bias1 and bias2), as the reference's.
 */
import * as tf from "@tensorflow/tfjs"
import { activationLayer, type ActivationSpec } from "../init/activations.ts"
import { BadConfig } from "../errors.ts"
import { apply, batchNorm, conv2d, dense, maxPool } from "./layers.ts"
import { ScalarBias, ScalarScale } from "./scalar.ts"

export interface ResNet18Config {
  readonly inputShape: readonly [number, number, number]
  readonly classes: number
  readonly batchNorm: boolean
  readonly stem: "imagenet" | "small"
  /** ReLU, as the paper, unless told. */
  readonly activation?: ActivationSpec
  /** Fixup's scalar biases and multipliers (see above); needs batchNorm false. Absent: the plain network. */
  readonly fixup?: boolean
}

/** Channels per stage; 2 BasicBlocks each (ResNet18). */
const stages = [64, 128, 256, 512] as const
const blocksPerStage = 2

export const createResNet18 = (config: ResNet18Config): tf.LayersModel => {
  const { inputShape, classes, batchNorm: bn, stem, activation = "relu", fixup = false } = config
  if (fixup && bn) {
    throw new BadConfig({ field: "fixup", value: "true with batchNorm true", expected: "batchNorm: false (Fixup replaces BN)" })
  }
  const act = (x: tf.SymbolicTensor, name: string) => apply(activationLayer(activation, name), x)
  const norm = (x: tf.SymbolicTensor, name: string) => (bn ? batchNorm(x, name) : x)
  /** Fixup's scalar bias / multiplier; the identity in the plain network. */
  const bias = (x: tf.SymbolicTensor, name: string) => (fixup ? apply(new ScalarBias({ name }), x) : x)
  const scale = (x: tf.SymbolicTensor, name: string) => (fixup ? apply(new ScalarScale({ name }), x) : x)
  const convBias = !bn && !fixup

  const input = tf.input({ shape: [...inputShape], name: "input" })
  let x =
    stem === "imagenet"
      ? conv2d(input, { name: "conv1", filters: 64, kernel: 7, stride: 2, pad: 3, bias: convBias })
      : conv2d(input, { name: "conv1", filters: 64, kernel: 3, stride: 1, pad: 1, bias: convBias })
  x = act(bias(norm(x, "bn1"), "bias1"), "act")
  if (stem === "imagenet") x = maxPool(x, "maxpool", 3, 2, 1)

  let channels = 64
  stages.forEach((width, s) => {
    for (let b = 0; b < blocksPerStage; b++) {
      const name = `layer${s + 1}.${b}`
      const stride = s > 0 && b === 0 ? 2 : 1
      const biased = bias(x, `${name}.bias1a`)
      let shortcut = x
      if (stride !== 1 || channels !== width) {
        shortcut = conv2d(biased, { name: `${name}.downsample`, filters: width, kernel: 1, stride, pad: 0, bias: convBias })
        shortcut = norm(shortcut, `${name}.downsample.bn`)
      }
      let y = conv2d(biased, { name: `${name}.conv1`, filters: width, kernel: 3, stride, pad: 1, bias: convBias })
      y = act(bias(norm(y, `${name}.bn1`), `${name}.bias1b`), `${name}.act1`)
      y = conv2d(bias(y, `${name}.bias2a`), { name: `${name}.conv2`, filters: width, kernel: 3, stride: 1, pad: 1, bias: convBias })
      y = bias(scale(norm(y, `${name}.bn2`), `${name}.scale`), `${name}.bias2b`)
      x = act(apply(tf.layers.add({ name: `${name}.add` }), [y, shortcut]), `${name}.act2`)
      channels = width
    }
  })

  x = apply(tf.layers.globalAveragePooling2d({ name: "avgpool" }), x)
  const logits = dense(bias(x, "bias2"), "fc", classes)
  return tf.model({ inputs: input, outputs: logits, name: `resnet18-${stem}${bn ? "-bn" : ""}${fixup ? "-fixup" : ""}` })
}
