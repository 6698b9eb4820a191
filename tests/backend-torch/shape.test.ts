import { describe } from "bun:test"
import * as tf from "@tensorflow/tfjs"
import { expectSame, rand, torchTest, valueAndGrads } from "./compare.ts"

const int = (v: number[], shape?: number[]) => tf.tensor(v, shape, "int32")

describe("shape kernels match cpu, forward and gradient", () => {
  torchTest("reshape (with -1), expandDims, squeeze", () => {
    expectSame(valueAndGrads((x) => tf.reshape(x, [4, -1]), () => [rand([2, 3, 4])]))
    expectSame(valueAndGrads((x) => tf.expandDims(x, 1), () => [rand([2, 3])]))
    expectSame(valueAndGrads((x) => tf.expandDims(x, -1), () => [rand([2, 3])]))
    expectSame(valueAndGrads((x) => tf.squeeze(x), () => [rand([2, 1, 3, 1])]))
  })
  torchTest("transpose, then ops on the (non-contiguous) result", () => {
    expectSame(valueAndGrads((x) => tf.transpose(x, [2, 0, 1]), () => [rand([2, 3, 4])]))
    expectSame(valueAndGrads((x) => tf.add(tf.transpose(x), 1).reshape([-1]), () => [rand([3, 5])]))
  })
  torchTest("slice", () => {
    expectSame(valueAndGrads((x) => tf.slice(x, [1, 0, 2], [1, -1, 2]), () => [rand([3, 4, 5])]))
    expectSame(valueAndGrads((x) => tf.slice(x, 2, 3), () => [rand([7])]))
  })
  torchTest("stridedSlice: strides, negative strides, masks (tfjs has no gradient for it)", () => {
    const x = () => rand([5, 6, 4])
    expectSame(() => tf.stridedSlice(x(), [0, 1, 0], [5, 6, 4], [2, 2, 1]))
    expectSame(() => tf.stridedSlice(x(), [4, 5, 0], [0, 0, 4], [-1, -2, 1]))
    expectSame(() => tf.stridedSlice(x(), [1, 0, 0], [3, 0, 0], [1, 1, 1], 0, 6)) // endMask
    expectSame(() => tf.stridedSlice(x(), [2, 0, 1], [3, 6, 3], [1, 1, 1], 0, 0, 0, 0, 1)) // shrinkAxisMask
    expectSame(() => tf.stridedSlice(x(), [0, 0], [2, 3], [1, 1], 0, 0, 0, 1)) // newAxisMask
    expectSame(() => tf.stridedSlice(x(), [1], [3], [1], 0, 0, 1)) // ellipsisMask
    expectSame(() => tf.stridedSlice(rand([4, 4]), [0, 0], [4, 4], [1, 1])) // identity
  })
  torchTest("concat and stack (any axis), unstack, split", () => {
    const xs = () => [rand([2, 3], 1), rand([2, 3], 2), rand([2, 3], 3)]
    expectSame(valueAndGrads((a, b, c) => tf.concat([a, b, c], 1), xs))
    expectSame(valueAndGrads((a, b, c) => tf.concat([a, b, c], -2), xs))
    expectSame(valueAndGrads((a, b, c) => tf.stack([a, b, c], 1), xs))
    expectSame(valueAndGrads((a, b, c) => tf.stack([a, b, c], -1), xs))
    expectSame(() => tf.unstack(rand([3, 2, 4]), 2))
    expectSame(valueAndGrads((x) => tf.addN(tf.unstack(x, 1)), () => [rand([3, 2, 4])]))
    expectSame(() => tf.split(rand([4, 6]), 3, 1))
    expectSame(() => tf.split(rand([4, 6]), [1, -1, 2], 1))
    expectSame(valueAndGrads((x) => tf.mul(...(tf.split(x, 2, 0) as [tf.Tensor, tf.Tensor])), () => [rand([4, 3])]))
  })
  torchTest("tile and broadcastTo", () => {
    expectSame(valueAndGrads((x) => tf.tile(x, [2, 1, 3]), () => [rand([2, 3, 2])]))
    expectSame(valueAndGrads((x) => tf.broadcastTo(x, [4, 2, 3]), () => [rand([2, 1])]))
  })
  torchTest("reverse", () => {
    expectSame(valueAndGrads((x) => tf.reverse(x, [0, 2]), () => [rand([2, 3, 4])]))
    expectSame(valueAndGrads((x) => tf.reverse(x), () => [rand([5])]))
  })
  torchTest("pad (constant, −∞) and mirrorPad (reflect, symmetric)", () => {
    expectSame(valueAndGrads((x) => tf.pad(x, [[1, 2], [0, 3]], 0.5), () => [rand([2, 3])]))
    expectSame(() => tf.pad(rand([1, 3, 3, 1]), [[0, 0], [1, 1], [1, 1], [0, 0]], -Infinity))
    expectSame(() => tf.mirrorPad(rand([3, 4]), [[1, 2], [2, 3]], "reflect"))
    expectSame(() => tf.mirrorPad(rand([3, 4]), [[2, 3], [3, 4]], "symmetric"))
    expectSame(valueAndGrads((x) => tf.mirrorPad(x, [[1, 1], [2, 0]], "reflect"), () => [rand([3, 4])]))
  })
  torchTest("gather: axes, batchDims, repeated indices, gradient (UnsortedSegmentSum)", () => {
    const idx = () => int([2, 0, 2, 1])
    expectSame(valueAndGrads((x) => tf.gather(x, idx()), () => [rand([3, 4])]))
    expectSame(valueAndGrads((x) => tf.gather(x, idx(), 1), () => [rand([2, 3, 2])]))
    expectSame(valueAndGrads((x) => tf.gather(x, int([0, 1, 1, 0], [2, 2]), -1), () => [rand([3, 2])]))
    expectSame(() => tf.gather(rand([2, 3, 4]), int([2, 0, 1, 1], [2, 2]), 2, 1))
  })
  torchTest("unsortedSegmentSum with out-of-range ids dropped", () => {
    expectSame(() => tf.unsortedSegmentSum(rand([5, 3]), int([0, 2, 0, 1, 2]) as tf.Tensor1D, 3))
    expectSame(() => tf.unsortedSegmentSum(rand([4]), int([0, 3, 1, 0]) as tf.Tensor1D, 2))
  })
  torchTest("oneHot (out-of-range rows are all off), fill, zeros/ones, range, linspace", () => {
    expectSame(() => [tf.oneHot(int([0, 3, -1, 2, 5]), 4), tf.oneHot(int([1, 0], [2, 1]), 3, 5, -1)])
    expectSame(() => [tf.fill([2, 3], 1.5), tf.fill([3], 7, "int32"), tf.zeros([2, 2]), tf.ones([3], "int32")])
    expectSame(() => [tf.range(0, 10, 3), tf.range(5, -2, -1.5), tf.range(0, 5, 1, "int32"), tf.range(3, 3)])
    expectSame(() => tf.linspace(-1, 2, 7))
  })
})

describe("reduction kernels match cpu, forward and gradient", () => {
  const x = () => [rand([3, 4, 5], 2, -2, 2)]
  torchTest("sum, mean over axes, negative axes, keepDims, all axes", () => {
    for (const f of [tf.sum, tf.mean]) {
      expectSame(valueAndGrads((t) => f(t), x))
      expectSame(valueAndGrads((t) => f(t, 1), x))
      expectSame(valueAndGrads((t) => f(t, [0, 2], true), x))
      expectSame(valueAndGrads((t) => f(t, -1), x))
    }
    expectSame(() => [tf.sum(int([1, 2, 3, 4], [2, 2]), 0), tf.mean(int([1, 2, 3, 4], [2, 2]), 1)])
    expectSame(() => tf.sum(tf.tensor([true, true, false], undefined, "bool")))
  })
  torchTest("sum over the leading axes (bias gradients: blocked column sums) for 1–64 columns, ragged row counts", () => {
    // columns 6 and 16 are LeNet's; 5 and 33 make m·c a multiple of 16 only with several rows per line; 65 falls
    // back to ATen; 1001 rows leave rows over after the last full group
    for (const [shape, seed] of [[[32, 28, 28, 6], 1], [[32, 10, 10, 16], 2], [[7, 11, 13, 5], 3], [[1001, 33], 4], [[100, 65], 5], [[4096, 1], 6]] as const) {
      const axes = shape.slice(0, -1).map((_, i) => i)
      // all positive: large sums, where accumulating in float alone would drift from cpu's double sums
      expectSame(() => tf.sum(rand([...shape], seed, 0, 1), axes), 1e-5)
      expectSame(() => tf.sum(rand([...shape], seed), axes, true))
    }
    expectSame(() => tf.sum(tf.tensor([[NaN, 1], [2, Infinity], [3, 4]]).tile([2000, 1]), 0))
  })
  torchTest("max, min (and gradients), prod", () => {
    for (const f of [tf.max, tf.min]) {
      expectSame(valueAndGrads((t) => f(t), x))
      expectSame(valueAndGrads((t) => f(t, [1, 2]), x))
      expectSame(valueAndGrads((t) => f(t, 0, true), x))
    }
    expectSame(valueAndGrads((t) => tf.prod(t, 1), () => [rand([3, 4], 3, 0.5, 1.5)]))
    expectSame(() => [tf.prod(rand([2, 3, 2], 4, 0.5, 1.5), [0, 2]), tf.prod(int([1, 2, 3, 4], [2, 2]))])
  })
  torchTest("all / any, argMax / argMin", () => {
    const b = () => tf.tensor([[true, false, true], [true, true, true]], undefined, "bool")
    expectSame(() => [tf.all(b()), tf.all(b(), 1), tf.any(b(), 0), tf.any(b(), [0, 1], true)])
    expectSame(() => [tf.argMax(rand([3, 5])), tf.argMax(rand([3, 5]), 1), tf.argMin(rand([3, 5]), -1)])
  })
  torchTest("cumsum / cumprod, exclusive and reverse", () => {
    for (const [exclusive, reverse] of [[false, false], [true, false], [false, true], [true, true]]) {
      expectSame(valueAndGrads((t) => tf.cumsum(t, 1, exclusive, reverse), () => [rand([2, 5])]))
      expectSame(() => tf.cumprod(rand([2, 5], 4, 0.5, 1.5), 1, exclusive, reverse))
    }
  })
  torchTest("softmax / logSoftmax over the last axis, and moments", () => {
    expectSame(valueAndGrads((t) => tf.softmax(t), () => [rand([4, 7], 5, -5, 5)]))
    expectSame(valueAndGrads((t) => tf.logSoftmax(t), () => [rand([2, 3, 7], 5, -5, 5)]))
    expectSame(() => {
      const m = tf.moments(rand([4, 3, 3, 2]), [0, 1, 2])
      return [m.mean, m.variance]
    })
  })
  torchTest("losses: softmax cross-entropy and mean squared error with their gradients", () => {
    const labels = () => tf.oneHot(int([1, 0, 3]), 4)
    expectSame(valueAndGrads((l) => tf.losses.softmaxCrossEntropy(labels(), l), () => [rand([3, 4], 7, -3, 3)]))
    expectSame(valueAndGrads((p) => tf.losses.meanSquaredError(rand([3, 4], 8), p), () => [rand([3, 4], 9)]))
  })
})
