// LW on your own model: a functional tfjs model with a depthwise-separable block, learned on one batch.
import * as tf from "@tensorflow/tfjs"
import { learnInit } from "lwi"

const input = tf.input({ shape: [16, 16, 3] })
const stem = tf.layers.conv2d({ name: "stem", filters: 8, kernelSize: 3, padding: "same", activation: "relu" }).apply(input)
const dw = tf.layers.depthwiseConv2d({ name: "dw", kernelSize: 3, padding: "same" }).apply(stem)
const dwAct = tf.layers.reLU({ name: "dw.relu" }).apply(dw)
const pw = tf.layers.conv2d({ name: "pw", filters: 16, kernelSize: 1, activation: "relu" }).apply(dwAct)
const pooled = tf.layers.globalAveragePooling2d({ name: "pool" }).apply(pw)
const hidden = tf.layers.dense({ name: "hidden", units: 32, activation: "relu" }).apply(pooled)
const logits = tf.layers.dense({ name: "logits", units: 10 }).apply(hidden) as tf.SymbolicTensor
const model = tf.model({ inputs: input, outputs: logits })

// One batch of your training inputs (64 images here; random stand-ins for the example).
const batch = tf.randomNormal([64, 16, 16, 3], 0, 1, "float32", 42)

const report = await learnInit(model, batch, { backend: "wasm", seed: 0, log: console.log })
console.log(`${report.backend}: ${report.layers.filter((l) => l.status === "learned").length} layers learned in ${report.seconds.toFixed(1)} s`)
