/**
 * Models as data: a `ModelSpec` names a factory and its options, so a step input can say which network to build (and
 * the cache key covers it). `buildModel` is the one place a spec becomes a tfjs model; every model outputs logits.
 */
import type * as tf from "@tensorflow/tfjs"
import { Schema } from "effect"
import { createCnn4 } from "./cnn4.ts"
import { createLeNet5 } from "./lenet.ts"
import { createMLP } from "./mlp.ts"
import { createResNet18 } from "./resnet.ts"
import { createResNetCifar } from "./resnet-cifar.ts"

export const Activation = Schema.Literals(["linear", "sigmoid", "tanh", "relu", "leakyRelu", "prelu", "elu", "wibRelu"])
export type Activation = typeof Activation.Type

const InputShape = Schema.Tuple([Schema.Int, Schema.Int, Schema.Int])

export const ModelSpec = Schema.Union([
  Schema.Struct({ arch: Schema.Literal("lenet5"), inputShape: InputShape, classes: Schema.Int, activation: Activation }),
  Schema.Struct({
    arch: Schema.Literal("resnet18"),
    inputShape: InputShape,
    classes: Schema.Int,
    batchNorm: Schema.Boolean,
    stem: Schema.Literals(["imagenet", "small"]),
    activation: Activation,
    /** Fixup's scalar biases and multipliers (shared/models/resnet.ts); absent (every older spec): the plain net. */
    fixup: Schema.optional(Schema.Boolean)
  }),
  Schema.Struct({
    arch: Schema.Literal("mlp"),
    inputShape: Schema.Array(Schema.Int),
    depth: Schema.Int,
    width: Schema.Int,
    /** Each hidden layer's units (depth entries, width their largest); absent: all `width` (shared/models/mlp.ts). */
    widths: Schema.optional(Schema.Array(Schema.Int)),
    classes: Schema.Int,
    activation: Activation
  }),
  Schema.Struct({ arch: Schema.Literal("cnn4"), inputShape: InputShape, classes: Schema.Int, activation: Activation }),
  /** He et al.'s CIFAR ResNets, depth 6n + 2 (shared/models/resnet-cifar.ts). */
  Schema.Struct({ arch: Schema.Literal("resnet-cifar"), inputShape: InputShape, classes: Schema.Int, depth: Schema.Int, activation: Activation })
])
export type ModelSpec = typeof ModelSpec.Type

export const buildModel = (spec: ModelSpec): tf.LayersModel => {
  switch (spec.arch) {
    case "lenet5":
      return createLeNet5(spec)
    case "resnet18":
      return createResNet18(spec)
    case "mlp":
      return createMLP(spec)
    case "cnn4":
      return createCnn4(spec)
    case "resnet-cifar":
      return createResNetCifar(spec)
  }
}
