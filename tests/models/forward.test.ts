import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import * as tf from "@tensorflow/tfjs"
import { applyInit, createLeNet5, createResNet18, forwardTo, layerProbe, type LayerForward } from "../../shared/models/index.ts"

const maxDiff = (a: tf.Tensor, b: tf.Tensor): number => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!)
const disposeForward = (f: LayerForward) => tf.dispose([f.input, f.output, f.activation, f.shortcut].filter((t) => t !== undefined))

let lenet: tf.LayersModel
let resnet: tf.LayersModel
let resnetBn: tf.LayersModel

beforeAll(async () => {
  await tf.setBackend("cpu")
  lenet = createLeNet5({ inputShape: [28, 28, 1], classes: 10 })
  applyInit(lenet, { name: "kaimingNormal", nonlinearity: "relu", negativeSlope: 0 }, { seed: 1 })
  // 16×16 keeps the cpu backend quick; the graph is the same as at 32×32.
  resnet = createResNet18({ inputShape: [16, 16, 3], classes: 10, batchNorm: false, stem: "small" })
  applyInit(resnet, { name: "kaimingNormal", nonlinearity: "relu", negativeSlope: 0 }, { seed: 2 })
  resnetBn = createResNet18({ inputShape: [16, 16, 3], classes: 10, batchNorm: true, stem: "small" })
})

afterAll(() => {
  lenet.dispose()
  resnet.dispose()
  resnetBn.dispose()
})

describe("forwardTo on LeNet-5", () => {
  test("input, output and activation of each layer agree with the layer maths and the full model", () => {
    const x = tf.randomNormal([2, 28, 28, 1], 0, 1, "float32", 1)
    const c1 = forwardTo(lenet, "conv1", x)
    expect(maxDiff(c1.input, x)).toBe(0)
    expect(c1.input).not.toBe(x) // the caller owns (and disposes) every returned tensor
    const [k1, b1] = lenet.getLayer("conv1").getWeights()
    expect(maxDiff(c1.output, tf.tidy(() => tf.add(tf.conv2d(x as tf.Tensor4D, k1 as tf.Tensor4D, 1, "same"), b1!)))).toBeLessThan(1e-5)
    expect(maxDiff(c1.activation!, tf.tidy(() => tf.relu(c1.output)))).toBe(0)
    expect(c1.shortcut).toBeUndefined()

    const c2 = forwardTo(lenet, "conv2", x)
    expect(maxDiff(c2.input, tf.tidy(() => tf.maxPool(c1.activation as tf.Tensor4D, 2, 2, "valid")))).toBe(0)

    const fc3 = forwardTo(lenet, "fc3", x)
    expect(fc3.activation).toBeUndefined()
    const full = lenet.predict(x) as tf.Tensor
    expect(maxDiff(fc3.output, full)).toBe(0)
    ;[c1, c2, fc3].forEach(disposeForward)
    tf.dispose([x, full]) // not k1/b1: getWeights() returns the layer's live variables
  })
})

describe("forwardTo on ResNet18 (small stem)", () => {
  const x = () => tf.randomNormal([1, 16, 16, 3], 0, 1, "float32", 4)

  test("the last layer's output is the model's output", () => {
    const input = x()
    const fc = forwardTo(resnet, "fc", input)
    const full = resnet.predict(input) as tf.Tensor
    expect(maxDiff(fc.output, full)).toBeLessThan(1e-5)
    disposeForward(fc)
    tf.dispose([input, full])
  })

  test("a block's last conv: activation after the add = relu(output + identity), identity = block input", () => {
    const input = x()
    const c1 = forwardTo(resnet, "layer1.0.conv1", input)
    const c2 = forwardTo(resnet, "layer1.0.conv2", input)
    const next = forwardTo(resnet, "layer1.1.conv1", input)
    expect(c2.between).toEqual(["layer1.0.add"])
    expect(maxDiff(c2.shortcut!, c1.input)).toBe(0) // identity path carried exactly
    expect(maxDiff(c2.activation!, tf.tidy(() => tf.relu(tf.add(c2.output, c2.shortcut!))))).toBeLessThan(1e-6)
    expect(maxDiff(next.input, c2.activation!)).toBe(0) // and it feeds the next block
    // The block's first conv has its own activation, no add.
    expect(c1.shortcut).toBeUndefined()
    expect(maxDiff(c1.activation!, tf.tidy(() => tf.relu(c1.output)))).toBe(0)
    ;[c1, c2, next].forEach(disposeForward)
    input.dispose()
  })

  test("a downsampling block: the shortcut is the 1×1 stride-2 downsample conv's output", () => {
    const input = x()
    const ds = forwardTo(resnet, "layer2.0.downsample", input)
    const c2 = forwardTo(resnet, "layer2.0.conv2", input)
    const c1 = forwardTo(resnet, "layer2.0.conv1", input)
    expect(ds.output.shape).toEqual([1, 8, 8, 128])
    expect(maxDiff(c2.shortcut!, ds.output)).toBe(0)
    expect(maxDiff(ds.shortcut!, c2.output)).toBe(0) // seen from the shortcut, the branch is "the other input"
    expect(maxDiff(ds.activation!, c2.activation!)).toBe(0)
    // conv1's input is the explicitly padded block input (pad 1 on every side: 16×16 → 18×18).
    expect(c1.input.shape).toEqual([1, 18, 18, 64])
    const [k] = resnet.getLayer("layer2.0.downsample").getWeights()
    const manual = tf.tidy(() => tf.conv2d(ds.input as tf.Tensor4D, k as tf.Tensor4D, 2, "valid"))
    expect(maxDiff(ds.output, manual)).toBeLessThan(1e-5) // biases are 0 after applyInit
    ;[ds, c2, c1].forEach(disposeForward)
    tf.dispose([input, manual])
  })

  test("with BN the activation goes through bn2 and the add (inference mode)", () => {
    const input = x()
    const c2 = forwardTo(resnetBn, "layer1.0.conv2", input)
    expect(c2.between).toEqual(["layer1.0.bn2", "layer1.0.add"])
    const bn2 = resnetBn.getLayer("layer1.0.bn2")
    const again = tf.tidy(() => tf.relu(tf.add(bn2.apply(c2.output, { training: false }) as tf.Tensor, c2.shortcut!)))
    expect(maxDiff(c2.activation!, again)).toBeLessThan(1e-5)
    disposeForward(c2)
    tf.dispose([input, again])
  })

  test("layerProbe reuses sub-models and agrees with forwardTo", () => {
    const input = x()
    const probe = layerProbe(resnet)
    const a = probe("layer3.0.conv2", input)
    const b = forwardTo(resnet, "layer3.0.conv2", input)
    expect(maxDiff(a.activation!, b.activation!)).toBe(0)
    ;[a, b].forEach(disposeForward)
    input.dispose()
  })

  test("unknown layer names fail with UnknownLayer listing the real ones", () => {
    const input = x()
    try {
      forwardTo(resnet, "layer9.0.conv1", input)
      throw new Error("expected UnknownLayer")
    } catch (e) {
      expect((e as { _tag: string })._tag).toBe("UnknownLayer")
      expect((e as Error).message).toContain("layer2.0.downsample")
    }
    input.dispose()
  })
})

describe("memory", () => {
  test("numTensors is stable over repeated forwards", () => {
    const input = tf.randomNormal([1, 16, 16, 3])
    const probe = layerProbe(resnet)
    const round = () => {
      disposeForward(probe("layer2.0.conv2", input))
      const zeros = tf.zeros([1, 28, 28, 1])
      disposeForward(forwardTo(lenet, "fc1", zeros))
      disposeForward(forwardTo(lenet, "conv1", zeros)) // its input is the model input: returned as a copy
      zeros.dispose()
      tf.tidy(() => {
        resnet.predict(input)
      })
    }
    round() // warm-up: first calls may cache things
    const before = tf.memory().numTensors
    for (let i = 0; i < 3; i++) round()
    expect(tf.memory().numTensors).toBe(before)
    input.dispose()
  })
})
