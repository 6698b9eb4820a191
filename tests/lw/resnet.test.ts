import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test"
import * as tf from "@tensorflow/tfjs"
import { defaultLwConfig } from "../../shared/lw/config.ts"
import { learnModelInit, lwLayerNames, type LearnModelResult } from "../../shared/lw/greedy.ts"
import { createResNet18, forwardTo, getLayerWeights, learnableLayers } from "../../shared/models/index.ts"
import { blobBatch } from "./fixtures.ts"

// As `npm test` (--timeout 300000): this file learns every layer of a ResNet18 in beforeAll, which takes more than bun's default 5 s on 2 shared
// cores; the same limit alone as in the suite.
setDefaultTimeout(300_000)

/** Whole-tensor mean and unbiased variance (LW's default statistics), computed here independently. */
const statsOf = (t: tf.Tensor): [number, number] =>
  tf.tidy(() => {
    const n = t.size
    return [tf.mean(t).dataSync()[0]!, (tf.moments(t).variance.dataSync()[0]! * n) / (n - 1)]
  })

describe("ResNet18 (small stem, no BN), 16×16 input, batch 2, 3 epochs per layer", () => {
  let model: tf.LayersModel
  let batch: tf.Tensor4D
  let result: LearnModelResult
  let before: number
  beforeAll(async () => {
    await tf.setBackend("cpu")
    model = createResNet18({ inputShape: [16, 16, 3], classes: 10, batchNorm: false, stem: "small" })
    batch = blobBatch(2, 16, 16, 3, 1)
    before = tf.memory().numTensors
    // Threshold 0: every layer runs its 3 epochs (from the Kaiming start some would meet the default threshold sooner).
    const convergence = { ...defaultLwConfig.convergence, threshold: 0 }
    result = learnModelInit(model, batch, { ...defaultLwConfig, maxEpochs: 3, convergence }, { seed: 1 })
  })
  afterAll(() => {
    model.dispose()
    batch.dispose()
  })

  test("every conv is learned, the 1×1 downsample convs included, the classifier not; nothing leaks", () => {
    expect(tf.memory().numTensors).toBe(before)
    const convs = learnableLayers(model).filter((l) => l.kind === "conv").map((l) => l.name)
    expect(convs).toHaveLength(20)
    expect(lwLayerNames(model)).toEqual(convs)
    expect(result.layers.map((l) => l.name)).toEqual(convs)
    expect(convs).toContain("layer2.0.downsample")
    expect(result.diverged).toBeUndefined()
    // Each block's downsample comes before its convs: its output is the shortcut they add to.
    expect(convs.indexOf("layer2.0.downsample")).toBeLessThan(convs.indexOf("layer2.0.conv1"))
    for (const { name, result: r } of result.layers) {
      expect(r.epochs).toBe(3)
      const inModel = getLayerWeights(model, name)
      expect(Array.from(inModel.find((w) => w.name === `${name}/kernel`)!.data)).toEqual(Array.from(r.weights.kernel.data))
    }
  })

  test("a block's last conv learns on relu(conv2 + shortcut): the identity and the downsample path", () => {
    for (const name of ["layer1.0.conv2", "layer2.0.conv2", "layer3.1.conv2"]) {
      const r = result.layers.find((l) => l.name === name)!.result
      const f = forwardTo(model, name, batch)
      expect(f.shortcut).toBeDefined()
      const [mean, variance] = statsOf(f.activation!)
      // How far relu(conv2) alone is from act2, element by element.
      const gap = tf.tidy(() => tf.max(tf.abs(tf.sub(tf.relu(f.output), f.activation!))).dataSync()[0]!)
      const [outMean, outVar] = statsOf(f.output)
      tf.dispose([f.input, f.output, f.activation!, f.shortcut!])
      // What the variance loss saw (reported) is the model's own act2 = relu(conv2 + shortcut)...
      expect(r.final.activationMean).toBeCloseTo(mean, 4)
      expect(r.final.activationVar / variance).toBeCloseTo(1, 4)
      expect(r.final.outputMean).toBeCloseTo(outMean, 4)
      expect(r.final.outputVar / outVar).toBeCloseTo(1, 4)
      // ... and not relu(conv2) alone: the shortcut moved it.
      expect(gap).toBeGreaterThan(0.5)
    }
  })

  test("a downsample conv, whose partner (the block's branch) is learned after it, is learned without it", () => {
    for (const name of ["layer2.0.downsample", "layer4.0.downsample"]) {
      const r = result.layers.find((l) => l.name === name)!.result
      const f = forwardTo(model, name, batch)
      const [mean, variance] = statsOf(tf.tidy(() => tf.relu(f.output)))
      tf.dispose([f.input, f.output, f.activation!, f.shortcut!].filter((t) => t !== undefined))
      expect(r.final.activationMean).toBeCloseTo(mean, 4)
      expect(r.final.activationVar / variance).toBeCloseTo(1, 4)
    }
  })
})
