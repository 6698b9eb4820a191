/**
 * Models as data: a `ModelSpec` names a factory and its options, so a step input can say which network to build
 * (and the cache key covers it). `buildModel` is the one place a spec becomes a tfjs model; every model outputs
 * logits.
 */
import * as tf from "@tensorflow/tfjs"
import { Schema } from "effect"

export const Activation = Schema.Literals(["sigmoid", "tanh", "relu", "elu", "leakyRelu", "linear"])
export type Activation = typeof Activation.Type

export const MlpSpec = Schema.Struct({
  arch: Schema.Literal("mlp"),
  inputShape: Schema.Array(Schema.Int),
  hidden: Schema.Array(Schema.Int),
  activation: Activation,
  classes: Schema.Int
})

export const ModelSpec = Schema.Union([MlpSpec])
export type ModelSpec = typeof ModelSpec.Type

const tfActivation = (a: Activation) => (a === "leakyRelu" ? "linear" : a) as "relu"

/** Builds the model a spec describes. Layer names are stable: `fc1`, `fc2`, ... (the last is the decision layer). */
export const buildModel = (spec: ModelSpec): tf.LayersModel => {
  switch (spec.arch) {
    case "mlp": {
      const model = tf.sequential({ name: "mlp" })
      model.add(tf.layers.flatten({ inputShape: [...spec.inputShape], name: "flatten" }))
      spec.hidden.forEach((width, i) => {
        model.add(tf.layers.dense({ units: width, activation: tfActivation(spec.activation), name: `fc${i + 1}` }))
        if (spec.activation === "leakyRelu") model.add(tf.layers.leakyReLU({ alpha: 0.01, name: `act${i + 1}` }))
      })
      model.add(tf.layers.dense({ units: spec.classes, name: `fc${spec.hidden.length + 1}` }))
      return model
    }
  }
}
