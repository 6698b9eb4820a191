/** The training monitor's statistics against a hand computation, its plan on real models, and what it must not do. */
import { beforeAll, describe, expect, test } from "bun:test"
import * as tf from "@tensorflow/tfjs"
import type { ImageSet } from "../../shared/data/types.ts"
import { createLeNet5 } from "../../shared/models/lenet.ts"
import { createResNet18 } from "../../shared/models/resnet.ts"
import { type BatchMonitor, trainBatch, trainableVars } from "../../shared/train/loop.ts"
import { defaultMonitor, expectedInitialLoss, layerStatsTensor, monitorFor, monitorPlan, readStats, sampledAt } from "../../shared/train/monitor.ts"
import { makeOptimizer } from "../../shared/train/optim.ts"

beforeAll(async () => {
  tf.env().set("PROD", true)
  await tf.setBackend("cpu")
})

// Four 2-D samples as a [4, 1, 2, 1] image set (the circles' layout), two classes.
const xs = [
  [1, 2],
  [-1, 0.5],
  [0.3, -2],
  [2, 1]
]
const data: ImageSet = {
  images: Float32Array.from(xs.flat()),
  labels: Uint8Array.from([0, 1, 1, 0]),
  n: 4,
  height: 1,
  width: 2,
  channels: 1,
  classes: 2
}
const K1 = [
  [0.5, -1, 0.2],
  [1, 0.3, -0.4]
]
const K2 = [
  [1, -0.5],
  [0.2, 0.7],
  [-0.3, 1]
]

/**
 * input → flatten → fc1 (3, ReLU fused) → fc2 (2, linear) → fc2.act (ReLU layer) → fc3 (2): logits.
 * Both ways an activation can follow a layer, with weights set by hand.
 */
const tinyModel = (b1: number[]) => {
  const input = tf.input({ shape: [1, 2, 1] })
  let x = tf.layers.flatten({ name: "flatten" }).apply(input) as tf.SymbolicTensor
  x = tf.layers.dense({ name: "fc1", units: 3, activation: "relu" }).apply(x) as tf.SymbolicTensor
  x = tf.layers.dense({ name: "fc2", units: 2 }).apply(x) as tf.SymbolicTensor
  x = tf.layers.activation({ name: "fc2.act", activation: "relu" }).apply(x) as tf.SymbolicTensor
  const logits = tf.layers.dense({ name: "fc3", units: 2 }).apply(x) as tf.SymbolicTensor
  const model = tf.model({ inputs: input, outputs: logits })
  model.getLayer("fc1").setWeights([tf.tensor2d(K1), tf.tensor1d(b1)])
  model.getLayer("fc2").setWeights([tf.tensor2d(K2), tf.tensor1d([0.1, -0.2])])
  model.getLayer("fc3").setWeights([tf.tensor2d([[1, -1], [0.5, 0.25]]), tf.tensor1d([0, 0])])
  return model
}

const relu = (v: number) => Math.max(0, v)
const matmul = (a: number[][], b: number[][], bias: number[]) => a.map((row) => bias.map((bj, j) => row.reduce((s, v, k) => s + v * b[k]![j]!, bj)))
const meanOf = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length
const popVar = (v: number[]) => meanOf(v.map((x) => (x - meanOf(v)) ** 2))
const columnStd = (m: number[][], j: number) => Math.sqrt(popVar(m.map((r) => r[j]!)))

describe("layerStatsTensor", () => {
  test("whole-tensor moments, gradient moments and norm, and dead channels, as computed by hand", () => {
    // [2, 2, 1, 2]: channel 0 varies, channel 1 is the constant 3 (dead).
    const act = [1, 3, 4, 3, -2, 3, 0.5, 3]
    const grad = [0.1, -0.2, 0.3, 0.05]
    const stats = layerStatsTensor(tf.tensor4d(act, [2, 2, 1, 2]), tf.tensor2d(grad, [2, 2]), 1e-6)
    const [aMean, aVar, gMean, gVar, gNorm, dead] = stats.dataSync()
    stats.dispose()
    expect(aMean).toBeCloseTo(meanOf(act), 5)
    expect(aVar).toBeCloseTo(popVar(act), 5)
    expect(gMean).toBeCloseTo(meanOf(grad), 6)
    expect(gVar).toBeCloseTo(popVar(grad), 6)
    expect(gNorm).toBeCloseTo(Math.hypot(...grad), 6)
    expect(dead).toBe(0.5)
  })
})

describe("the monitor in trainBatch", () => {
  test("each layer's statistics match the hand computation and tf.variableGrads, before the update", () => {
    const model = tinyModel([0.1, -0.3, 0.2])
    const vars = trainableVars(model)
    const plan = monitorPlan(model)
    expect(plan.layers.map((l) => l.name)).toEqual(["fc1", "fc2", "fc3"])
    // The expected gradients, at the same weights, on the same batch.
    const x = tf.tensor4d(data.images as Float32Array, [4, 1, 2, 1])
    const y = tf.oneHot(tf.tensor1d(Array.from(data.labels), "int32"), 2)
    const { grads } = tf.variableGrads(() => tf.losses.softmaxCrossEntropy(y, model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar, vars)
    const kernelGrad = (layer: string) => {
      const kernel = model.getLayer(layer).weights.find((w) => w.originalName.endsWith("kernel"))!.read() as tf.Variable
      return Array.from(grads[kernel.name]!.dataSync())
    }
    const expectedGrads = Object.fromEntries(["fc1", "fc2", "fc3"].map((l) => [l, kernelGrad(l)]))
    tf.dispose([x, y, ...Object.values(grads)])

    const optimizer = makeOptimizer({ kind: "sgd", momentum: 0, weightDecay: 0 }, vars)
    const r = trainBatch(model, vars, optimizer, data, [0, 1, 2, 3], 0.1, { plan, deadThreshold: 1e-6 })
    const h1 = matmul(xs, K1, [0.1, -0.3, 0.2]).map((row) => row.map(relu))
    const h2 = matmul(h1, K2, [0.1, -0.2]).map((row) => row.map(relu))
    const sample = Object.fromEntries(r.layers!.map((l) => [l.layer, l]))
    expect(sample.fc1!.activationMean).toBeCloseTo(meanOf(h1.flat()), 5)
    expect(sample.fc1!.activationVar).toBeCloseTo(popVar(h1.flat()), 5)
    // fc2's activation is the separate ReLU layer's output, not fc2's linear output.
    expect(sample.fc2!.activationMean).toBeCloseTo(meanOf(h2.flat()), 5)
    expect(sample.fc2!.activationVar).toBeCloseTo(popVar(h2.flat()), 5)
    for (const l of ["fc1", "fc2", "fc3"]) {
      const g = expectedGrads[l]!
      expect(sample[l]!.gradNorm).toBeCloseTo(Math.hypot(...g), 5)
      expect(sample[l]!.gradMean).toBeCloseTo(meanOf(g), 6)
      expect(sample[l]!.gradVar).toBeCloseTo(popVar(g), 6)
    }
    const deadByHand = (m: number[][]) => [0, 1, 2].slice(0, m[0]!.length).filter((j) => columnStd(m, j) < 1e-6).length / m[0]!.length
    expect(sample.fc1!.deadShare).toBe(deadByHand(h1))
    expect(sample.fc2!.deadShare).toBe(deadByHand(h2))
    optimizer.dispose()
    model.dispose()
  })

  test("a ReLU layer whose bias is forced very negative is all dead; one such unit of three is a third", () => {
    for (const [b1, share] of [
      [[-100, -100, -100], 1],
      [[-100, 0.5, 0.5], 1 / 3]
    ] as const) {
      const model = tinyModel([...b1])
      const vars = trainableVars(model)
      const optimizer = makeOptimizer({ kind: "sgd", momentum: 0, weightDecay: 0 }, vars)
      const r = trainBatch(model, vars, optimizer, data, [0, 1, 2, 3], 0.1, { plan: monitorPlan(model), deadThreshold: 1e-6 })
      expect(r.layers!.find((l) => l.layer === "fc1")!.deadShare).toBeCloseTo(share, 6)
      optimizer.dispose()
      model.dispose()
    }
  })

  test("monitoring changes nothing in training: the same weights to the last bit", () => {
    const run = (monitored: boolean) => {
      const model = tinyModel([0.1, -0.3, 0.2])
      const vars = trainableVars(model)
      const optimizer = makeOptimizer({ kind: "sgd", momentum: 0.9, weightDecay: 0 }, vars)
      const monitor: BatchMonitor | undefined = monitored ? { plan: monitorPlan(model), deadThreshold: 1e-6 } : undefined
      const losses = Array.from({ length: 5 }, (_, s) => trainBatch(model, vars, optimizer, data, s % 2 ? [0, 1] : [2, 3], 0.1, monitor).loss)
      const weights = vars.map((v) => Array.from(v.dataSync()))
      optimizer.dispose()
      model.dispose()
      return { losses, weights }
    }
    expect(run(true)).toEqual(run(false))
  })

  test("no tensors leak across monitored steps", () => {
    const model = tinyModel([0.1, -0.3, 0.2])
    const vars = trainableVars(model)
    const optimizer = makeOptimizer({ kind: "sgd", momentum: 0.9, weightDecay: 0 }, vars)
    const monitor = { plan: monitorPlan(model), deadThreshold: 1e-6 }
    trainBatch(model, vars, optimizer, data, [0, 1, 2, 3], 0.1, monitor) // warm-up: tfjs caches a few constants
    const before = tf.memory().numTensors
    for (let s = 0; s < 5; s++) trainBatch(model, vars, optimizer, data, [0, 1, 2, 3], 0.1, s % 2 ? monitor : undefined)
    expect(tf.memory().numTensors).toBe(before)
    optimizer.dispose()
    model.dispose()
  })
})

describe("monitorPlan and the schedule", () => {
  test("LeNet-5: every conv/dense layer in forward order, each read at its activation layer; the classifier at the logits", () => {
    const model = createLeNet5({ inputShape: [28, 28, 1], classes: 10 })
    const plan = monitorPlan(model)
    expect(plan.layers.map((l) => l.name)).toEqual(["conv1", "conv2", "fc1", "fc2", "fc3"])
    const site = (name: string) => plan.model.outputs[plan.layers.find((l) => l.name === name)!.output]
    expect(site("conv1")).toBe(model.getLayer("conv1.act").output as tf.SymbolicTensor)
    expect(site("fc2")).toBe(model.getLayer("fc2.act").output as tf.SymbolicTensor)
    expect(site("fc3")).toBe(model.outputs[0])
    // Reading the [layers, 6] values back names each row.
    expect(readStats(plan, Float32Array.from({ length: 30 }, (_, i) => i))[1]).toEqual({
      layer: "conv2", activationMean: 6, activationVar: 7, gradMean: 8, gradVar: 9, gradNorm: 10, deadShare: 11
    })
    model.dispose()
  })

  test("ResNet18 with BN: a block's conv1 is read after bn1 → act1; its conv2 and downsample after the add, at act2", () => {
    const model = createResNet18({ inputShape: [16, 16, 1], classes: 10, batchNorm: true, stem: "small" })
    const plan = monitorPlan(model)
    expect(plan.layers).toHaveLength(21) // 17 convs + 3 downsamples + the classifier
    const site = (name: string) => plan.model.outputs[plan.layers.find((l) => l.name === name)!.output]
    expect(site("conv1")).toBe(model.getLayer("act").output as tf.SymbolicTensor)
    expect(site("layer2.0.conv1")).toBe(model.getLayer("layer2.0.act1").output as tf.SymbolicTensor)
    expect(site("layer2.0.conv2")).toBe(model.getLayer("layer2.0.act2").output as tf.SymbolicTensor)
    // One output for the two layers that share it.
    expect(plan.layers.find((l) => l.name === "layer2.0.downsample")!.output).toBe(plan.layers.find((l) => l.name === "layer2.0.conv2")!.output)
    model.dispose()
  })

  test("sampled every K steps from step 0; the uninformed loss is ln C", () => {
    expect([0, 1, 49, 50, 100].map((s) => sampledAt(s, 50))).toEqual([true, false, false, true, true])
    expect(expectedInitialLoss(10)).toBeCloseTo(2.302585, 6)
  })

  test("the default K follows the run's length: ~200 samples, every 20 steps at the densest, every 50 at the sparsest", () => {
    expect([32, 2_000, 9_300, 1_000_000].map((steps) => monitorFor(steps).every)).toEqual([20, 20, 47, 50])
    expect(monitorFor(9_300).deadThreshold).toBe(defaultMonitor.deadThreshold)
  })
})
