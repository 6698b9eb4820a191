/**
 * Nested models (a tf.Sequential and a functional model used as layers of another) are walked into: their layers
 * are named by path, learned where they sit (the activation may lie outside the sub-model), and the learned
 * weights land in the user's own nested layers. A layer or sub-model applied twice is refused by name.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import * as tf from "@tensorflow/tfjs"
import { defaultInitConfigs } from "../../shared/init/initializers.ts"
import { defaultLwConfig } from "../../shared/lw/config.ts"
import { layerStats, learnModelInit, lwLayerNames } from "../../shared/lw/greedy.ts"
import { SharedLayer } from "../../shared/models/errors.ts"
import { applyInit, createLeNet5, forwardTo, getLayerWeights, learnableLayers, loadWeights, serializeWeights } from "../../shared/models/index.ts"
import { requiring } from "../requirements.ts"
import { blobBatch } from "./fixtures.ts"

const withTorch = await requiring("torch")

beforeAll(async () => {
  await tf.setBackend("cpu")
})
afterAll(async () => {
  await tf.setBackend("cpu")
})

/**
 * input [10, 10, 3] → block1 (Sequential: conv 3×3 → relu "act") → block2 (functional: depthwise 3×3 ×2 → BN
 * "bn", no activation inside) → relu "act2" (outside block2) → flatten → dense "head".
 */
const nestedModel = (): tf.LayersModel => {
  const block1 = tf.sequential({
    name: "block1",
    layers: [tf.layers.conv2d({ inputShape: [10, 10, 3], filters: 4, kernelSize: 3, padding: "same", name: "conv" }), tf.layers.reLU({ name: "act" })]
  })
  const inner = tf.input({ shape: [10, 10, 4] })
  const dw = tf.layers.depthwiseConv2d({ kernelSize: 3, depthMultiplier: 2, strides: 2, padding: "same", name: "dw" }).apply(inner) as tf.SymbolicTensor
  const block2 = tf.model({ inputs: inner, outputs: tf.layers.batchNormalization({ name: "bn" }).apply(dw) as tf.SymbolicTensor, name: "block2" })
  const input = tf.input({ shape: [10, 10, 3] })
  let x = block2.apply(block1.apply(input) as tf.SymbolicTensor) as tf.SymbolicTensor
  x = tf.layers.reLU({ name: "act2" }).apply(x) as tf.SymbolicTensor
  x = tf.layers.flatten({ name: "flat" }).apply(x) as tf.SymbolicTensor
  return tf.model({ inputs: input, outputs: tf.layers.dense({ units: 3, name: "head" }).apply(x) as tf.SymbolicTensor, name: "nested" })
}

const same = (a: Float32Array, b: Float32Array) => expect(Array.from(a)).toEqual(Array.from(b))

describe("a model with a nested Sequential and a nested functional model", () => {
  test("its layers are listed by path, with the activation found across the sub-model's boundary", () => {
    const m = nestedModel()
    const ls = learnableLayers(m)
    expect(ls.map((l) => l.name)).toEqual(["block1/conv", "block2/dw", "head"])
    expect(ls.map((l) => l.activation)).toEqual(["block1/act", "act2", undefined])
    expect(ls.map((l) => l.className)).toEqual(["Conv2D", "DepthwiseConv2D", "Dense"])
    expect(ls[1]!.units).toBe(8)
    expect(ls[1]!.fanIn).toBe(9) // a depthwise filter sees one channel: 3×3
    expect(lwLayerNames(m)).toEqual(["block1/conv", "block2/dw"])
    m.dispose()
  })

  test("weights are named by path: serialize/load round-trips, applyInit and forwardTo reach the inner layers", () => {
    const m = nestedModel()
    const x = blobBatch(4, 10, 10, 3, 3)
    const tensors = tf.memory().numTensors
    expect(applyInit(m, defaultInitConfigs.kaimingNormal, { seed: 2 })).toEqual(["block1/conv", "block2/dw", "head"])
    const ws = serializeWeights(m)
    expect(ws.map((w) => w.name)).toEqual([
      "block1/conv/kernel",
      "block1/conv/bias",
      "block2/dw/depthwise_kernel",
      "block2/dw/bias",
      "block2/bn/gamma",
      "block2/bn/beta",
      "block2/bn/moving_mean",
      "block2/bn/moving_variance",
      "head/kernel",
      "head/bias"
    ])
    const other = nestedModel()
    loadWeights(other, ws)
    serializeWeights(other).forEach((w, i) => same(w.data, ws[i]!.data))
    const f = forwardTo(m, "block2/dw", x)
    expect(f.output.shape).toEqual([4, 5, 5, 8])
    expect(f.between).toEqual(["block2/bn"])
    tf.dispose([f.input, f.output, f.activation!, ...(f.shortcut ? [f.shortcut] : [])])
    other.dispose()
    expect(tf.memory().numTensors).toBe(tensors)
    m.dispose()
    x.dispose()
  })

  const learns = () => {
    const m = nestedModel()
    const [batch, heldOut] = [blobBatch(64, 10, 10, 3, 1), blobBatch(64, 10, 10, 3, 2)]
    const tensors = tf.memory().numTensors
    const log: string[] = []
    const result = learnModelInit(m, batch, defaultLwConfig, { seed: 4, log: (l) => log.push(l) })
    expect(tf.memory().numTensors).toBe(tensors) // the flat view was a copy, and it is gone
    expect(result.layers.map((l) => [l.name, l.reached])).toEqual([
      ["block1/conv", true],
      ["block2/dw", true]
    ])
    expect(result.skipped.map((s) => s.layer)).toEqual(["block2/bn", "head"])
    expect(log.filter((l) => l.includes("skipped")).length).toBe(2)
    // The user's own nested layers hold what was learned.
    const block1 = m.getLayer("block1") as tf.LayersModel
    same(block1.getLayer("conv").getWeights()[0]!.dataSync() as Float32Array, result.weights.find((w) => w.name === "block1/conv/kernel")!.data)
    same(getLayerWeights(m, "block2/dw")[0]!.data, result.weights.find((w) => w.name === "block2/dw/depthwise_kernel")!.data)
    const held = layerStats(m, heldOut)
    expect(held.map((s) => s.name)).toEqual(["block1/conv", "block2/dw", "head"])
    for (const s of held.slice(0, 2)) {
      console.log(`  ${tf.getBackend().padEnd(5)} ${s.name.padEnd(12)} held-out output mean ${s.outputMean.toFixed(4)}, activation variance ${s.activationVar.toFixed(4)}`)
      expect(Math.abs(s.outputMean)).toBeLessThan(0.1)
      expect(Math.abs(s.activationVar - 1)).toBeLessThan(0.15)
    }
    m.dispose()
    tf.dispose([batch, heldOut])
  }
  test("LW learns the inner layers to their targets on held-out data (cpu)", learns, 120_000)
  withTorch(
    "LW learns the inner layers to their targets on held-out data (torch)",
    async () => {
      await tf.setBackend("torch")
      try {
        learns()
      } finally {
        await tf.setBackend("cpu")
      }
    },
    120_000
  )
})

describe("a factory model nested in a wrapper", () => {
  test("LW's problem for each layer is exactly the one of the model itself (LeNet-5 inside a functional wrapper)", () => {
    // Learned weights differ by design: a layer's starting draw is seeded by its name, here its path.
    const batch = blobBatch(8, 28, 28, 1, 9)
    const plain = createLeNet5({ inputShape: [28, 28, 1], classes: 10 })
    const inner = createLeNet5({ inputShape: [28, 28, 1], classes: 10 })
    loadWeights(inner, serializeWeights(plain))
    const input = tf.input({ shape: [28, 28, 1] })
    const wrapper = tf.model({ inputs: input, outputs: inner.apply(input) as tf.SymbolicTensor, name: "wrapper" })
    expect(lwLayerNames(wrapper)).toEqual(lwLayerNames(plain).map((n) => `lenet5/${n}`))
    const [a, b] = [layerStats(plain, batch), layerStats(wrapper, batch)]
    expect(b.map((s) => s.name)).toEqual(a.map((s) => `lenet5/${s.name}`))
    b.forEach((s, i) => expect({ ...s, name: a[i]!.name }).toEqual(a[i]!))
    for (const m of [plain, wrapper]) m.dispose()
    batch.dispose()
  })
})

describe("shared layers are refused by name", () => {
  test("a Dense applied twice", () => {
    const input = tf.input({ shape: [6] })
    const shared = tf.layers.dense({ units: 6, name: "shared" })
    let x = tf.layers.reLU().apply(shared.apply(input) as tf.SymbolicTensor) as tf.SymbolicTensor
    x = tf.layers.reLU().apply(shared.apply(x) as tf.SymbolicTensor) as tf.SymbolicTensor
    const m = tf.model({ inputs: input, outputs: tf.layers.dense({ units: 2, name: "head" }).apply(x) as tf.SymbolicTensor, name: "twice" })
    const batch = tf.randomNormal([8, 6], 0, 1, "float32", 1)
    const tensors = tf.memory().numTensors
    let error: unknown
    try {
      learnModelInit(m, batch, defaultLwConfig, { seed: 1 })
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(SharedLayer)
    expect((error as SharedLayer).layer).toBe("shared")
    expect((error as SharedLayer).message).toContain('"shared"')
    expect(tf.memory().numTensors).toBe(tensors)
    m.dispose()
    batch.dispose()
  })

  test("a sub-model applied twice", () => {
    const block = tf.sequential({ name: "block", layers: [tf.layers.dense({ inputShape: [6], units: 6, name: "d" }), tf.layers.reLU({ name: "a" })] })
    const input = tf.input({ shape: [6] })
    const x = block.apply(block.apply(input) as tf.SymbolicTensor) as tf.SymbolicTensor
    const m = tf.model({ inputs: input, outputs: tf.layers.dense({ units: 2, name: "head" }).apply(x) as tf.SymbolicTensor, name: "twice" })
    expect(() => lwLayerNames(m)).toThrow(SharedLayer)
    m.dispose()
  })
})
