import { describe } from "bun:test"
import * as tf from "@tensorflow/tfjs"
import { expectSame, rand, torchTest, valueAndGrads, values } from "./compare.ts"

type Unary = (x: tf.Tensor) => tf.Tensor

/** name → op and the input range it is defined on (and differentiable on). */
const unaries: Array<[string, Unary, number, number]> = [
  ["abs", tf.abs, -2, 2],
  ["neg", tf.neg, -2, 2],
  ["sign", tf.sign, -2, 2],
  ["sqrt", tf.sqrt, 0.1, 4],
  ["rsqrt", tf.rsqrt, 0.1, 4],
  ["square", tf.square, -2, 2],
  ["exp", tf.exp, -2, 2],
  ["expm1", tf.expm1, -2, 2],
  ["log", tf.log, 0.1, 4],
  ["log1p", tf.log1p, -0.5, 4],
  ["sin", tf.sin, -3, 3],
  ["cos", tf.cos, -3, 3],
  ["tan", tf.tan, -1, 1],
  ["asin", tf.asin, -0.9, 0.9],
  ["acos", tf.acos, -0.9, 0.9],
  ["atan", tf.atan, -3, 3],
  ["sinh", tf.sinh, -2, 2],
  ["cosh", tf.cosh, -2, 2],
  ["tanh", tf.tanh, -3, 3],
  ["asinh", tf.asinh, -3, 3],
  ["acosh", tf.acosh, 1.1, 4],
  ["atanh", tf.atanh, -0.9, 0.9],
  ["sigmoid", tf.sigmoid, -4, 4],
  ["relu", tf.relu, -2, 2],
  ["relu6", tf.relu6, -3, 9],
  ["elu", tf.elu, -2, 2],
  ["selu", tf.selu, -2, 2],
  ["softplus", tf.softplus, -4, 4],
  ["ceil", tf.ceil, -3, 3],
  ["floor", tf.floor, -3, 3],
  ["round", tf.round, -3, 3],
  ["reciprocal", tf.reciprocal, 0.2, 3],
  ["erf", tf.erf, -2, 2],
  ["step", (x) => tf.step(x, 0.3), -2, 2],
  ["leakyRelu", (x) => tf.leakyRelu(x, 0.1), -2, 2],
  ["clipByValue", (x) => tf.clipByValue(x, -0.5, 0.7), -2, 2],
  ["softmax", (x) => tf.softmax(x), -3, 3],
  ["logSoftmax", (x) => tf.logSoftmax(x), -3, 3],
  ["identity (clone)", tf.clone, -2, 2],
  ["zerosLike", tf.zerosLike, -2, 2],
  ["onesLike", tf.onesLike, -2, 2]
]

describe("unary kernels match cpu, forward and gradient", () => {
  for (const [name, f, lo, hi] of unaries) {
    torchTest(name, () => {
      for (const shape of [[7], [3, 5], [2, 3, 4]]) expectSame(valueAndGrads(f, () => [rand(shape, 3, lo, hi)]))
    })
  }
  torchTest("isNaN / isInf / isFinite / logicalNot on special values", () => {
    expectSame(() => {
      const x = tf.tensor([0, 1, -1, NaN, Infinity, -Infinity])
      return [tf.isNaN(x), tf.isInf(x), tf.isFinite(x), tf.logicalNot(tf.cast(x, "bool"))]
    })
  })
  torchTest("step keeps NaN", () => expectSame(() => tf.step(tf.tensor([NaN, -1, 0, 2]), 0.5)))
  torchTest("step over a long tensor (vectorised body and tail): NaN, ±0, ±∞ at every lane position", () => {
    const special = [NaN, -0, 0, Infinity, -Infinity, 1e-30, -1e-30]
    const xs = values(1003, 5)
    for (let i = 0; i < xs.length; i += 7) xs[i] = special[(i / 7) % special.length]!
    expectSame(() => [tf.step(tf.tensor(xs), 0.25), tf.step(tf.tensor(xs)), tf.relu(tf.tensor(xs))])
    // the ReLU gradient tfjs builds from it: mul(dy, step(x))
    expectSame(valueAndGrads((x) => tf.relu(x), () => [tf.tensor(xs, [17, 59])]))
  })
})

type Binary = (a: tf.Tensor, b: tf.Tensor) => tf.Tensor
const binaries: Array<[string, Binary, number, number]> = [
  ["add", tf.add, -2, 2],
  ["sub", tf.sub, -2, 2],
  ["mul", tf.mul, -2, 2],
  ["div", tf.div, 0.5, 2],
  ["pow", tf.pow, 0.5, 2],
  ["maximum", tf.maximum, -2, 2],
  ["minimum", tf.minimum, -2, 2],
  ["squaredDifference", tf.squaredDifference, -2, 2],
  ["atan2", tf.atan2, 0.2, 2],
  ["prelu", (a, b) => tf.prelu(a, b), -2, 2]
]

/** Broadcasting pairs: same shape, trailing vector, middle singleton, scalar. */
const shapePairs: Array<[number[], number[]]> = [
  [[2, 3], [2, 3]],
  [[2, 3, 4], [4]],
  [[2, 1, 4], [3, 1]],
  [[3, 4], []]
]

/** tfjs's own gradients of these do not reduce over broadcast axes (on any backend): forward only there. */
const noBroadcastGrad = new Set(["maximum", "minimum", "squaredDifference"])

describe("binary kernels match cpu with broadcasting, forward and gradients", () => {
  for (const [name, f, lo, hi] of binaries) {
    torchTest(name, () => {
      for (const [sa, sb] of name === "prelu" ? shapePairs.slice(0, 2) : shapePairs) {
        const inputs = () => [rand(sa, 5, lo, hi), rand(sb, 6, lo, hi)]
        const same = sa.length === sb.length && sa.every((d, i) => d === sb[i])
        if (noBroadcastGrad.has(name) && !same) expectSame(() => f(...(inputs() as [tf.Tensor, tf.Tensor])))
        else expectSame(valueAndGrads(f, inputs))
      }
    })
  }
  torchTest("floorDiv and mod, float and int32, negative operands", () => {
    expectSame(() => {
      const a = tf.tensor([7, -7, 7, -7, 5.5, -5.5])
      const b = tf.tensor([2, 2, -2, -2, 2, 2])
      const ai = tf.tensor([7, -7, 7, -7], undefined, "int32")
      const bi = tf.tensor([2, 2, -2, -2], undefined, "int32")
      return [tf.floorDiv(a, b), tf.mod(a, b), tf.floorDiv(ai, bi), tf.mod(ai, bi), tf.div(ai, bi)]
    })
  })
  torchTest("comparisons and logic give bool", () => {
    expectSame(() => {
      const a = tf.tensor([[1, 2, 3], [3, 2, 1]])
      const b = tf.tensor([2, 2, 2])
      const p = tf.tensor([true, false, true], undefined, "bool")
      const q = tf.tensor([true, true, false], undefined, "bool")
      return [
        tf.equal(a, b), tf.notEqual(a, b), tf.less(a, b), tf.lessEqual(a, b), tf.greater(a, b),
        tf.greaterEqual(a, b), tf.logicalAnd(p, q), tf.logicalOr(p, q), tf.logicalXor(p, q)
      ]
    })
  })
  torchTest("int32 arithmetic stays int32", () => {
    expectSame(() => {
      const a = tf.tensor([[1, -2, 3]], undefined, "int32")
      const b = tf.tensor([4, 5, -6], undefined, "int32")
      return [tf.add(a, b), tf.sub(a, b), tf.mul(a, b), tf.maximum(a, b), tf.abs(a), tf.neg(a), tf.square(a)]
    })
  })
  torchTest("cast between float32, int32 and bool (truncation toward zero)", () => {
    expectSame(() => {
      const x = tf.tensor([-2.7, -0.5, 0, 0.5, 2.7])
      const i = tf.cast(x, "int32")
      return [i, tf.cast(x, "bool"), tf.cast(i, "float32"), tf.cast(tf.cast(x, "bool"), "int32")]
    })
  })
  torchTest("where (select), also with a broadcast condition, and its gradient", () => {
    const cond = () => tf.greater(rand([3, 4], 3), 0)
    expectSame(valueAndGrads((a, b) => tf.where(cond(), a, b), () => [rand([3, 4], 1), rand([3, 4], 2)]))
    expectSame(() => tf.where(tf.tensor([true, false, true], undefined, "bool"), rand([2, 3], 1), rand([2, 3], 2)))
  })
  torchTest("addN and its gradient", () => {
    expectSame(valueAndGrads((a, b, c) => tf.addN([a, b, c]), () => [rand([2, 3], 1), rand([2, 3], 2), rand([2, 3], 3)]))
  })
  torchTest("elu gradient (EluGrad) and prelu with a per-channel alpha", () => {
    expectSame(valueAndGrads((x) => tf.elu(x), () => [rand([4, 5], 7, -3, 3)]))
    expectSame(valueAndGrads((x, a) => tf.prelu(x, a), () => [rand([2, 3, 4], 8), rand([4], 9, 0, 0.5)]))
  })
})
