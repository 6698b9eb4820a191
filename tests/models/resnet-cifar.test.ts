/** He et al.'s CIFAR ResNets (shared/models/resnet-cifar.ts): parameter counts, shapes, depth, residual roles. */
import { beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test"
import * as tf from "@tensorflow/tfjs"
import { blocksPerStage, createResNetCifar } from "../../shared/models/resnet-cifar.ts"
import { buildModel } from "../../shared/models/spec.ts"
import { learnableLayers } from "../../shared/models/index.ts"

setDefaultTimeout(300_000)

beforeAll(async () => {
  await tf.setBackend("cpu")
})

const trainable = (m: tf.LayersModel) => m.trainableWeights.reduce((n, w) => n + w.shape.reduce((a: number, b) => a * (b ?? 0), 1), 0)

describe("ResNet20 (n = 3)", () => {
  test("RGB 32×32, 10 classes: 272,474 trainable ≈ the paper's 0.27 M (option A's 269,722 + two 1×1 projections and their BN)", () => {
    const m = createResNetCifar({ inputShape: [32, 32, 3], classes: 10, depth: 20 })
    // By hand: conv1 432; stage1 6 × 2,304; stage2 4,608 + 5 × 9,216; stage3 18,432 + 5 × 36,864; fc 650;
    // 19 BN layers' γ, β over 16·7 + 32·6 + 64·6 channels: 1,376 → 269,722; projections 512 + 2,048 + BN 192.
    expect(trainable(m)).toBe(269_722 + 512 + 2048 + 192)
    // 19 convs + fc = 20 weight layers on the main path; the two projections are extra.
    const layers = learnableLayers(m)
    expect(layers.filter((l) => !l.name.includes("downsample")).length).toBe(20)
    expect(layers.map((l) => l.name).filter((n) => n.includes("downsample"))).toEqual(["stage2.0.downsample", "stage3.0.downsample"])
    expect(m.getLayer("stage1.2.act2").outputShape).toEqual([null, 32, 32, 16])
    expect(m.getLayer("stage2.0.act2").outputShape).toEqual([null, 16, 16, 32])
    expect(m.getLayer("stage3.2.act2").outputShape).toEqual([null, 8, 8, 64])
    const y = tf.tidy(() => (m.predict(tf.randomNormal([2, 32, 32, 3], 0, 1, "float32", 1)) as tf.Tensor).arraySync() as number[][])
    expect(y.length).toBe(2)
    expect(y[0]!.length).toBe(10)
    expect(y.flat().every(Number.isFinite)).toBe(true)
    m.dispose()
  })

  test("Fashion-MNIST's 28×28×1: 28 → 14 → 7; branch convs are branches, projections shortcuts, fc the classifier", () => {
    const m = buildModel({ arch: "resnet-cifar", inputShape: [28, 28, 1], classes: 10, depth: 20, activation: "relu" })
    expect(m.getLayer("stage3.2.act2").outputShape).toEqual([null, 7, 7, 64])
    const roles = Object.fromEntries(learnableLayers(m).map((l) => [l.name, l.context]))
    expect(roles["stage2.0.conv1"]).toEqual({ role: "branch", position: 0, length: 2, count: 9 })
    expect(roles["stage2.0.conv2"]).toEqual({ role: "branch", position: 1, length: 2, count: 9 })
    expect(roles["stage2.0.downsample"]).toEqual({ role: "shortcut" })
    expect(roles["fc"]).toEqual({ role: "classifier" })
    m.dispose()
  })
})

describe("depth 6n + 2", () => {
  test("ResNet56 and ResNet110 have 9 and 18 blocks per stage: 55 and 109 convs + fc on the main path", () => {
    expect(blocksPerStage(56)).toBe(9)
    expect(blocksPerStage(110)).toBe(18)
    for (const depth of [56, 110]) {
      const m = createResNetCifar({ inputShape: [8, 8, 3], classes: 10, depth })
      expect(learnableLayers(m).filter((l) => !l.name.includes("downsample")).length).toBe(depth)
      m.dispose()
    }
  })

  test("other depths are refused, naming the valid ones", () => {
    expect(() => blocksPerStage(18)).toThrow("6n + 2 (20, 32, 44, 56, 110")
    expect(() => blocksPerStage(2)).toThrow("6n + 2")
  })
})
