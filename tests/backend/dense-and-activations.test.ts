import { afterAll, beforeAll, describe, test } from "bun:test"
import * as tf from "@tensorflow/tfjs"
import { expectSameOnWasm, input, useWasm, withGrads } from "./compare.ts"

let restore = "cpu"
beforeAll(async () => {
  restore = await useWasm()
})
afterAll(async () => {
  await tf.setBackend(restore)
})

describe("matMul (BatchMatMul) forward and gradients, every transpose combination", () => {
  const cases: Array<[number[], number[], boolean, boolean]> = [
    [[5, 7], [7, 3], false, false],
    [[7, 5], [7, 3], true, false],
    [[5, 7], [3, 7], false, true],
    [[7, 5], [3, 7], true, true],
    [[32, 40], [40, 12], false, false], // a dense layer at batch 32
    [[1, 6, 4], [1, 6, 3], true, false], // batch dims of size 1
    [[2, 7, 5], [2, 7, 3], true, false], // batched: the shipped kernel's own path
    [[3, 4, 6], [3, 5, 6], false, true]
  ]
  for (const [a, b, ta, tb] of cases) {
    test(`[${a}]${ta ? "ᵀ" : ""} · [${b}]${tb ? "ᵀ" : ""}`, async () => {
      await expectSameOnWasm([input(a, 1), input(b, 2)], withGrads((x, y) => tf.matMul(x!, y!, ta, tb)))
    })
  }

  test("dense layer with bias and ReLU (the fused matMul's gradient)", async () => {
    await expectSameOnWasm(
      [input([6, 10], 3), input([10, 4], 4), input([4], 5)],
      withGrads((x, w, b) => tf.fused.matMul({ a: x!, b: w!, bias: b, activation: "relu" }))
    )
  })
})

describe("activations and losses used by the models, forward and gradient", () => {
  const shape = [2, 5, 5, 3]
  const activations: Array<[string, (x: tf.Tensor) => tf.Tensor]> = [
    ["relu", tf.relu],
    ["tanh", tf.tanh],
    ["sigmoid", tf.sigmoid],
    ["elu", tf.elu],
    ["leakyRelu 0.1", (x) => tf.leakyRelu(x, 0.1)],
    ["prelu (fixed slope)", (x) => tf.prelu(x, tf.scalar(0.25))],
    ["elu with alpha via exp/minimum", (x) => tf.add(tf.relu(x), tf.mul(0.5, tf.sub(tf.exp(tf.minimum(x, 0)), 1)))]
  ]
  for (const [name, f] of activations) {
    test(name, async () => {
      await expectSameOnWasm([input(shape, 6)], withGrads((x) => f(tf.mul(x, 3))))
    })
  }

  test("prelu with a learnable per-channel slope", async () => {
    await expectSameOnWasm([input(shape, 7), input([3], 8)], withGrads((x, a) => tf.prelu(x!, a!)))
  })

  test("softmax cross-entropy (tf.losses.softmaxCrossEntropy) of logits", async () => {
    const labels = tf.tidy(() => tf.oneHot(tf.tensor1d([0, 3, 9, 3], "int32"), 10).dataSync() as Float32Array)
    await expectSameOnWasm([input([4, 10], 9), { shape: [4, 10], data: labels }], (logits, y) => {
      const loss = (l: tf.Tensor) => tf.losses.softmaxCrossEntropy(y!, tf.mul(l, 4))
      return [loss(logits!), tf.grad(loss)(logits!)]
    })
  })

  test("batch norm in training mode (batch moments), with scale and offset", async () => {
    await expectSameOnWasm(
      [input([4, 3, 3, 5], 10), input([5], 11), input([5], 12)],
      withGrads((x, gamma, beta) => {
        const { mean, variance } = tf.moments(x!, [0, 1, 2])
        return tf.batchNorm(x!, mean, variance, beta, gamma, 1e-5)
      })
    )
  })

  test("residual add and zero pad", async () => {
    await expectSameOnWasm(
      [input([2, 4, 4, 3], 13), input([2, 4, 4, 3], 14)],
      withGrads((x, y) => tf.add(tf.pad(tf.add(x!, y!), [[0, 0], [1, 1], [1, 1], [0, 0]]), 1))
    )
  })
})

describe("slice (the gradient of padding) on wasm equals cpu, for every rank and dtype", () => {
  const cases: Array<[number[], number[], number[]]> = [
    [[10], [3], [5]],
    [[4, 6], [1, 0], [2, 6]],
    [[4, 6], [1, 2], [3, -1]],
    [[3, 4, 5], [0, 1, 0], [3, 2, 5]],
    [[2, 8, 8, 3], [0, 1, 1, 0], [2, 6, 6, 3]], // an NHWC crop: whole rows of W·C
    [[2, 8, 8, 3], [1, 2, 3, 1], [1, 3, 4, 2]], // cuts the channels too
    [[2, 8, 8, 3], [0, 0, 0, 0], [2, 8, 8, 3]], // everything
    [[2, 3, 4, 5, 6], [1, 0, 1, 2, 0], [1, 3, 2, 2, 6]],
    [[2, 3, 2, 3, 2, 4], [0, 1, 0, 1, 1, 1], [2, 2, 2, 2, 1, 3]]
  ]
  for (const [shape, begin, size] of cases) {
    test(`[${shape}] from [${begin}] size [${size}], float32 with its gradient, int32, bool`, async () => {
      await expectSameOnWasm([input(shape, 15)], withGrads((x) => tf.slice(x!, begin, size)))
      await expectSameOnWasm([input(shape, 16)], (x) => [
        tf.cast(tf.slice(tf.cast(tf.mul(x!, 100), "int32"), begin, size), "float32"),
        tf.cast(tf.slice(tf.greater(x!, 0), begin, size), "float32")
      ])
    })
  }

  test("the gradient of a zero pad, NHWC (what the 4-conv CNN and the ResNet stem backpropagate through)", async () => {
    await expectSameOnWasm([input([3, 9, 9, 4], 17)], withGrads((x) => tf.pad(x!, [[0, 0], [2, 2], [2, 2], [0, 0]])))
  })
})
