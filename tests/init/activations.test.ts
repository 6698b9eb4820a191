import { beforeAll, describe, expect, test } from "bun:test"
import * as tf from "@tensorflow/tfjs"
import {
  activationFn,
  activationLayer,
  defaultActivations,
  elu,
  LwiPReLU,
  WIB_RELU_SHIFT,
  wibRelu,
  type ActivationName,
  type ActivationSpec
} from "../../shared/init/activations.ts"

beforeAll(async () => {
  await tf.setBackend("cpu")
})

const values = (t: tf.Tensor): number[] => {
  const v = Array.from(t.dataSync())
  t.dispose()
  return v
}
const xs = [-3, -1, -0.5, 0, 0.5, 2]
const expectClose = (got: number[], want: number[]) => got.forEach((g, i) => expect(g).toBeCloseTo(want[i]!, 5))

describe("tensor functions", () => {
  const cases: [string, ActivationSpec, (x: number) => number][] = [
    ["linear", "linear", (x) => x],
    ["sigmoid", "sigmoid", (x) => 1 / (1 + Math.exp(-x))],
    ["tanh", "tanh", Math.tanh],
    ["relu", "relu", (x) => Math.max(0, x)],
    ["wibRelu", "wibRelu", (x) => Math.max(0, x) - 1 / Math.sqrt(2 * Math.PI)],
    ["leakyRelu(0.2)", { name: "leakyRelu", alpha: 0.2 }, (x) => (x > 0 ? x : 0.2 * x)],
    ["prelu(0.25)", { name: "prelu", alpha: 0.25, perChannel: false }, (x) => (x > 0 ? x : 0.25 * x)],
    ["elu", "elu", (x) => (x > 0 ? x : Math.exp(x) - 1)],
    ["elu(0.5)", { name: "elu", alpha: 0.5 }, (x) => (x > 0 ? x : 0.5 * (Math.exp(x) - 1))]
  ]
  test.each(cases)("%s matches its formula", (_, spec, f) => {
    expectClose(values(activationFn(spec)(tf.tensor1d(xs))), xs.map(f))
  })

  test("WIB-ReLU: mean ≈ 0 and variance ½ − 1/(2π) on N(0, 1) input", () => {
    const [m, v] = tf.tidy(() => {
      const { mean, variance } = tf.moments(wibRelu(tf.randomNormal([200_000], 0, 1, "float32", 1)))
      return [mean.dataSync()[0]!, variance.dataSync()[0]!]
    })
    expect(WIB_RELU_SHIFT).toBeCloseTo(0.398942, 6)
    expect(Math.abs(m)).toBeLessThan(0.005) // SE 0.0013
    expect(v).toBeCloseTo(0.5 - 1 / (2 * Math.PI), 2)
  })

  test("ELU with α ≠ 1 has a finite gradient for large inputs", () => {
    const g = tf.tidy(() => values(tf.grad((x: tf.Tensor) => elu(x, 0.5).sum())(tf.tensor1d([-2, 0.5, 200]))))
    expectClose(g, [0.5 * Math.exp(-2), 1, 1])
  })
})

describe("layers", () => {
  const names = Object.keys(defaultActivations) as ActivationName[]
  test.each(names)("%p layer computes what the tensor function computes", (name) => {
    const x = tf.tensor4d(Array.from({ length: 2 * 3 * 3 * 4 }, (_, i) => Math.sin(i) * 2), [2, 3, 3, 4])
    const layer = activationLayer(name, `test.${name}`)
    expectClose(values(layer.apply(x) as tf.Tensor), values(activationFn(name)(x)))
    expect(layer.name).toBe(`test.${name}`)
    x.dispose()
  })

  test("PReLU learns one slope per layer, or one per channel", () => {
    const x = tf.randomNormal([2, 4, 4, 3])
    const shared = new LwiPReLU({ alpha: 0.25 })
    const perChannel = new LwiPReLU({ alpha: 0.1, perChannel: true })
    tf.dispose([shared.apply(x) as tf.Tensor, perChannel.apply(x) as tf.Tensor])
    expect(shared.trainableWeights.map((w) => w.shape)).toEqual([[]])
    expect(perChannel.trainableWeights.map((w) => w.shape)).toEqual([[3]])
    const alpha = perChannel.trainableWeights[0]!.read() as tf.Variable
    const { grads } = tf.variableGrads(() => (perChannel.apply(x) as tf.Tensor).sum() as tf.Scalar, [alpha])
    const g = values(grads[alpha.name]!)
    // d/dα Σ prelu(x) = Σ_{x<0} x per channel: negative and non-zero.
    g.forEach((v) => expect(v).toBeLessThan(0))
    x.dispose()
  })

  test("custom layers survive a model save/load round trip (registered classes)", async () => {
    const input = tf.input({ shape: [4] })
    let y = activationLayer("wibRelu", "a").apply(input) as tf.SymbolicTensor
    y = activationLayer({ name: "elu", alpha: 0.5 }, "b").apply(y) as tf.SymbolicTensor
    y = activationLayer({ name: "prelu", alpha: 0.3, perChannel: true }, "c").apply(y) as tf.SymbolicTensor
    const model = tf.model({ inputs: input, outputs: y })
    const artifacts = await new Promise<tf.io.ModelArtifacts>((resolve) =>
      model.save(tf.io.withSaveHandler(async (a) => (resolve(a), { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: "JSON" } })))
    )
    const loaded = await tf.loadLayersModel(tf.io.fromMemory(artifacts))
    expect(loaded.layers.map((l) => l.getClassName())).toEqual(["InputLayer", "WibReLU", "LwiELU", "LwiPReLU"])
    const x = tf.tensor2d([[-2, -0.5, 0.5, 2]])
    expectClose(values(loaded.predict(x) as tf.Tensor), values(model.predict(x) as tf.Tensor))
    x.dispose()
    model.dispose()
    loaded.dispose()
  })
})
