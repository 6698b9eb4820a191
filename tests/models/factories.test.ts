import { beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test"
import * as tf from "@tensorflow/tfjs"
import { createCnn4, createLeNet5, createMLP, createResNet18, learnableLayers } from "../../shared/models/index.ts"
import { maxPool } from "../../shared/models/layers.ts"

// As `npm test` (--timeout 300000): this file builds full-size ResNet18s, which takes more than bun's default 5 s on 2 shared
// cores; the same limit alone as in the suite.
setDefaultTimeout(300_000)

beforeAll(async () => {
  await tf.setBackend("cpu")
})

const count = (ws: tf.LayerVariable[]) => ws.reduce((n, w) => n + w.shape.reduce((a: number, b) => a * (b ?? 0), 1), 0)
const trainable = (m: tf.LayersModel) => count(m.trainableWeights)

const expectNamesUnique = (m: tf.LayersModel) => {
  const names = m.layers.map((l) => l.name)
  expect(new Set(names).size).toBe(names.length)
}

/** Run and dispose: shape of the logits for a batch of standard normals. */
const logitsShape = (m: tf.LayersModel, shape: number[]) =>
  tf.tidy(() => {
    const y = m.predict(tf.randomNormal(shape, 0, 1, "float32", 1)) as tf.Tensor
    expect(y.dataSync().every(Number.isFinite)).toBe(true)
    return y.shape
  })

describe("LeNet-5", () => {
  test("61,706 parameters for 28×28×1 and 10 classes (PyTorch's count), logits [n, 10], names", () => {
    const m = createLeNet5({ inputShape: [28, 28, 1], classes: 10, activation: "tanh" })
    expect(m.countParams()).toBe(61_706)
    expect(logitsShape(m, [2, 28, 28, 1])).toEqual([2, 10])
    expect(learnableLayers(m).map((l) => l.name)).toEqual(["conv1", "conv2", "fc1", "fc2", "fc3"])
    expect(m.getLayer("conv1").outputShape).toEqual([null, 28, 28, 6])
    expect(m.getLayer("pool2").outputShape).toEqual([null, 5, 5, 16])
    expectNamesUnique(m)
    m.dispose()
  })
})

describe("4-conv CNN", () => {
  test("halves 28 → 14 → 7 → 4 → 2, global pool, fc 64 → 10; 25,162 parameters", () => {
    const m = createCnn4({ inputShape: [28, 28, 1], classes: 10 })
    expect(["conv1", "conv2", "conv3", "conv4"].map((n) => m.getLayer(n).outputShape)).toEqual([
      [null, 14, 14, 8],
      [null, 7, 7, 16],
      [null, 4, 4, 32],
      [null, 2, 2, 64]
    ])
    // (5·5·1·8 + 8) + (3·3·8·16 + 16) + (3·3·16·32 + 32) + (3·3·32·64 + 64) + (64·10 + 10)
    expect(m.countParams()).toBe(208 + 1168 + 4640 + 18_496 + 650)
    expect(logitsShape(m, [2, 28, 28, 1])).toEqual([2, 10])
    expectNamesUnique(m)
    m.dispose()
  })

  test("stride-2 pad-2 conv is PyTorch's: symmetric zero padding, not tfjs 'same' (which pads 1 top, 2 bottom)", () => {
    const m = createCnn4({ inputShape: [28, 28, 1], classes: 10, activation: "linear" })
    const [kernel, bias] = m.getLayer("conv1").getWeights()
    tf.tidy(() => {
      const x = tf.randomNormal([1, 28, 28, 1], 0, 1, "float32", 2) as tf.Tensor4D
      const torchLike = tf.add(tf.conv2d(tf.pad(x, [[0, 0], [2, 2], [2, 2], [0, 0]]), kernel as tf.Tensor4D, 2, "valid"), bias!)
      const sameLike = tf.add(tf.conv2d(x, kernel as tf.Tensor4D, 2, "same"), bias!)
      const sub = tf.model({ inputs: m.inputs, outputs: m.getLayer("conv1").output as tf.SymbolicTensor })
      const got = sub.predict(x) as tf.Tensor
      expect(tf.max(tf.abs(tf.sub(got, torchLike))).dataSync()[0]).toBeLessThan(1e-5)
      expect(tf.max(tf.abs(tf.sub(got, sameLike))).dataSync()[0]).toBeGreaterThan(1e-2)
    })
    m.dispose()
  })
})

describe("MLP", () => {
  test("50 × 512 on 28×28×1: 13,277,194 parameters, fc1..fc51", () => {
    const m = createMLP({ inputShape: [28, 28, 1], depth: 50, width: 512, classes: 10, activation: "tanh" })
    // 784·512 + 512 + 49·(512·512 + 512) + 512·10 + 10
    expect(m.countParams()).toBe(401_920 + 49 * 262_656 + 5130)
    const names = learnableLayers(m).map((l) => l.name)
    expect(names.length).toBe(51)
    expect(names[0]).toBe("fc1")
    expect(names[50]).toBe("fc51")
    expect(logitsShape(m, [2, 28, 28, 1])).toEqual([2, 10])
    expectNamesUnique(m)
    m.dispose()
  })
})

describe("ResNet18", () => {
  test("small stem, 10 classes, BN: 11,173,962 trainable (PyTorch CIFAR ResNet18) + 9,600 running stats", () => {
    const m = createResNet18({ inputShape: [32, 32, 3], classes: 10, batchNorm: true, stem: "small" })
    expect(trainable(m)).toBe(11_173_962)
    expect(m.countParams()).toBe(11_173_962 + 9600)
    expect(logitsShape(m, [2, 32, 32, 3])).toEqual([2, 10])
    for (const name of ["conv1", "bn1", "layer1.0.conv1", "layer1.0.conv2", "layer2.0.downsample", "layer4.1.conv2", "fc"]) {
      expect(m.getLayer(name).name).toBe(name)
    }
    expect(m.getLayer("layer2.0.downsample").getWeights()[0]!.shape).toEqual([1, 1, 64, 128])
    expect(m.getLayer("layer4.1.act2").outputShape).toEqual([null, 4, 4, 512])
    expectNamesUnique(m)
    m.dispose()
  })

  test("small stem without BN: no BN layers, every conv has a bias; 11,169,162 parameters", () => {
    const m = createResNet18({ inputShape: [32, 32, 3], classes: 10, batchNorm: false, stem: "small" })
    expect(m.layers.some((l) => l.getClassName() === "BatchNormalization")).toBe(false)
    expect(learnableLayers(m).every((l) => l.hasBias)).toBe(true)
    // BN's 4,800 γ/β pairs go, 4,800 conv biases come.
    expect(m.countParams()).toBe(11_173_962 - 9600 + 4800)
    expect(logitsShape(m, [2, 32, 32, 3])).toEqual([2, 10])
    expectNamesUnique(m)
    m.dispose()
  })

  test("ImageNet stem, 1000 classes: 11,689,512 trainable (torchvision resnet18); 224 → 112 → 56", () => {
    const m = createResNet18({ inputShape: [224, 224, 3], classes: 1000, batchNorm: true, stem: "imagenet" })
    expect(trainable(m)).toBe(11_689_512)
    expect(m.getLayer("conv1").outputShape).toEqual([null, 112, 112, 64])
    expect(m.getLayer("maxpool").outputShape).toEqual([null, 56, 56, 64])
    expect(m.getLayer("layer4.1.act2").outputShape).toEqual([null, 7, 7, 512])
    expectNamesUnique(m)
    m.dispose()
  })

  test("other activations (WIB-ReLU, PReLU) build and run", () => {
    for (const activation of ["wibRelu", "prelu"] as const) {
      const m = createResNet18({ inputShape: [8, 8, 3], classes: 4, batchNorm: false, stem: "small", activation })
      expect(logitsShape(m, [1, 8, 8, 3])).toEqual([1, 4])
      m.dispose()
    }
  })
})

describe("max pool padding", () => {
  test("pads with −∞ as PyTorch does (zero padding would win over negative inputs); gradient flows", () => {
    const input = tf.input({ shape: [4, 4, 1] })
    const m = tf.model({ inputs: input, outputs: maxPool(input, "pool", 3, 2, 1) })
    const x = tf.tensor4d(Array.from({ length: 16 }, (_, i) => -(i + 1)), [1, 4, 4, 1])
    // PyTorch MaxPool2d(3, 2, padding=1) on -1..-16: windows rows/cols {-1..1, 1..3}.
    const y = tf.tidy(() => Array.from((m.predict(x) as tf.Tensor).dataSync()))
    expect(y).toEqual([-1, -2, -5, -6])
    const g = tf.tidy(() => Array.from(tf.grad((t: tf.Tensor) => (m.apply(t) as tf.Tensor).sum())(x).dataSync()))
    expect(g).toEqual([1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
    x.dispose()
    m.dispose()
  })
})
