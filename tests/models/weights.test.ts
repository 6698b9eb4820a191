import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import * as tf from "@tensorflow/tfjs"
import { fans, initVariance } from "../../shared/init/index.ts"
import {
  applyInit,
  applyLsuv,
  createLeNet5,
  createMLP,
  createResNet18,
  forwardTo,
  getLayerWeights,
  learnableLayers,
  loadWeights,
  serializeWeights,
  setLayerWeights,
  type NamedWeight
} from "../../shared/models/index.ts"
import { mean, variance } from "../init/stats.ts"

let resnet: tf.LayersModel

beforeAll(async () => {
  await tf.setBackend("cpu")
  resnet = createResNet18({ inputShape: [8, 8, 3], classes: 10, batchNorm: true, stem: "small" })
})

afterAll(() => resnet.dispose())

const tagOf = (f: () => unknown): string => {
  try {
    f()
  } catch (e) {
    return (e as { _tag?: string })._tag ?? `untagged: ${e}`
  }
  return "no error"
}

describe("learnableLayers", () => {
  test("LeNet-5: kinds, fans, kernel shapes, what feeds each layer, its activation", () => {
    const m = createLeNet5({ inputShape: [28, 28, 1], classes: 10 })
    const ls = learnableLayers(m)
    expect(ls.map((l) => [l.name, l.kind, l.fanIn, l.kernelShape])).toEqual([
      ["conv1", "conv", 25, [5, 5, 1, 6]],
      ["conv2", "conv", 150, [5, 5, 6, 16]],
      ["fc1", "dense", 400, [400, 120]],
      ["fc2", "dense", 120, [120, 84]],
      ["fc3", "dense", 84, [84, 10]]
    ])
    expect(ls.map((l) => l.inbound)).toEqual(["input", "pool1", "flatten", "fc1.act", "fc2.act"])
    expect(ls.map((l) => l.feeders)).toEqual([["input"], ["conv1"], ["conv2"], ["fc1"], ["fc2"]])
    expect(ls.map((l) => l.activation)).toEqual(["conv1.act", "conv2.act", "fc1.act", "fc2.act", undefined])
    expect(ls.map((l) => l.context.role)).toEqual(["plain", "plain", "plain", "plain", "classifier"])
    m.dispose()
  })

  test("ResNet18: 21 layers in forward order, downsample first in its block, residual roles from the graph", () => {
    const ls = learnableLayers(resnet)
    expect(ls.length).toBe(21) // conv1 + 8 blocks × 2 + 3 downsamples + fc
    const names = ls.map((l) => l.name)
    expect(names.slice(0, 8)).toEqual([
      "conv1",
      "layer1.0.conv1",
      "layer1.0.conv2",
      "layer1.1.conv1",
      "layer1.1.conv2",
      "layer2.0.downsample",
      "layer2.0.conv1",
      "layer2.0.conv2"
    ])
    expect(names[20]).toBe("fc")
    const byName = new Map(ls.map((l) => [l.name, l]))
    expect(byName.get("layer1.0.conv1")!.context).toEqual({ role: "branch", position: 0, length: 2, count: 8 })
    expect(byName.get("layer4.1.conv2")!.context).toEqual({ role: "branch", position: 1, length: 2, count: 8 })
    expect(byName.get("layer3.0.downsample")!.context).toEqual({ role: "shortcut" })
    expect(byName.get("conv1")!.context).toEqual({ role: "plain" })
    expect(byName.get("fc")!.context).toEqual({ role: "classifier" })
    expect(byName.get("layer2.0.conv1")!).toMatchObject({ inbound: "layer2.0.conv1.pad", strides: [2, 2], padding: "valid" })
    expect(byName.get("layer2.0.conv2")!.activation).toBe("layer2.0.act2")
    expect(byName.get("layer2.1.conv1")!.feeders).toEqual(["layer2.0.conv2", "layer2.0.downsample"])
    expect(ls.filter((l) => l.kind === "conv").every((l) => !l.hasBias)).toBe(true) // BN follows every conv
  })
})

describe("get / set / serialize", () => {
  test("set then get one layer's weights round-trips exactly; other layers untouched", () => {
    const before = getLayerWeights(resnet, "layer1.1.conv1")
    const other = getLayerWeights(resnet, "layer1.1.conv2")
    const w: NamedWeight = { name: "layer1.1.conv1/kernel", shape: [3, 3, 64, 64], data: Float32Array.from({ length: 36_864 }, (_, i) => Math.sin(i)) }
    setLayerWeights(resnet, "layer1.1.conv1", [w])
    expect(getLayerWeights(resnet, "layer1.1.conv1")).toEqual([w])
    expect(getLayerWeights(resnet, "layer1.1.conv2")).toEqual(other)
    setLayerWeights(resnet, "layer1.1.conv1", before)
    expect(getLayerWeights(resnet, "layer1.1.conv1")).toEqual(before)
  })

  test("BN layers expose gamma, beta and running statistics by name", () => {
    expect(getLayerWeights(resnet, "layer2.0.downsample.bn").map((w) => w.name)).toEqual([
      "layer2.0.downsample.bn/gamma",
      "layer2.0.downsample.bn/beta",
      "layer2.0.downsample.bn/moving_mean",
      "layer2.0.downsample.bn/moving_variance"
    ])
  })

  test("serialize → load into a fresh model → serialize is exact, and predictions match", () => {
    applyInit(resnet, { name: "kaimingNormal", nonlinearity: "relu", negativeSlope: 0 }, { seed: 3 })
    setLayerWeights(resnet, "bn1", [{ name: "bn1/moving_mean", shape: [64], data: new Float32Array(64).fill(0.5) }])
    const saved = serializeWeights(resnet)
    expect(saved.length).toBe(21 + 20 * 4 + 1) // kernels, 20 BN × 4, fc bias
    expect(new Set(saved.map((w) => w.name)).size).toBe(saved.length)
    // A second model in the same process: tfjs renames its variables (conv1/kernel_1...), our names do not change.
    const twin = createResNet18({ inputShape: [8, 8, 3], classes: 10, batchNorm: true, stem: "small" })
    loadWeights(twin, saved)
    expect(serializeWeights(twin)).toEqual(saved)
    const x = tf.randomNormal([1, 8, 8, 3], 0, 1, "float32", 5)
    const [a, b] = [resnet.predict(x) as tf.Tensor, twin.predict(x) as tf.Tensor]
    expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()))
    tf.dispose([x, a, b])
    twin.dispose()
  })

  test("mismatches are tagged errors: unknown layer, wrong shape, missing and unexpected weights", () => {
    const saved = serializeWeights(resnet)
    expect(tagOf(() => getLayerWeights(resnet, "layer5.0.conv1"))).toBe("UnknownLayer")
    expect(tagOf(() => setLayerWeights(resnet, "fc", [{ name: "fc/kernel", shape: [10, 512], data: new Float32Array(5120) }]))).toBe("WeightMismatch")
    expect(tagOf(() => setLayerWeights(resnet, "fc", [{ name: "fc/gamma", shape: [1], data: new Float32Array(1) }]))).toBe("WeightMismatch")
    expect(tagOf(() => loadWeights(resnet, saved.slice(1)))).toBe("WeightMismatch")
    expect(tagOf(() => loadWeights(resnet, [...saved, { name: "extra/kernel", shape: [1], data: new Float32Array(1) }]))).toBe("WeightMismatch")
    expect(serializeWeights(resnet)).toEqual(saved) // failed loads changed nothing
  })
})

describe("applyInit", () => {
  const kaiming = { name: "kaimingNormal", nonlinearity: "relu", negativeSlope: 0 } as const

  test("every conv/dense kernel follows the initializer; biases are zero; seeded per layer", () => {
    const m = createResNet18({ inputShape: [8, 8, 3], classes: 10, batchNorm: false, stem: "small" })
    const written = applyInit(m, kaiming, { seed: 7 })
    expect(written.length).toBe(21)
    const [k, bias] = getLayerWeights(m, "layer4.0.conv2") // 2.4M weights
    const v = initVariance(kaiming, k!.shape)
    expect(Math.abs(variance(k!.data) / v - 1)).toBeLessThan(0.01)
    expect(Math.abs(mean(k!.data))).toBeLessThan(5 * Math.sqrt(v / k!.data.length))
    expect(bias!.data.every((b) => b === 0)).toBe(true)
    const first = serializeWeights(m)
    applyInit(m, kaiming, { seed: 7 })
    expect(serializeWeights(m)).toEqual(first)
    applyInit(m, kaiming, { seed: 8 })
    expect(getLayerWeights(m, "conv1")[0]!.data).not.toEqual(first[0]!.data)
    m.dispose()
  })

  test("excludeClassifier leaves the decision layer alone; `layers` limits the targets", () => {
    const m = createLeNet5({ inputShape: [28, 28, 1], classes: 10 })
    const fc3 = getLayerWeights(m, "fc3")
    const conv2 = getLayerWeights(m, "conv2")
    expect(applyInit(m, kaiming, { seed: 1, excludeClassifier: true, layers: ["conv1", "fc3"] })).toEqual(["conv1"])
    expect(getLayerWeights(m, "fc3")).toEqual(fc3)
    expect(getLayerWeights(m, "conv2")).toEqual(conv2)
    m.dispose()
  })

  test("Fixup on ResNet18: branch ends and fc zero, branch starts He / √8, stem and shortcuts plain He", () => {
    const m = createResNet18({ inputShape: [8, 8, 3], classes: 10, batchNorm: false, stem: "small" })
    applyInit(m, { name: "fixup", base: kaiming }, { seed: 2 })
    const kernel = (name: string) => getLayerWeights(m, name)[0]!
    for (const zero of ["layer1.0.conv2", "layer4.1.conv2", "fc"]) expect(kernel(zero).data.every((x) => x === 0)).toBe(true)
    const check = (name: string, scale2: number) => {
      const k = kernel(name)
      const v = (2 / fans(k.shape).fanIn) * scale2
      // Relative standard error of a normal sample's variance: √(2/n); allow 5 of them.
      expect(Math.abs(variance(k.data) / v - 1)).toBeLessThan(5 * Math.sqrt(2 / k.data.length))
    }
    check("layer3.1.conv1", 1 / 8)
    check("layer4.0.downsample", 1)
    check("conv1", 1)
    m.dispose()
  })
})

describe("applyLsuv", () => {
  test("every layer's output variance ends at 1 on the batch", () => {
    const m = createMLP({ inputShape: [20], depth: 4, width: 64, classes: 5, activation: "tanh" })
    const batch = tf.randomNormal([128, 20], 0, 3, "float32", 9)
    const report = applyLsuv(m, batch, { seed: 4, lsuv: { tolerance: 0.02, maxIterations: 10, targetVariance: 1 } })
    expect(report.map((r) => r.layer)).toEqual(["fc1", "fc2", "fc3", "fc4", "fc5"])
    for (const r of report) {
      expect(r.converged).toBe(true)
      const f = forwardTo(m, r.layer, batch)
      const v = tf.tidy(() => tf.moments(f.output).variance.dataSync()[0]!)
      expect(Math.abs(v - 1)).toBeLessThan(0.02)
      tf.dispose([f.input, f.output, f.activation].filter((t) => t !== undefined))
    }
    batch.dispose()
    m.dispose()
  })
})
