import { describe, expect } from "bun:test"
import * as tf from "@tensorflow/tfjs"
import { torchNative } from "../../shared/backend/torch/backend.ts"
import { expectSame, rand, runOn, torchTest, valueAndGrads, values } from "./compare.ts"

type Pad = "same" | "valid" | number | tf.backend_util.ExplicitPadding

/** [input NHWC, filter HWIO, stride, pad, dilation] */
const convCases: Array<[number[], number[], number, Pad, number]> = [
  [[2, 8, 8, 3], [3, 3, 3, 4], 1, "same", 1],
  [[2, 9, 9, 3], [3, 3, 3, 4], 2, "same", 1], // asymmetric 'same' padding
  [[2, 8, 8, 3], [3, 3, 3, 4], 2, "same", 1], // asymmetric: 0 top, 1 bottom
  [[1, 10, 10, 2], [5, 5, 2, 3], 1, "valid", 1],
  [[2, 11, 9, 2], [2, 4, 2, 3], 2, "valid", 1], // stride that does not divide, non-square
  [[1, 7, 7, 4], [1, 1, 4, 8], 2, "valid", 1], // ResNet downsample 1×1/2
  [[1, 16, 16, 3], [7, 7, 3, 4], 2, "same", 1], // ImageNet stem 7×7/2
  [[1, 8, 8, 2], [3, 3, 2, 2], 1, [[0, 0], [1, 2], [0, 1], [0, 0]], 1], // explicit padding
  [[1, 8, 8, 2], [3, 3, 2, 2], 1, 2, 1], // numeric padding
  [[1, 9, 9, 2], [3, 3, 2, 3], 1, "same", 2], // dilation
  [[1, 9, 9, 2], [3, 3, 2, 3], 1, "valid", 2]
]

const label = (c: (typeof convCases)[number]) =>
  `x ${c[0].join("×")}, f ${c[1].join("×")}, stride ${c[2]}, pad ${JSON.stringify(c[3])}, dilation ${c[4]}`

/**
 * Small outputs, where the shim convolves with one sgemm per filter tap for some passes (shim-conv.h
 * `use_tap_gemm`): the 1×1 and 2×2 layers of ResNet18 with the ImageNet stem on 28×28 inputs, the 4×4 layer4 of the
 * small stem, taps that only see padding, partial and gathered taps.
 */
const tinyConvCases: Array<[number[], number[], number, Pad, number]> = [
  [[3, 1, 1, 8], [3, 3, 8, 6], 1, "same", 1], // layer4: only the centre tap reaches the input, read pixel for pixel
  [[2, 2, 2, 5], [3, 3, 5, 4], 1, "same", 1], // layer3: every tap, each gathered with padding rows
  [[2, 2, 2, 4], [1, 1, 4, 6], 2, "valid", 1], // downsample 1×1/2 into layer4
  [[2, 4, 4, 3], [3, 3, 3, 4], 2, "valid", 1], // explicitly padded input, 3×3/2 into layer4
  [[2, 3, 3, 3], [3, 3, 3, 4], 2, "same", 1], // asymmetric 'same' padding, 2×2 out
  [[1, 1, 1, 3], [3, 3, 3, 2], 1, [[0, 0], [2, 0], [0, 2], [0, 0]], 1], // explicit padding: one live tap, not centred
  [[2, 1, 2, 3], [2, 3, 3, 2], 1, "same", 1], // non-square
  [[2, 5, 5, 2], [3, 3, 2, 3], 3, "valid", 1], // stride 3
  [[2, 4, 4, 3], [3, 3, 3, 4], 1, "same", 1], // 4×4: oneDNN forward and input gradient, tap-GEMM weight gradient
  [[2, 9, 9, 3], [3, 3, 3, 4], 2, "valid", 1], // 9×9 → 4×4 stride 2, the same split
  [[2, 6, 6, 3], [3, 3, 3, 4], 2, "valid", 1], // 2×2 without padding: oneDNN forward, tap-GEMM gradients
  [[2, 4, 4, 256], [3, 3, 256, 4], 1, "same", 1], // 4×4 with 256 input channels: tap-GEMM forward
  [[2, 4, 4, 4], [3, 3, 4, 256], 1, "same", 1] // 4×4 with 256 output channels: tap-GEMM input gradient
]

/** Sums of 2,304 float32 products (3×3×256) are compared to 1e-3, since the two backends add them in other orders. */
const convRtol = (fs: number[]) => (fs[0]! * fs[1]! * Math.max(fs[2]!, fs[3]!) > 1000 ? 1e-3 : 1e-4)

describe("tiny-output convolution (tap GEMM) matches cpu: forward, dx, dfilter", () => {
  for (const c of tinyConvCases) {
    const [xs, fs, stride, pad, dil] = c
    torchTest(label(c), () => {
      const inputs = () => [rand(xs, 1), rand(fs, 2, -0.5, 0.5)]
      expectSame(valueAndGrads((x, f) => tf.conv2d(x as tf.Tensor4D, f as tf.Tensor4D, stride, pad, "NHWC", dil), inputs), convRtol(fs))
    })
  }
  torchTest("dilation 2 on a 2×2 input (forward only: tfjs has no dilated conv gradient)", () => {
    expectSame(() => tf.conv2d(rand([2, 2, 2, 3], 1) as tf.Tensor4D, rand([3, 3, 3, 4], 2) as tf.Tensor4D, 1, "same", "NHWC", 2))
  })
  torchTest("fused with bias and relu at 1×1, and its gradient", () => {
    expectSame(valueAndGrads(
      (x, f, b) => tf.fused.conv2d({ x: x as tf.Tensor4D, filter: f as tf.Tensor4D, strides: 1, pad: "same", bias: b, activation: "relu" }),
      () => [rand([4, 1, 1, 6], 1), rand([3, 3, 6, 5], 2), rand([5], 3)]
    ))
  })
  torchTest("every conv case with the tap GEMM forced, and with ATen forced", () => {
    const native = torchNative()!
    try {
      for (const algorithm of ["gemm", "aten"] as const) {
        native.setConvAlgorithm(algorithm)
        for (const [xs, fs, stride, pad, dil] of [...convCases, ...tinyConvCases]) {
          const inputs = () => [rand(xs, 1), rand(fs, 2, -0.5, 0.5)]
          const conv = (x: tf.Tensor, f: tf.Tensor) => tf.conv2d(x as tf.Tensor4D, f as tf.Tensor4D, stride, pad, "NHWC", dil)
          expectSame(dil === 1 ? valueAndGrads(conv, inputs) : () => conv(...(inputs() as [tf.Tensor, tf.Tensor])), convRtol(fs))
        }
      }
    } finally {
      native.setConvAlgorithm("auto")
    }
  })
})

describe("convolution matches cpu: forward, dx, dfilter", () => {
  for (const c of convCases) {
    const [xs, fs, stride, pad, dil] = c
    torchTest(label(c), () => {
      const inputs = () => [rand(xs, 1), rand(fs, 2, -0.5, 0.5)]
      const conv = (x: tf.Tensor, f: tf.Tensor) => tf.conv2d(x as tf.Tensor4D, f as tf.Tensor4D, stride, pad, "NHWC", dil)
      // tfjs has no conv gradient with dilations > 1; there only the forward pass is compared.
      expectSame(dil === 1 ? valueAndGrads(conv, inputs) : () => conv(...(inputs() as [tf.Tensor, tf.Tensor])))
    })
  }
  torchTest("dimRoundingMode ceil / round with numeric padding", () => {
    for (const mode of ["ceil", "round", "floor"] as const) {
      expectSame(valueAndGrads(
        (x, f) => tf.conv2d(x as tf.Tensor4D, f as tf.Tensor4D, 2, 1, "NHWC", 1, mode),
        () => [rand([1, 8, 8, 2], 1), rand([3, 3, 2, 2], 2)]
      ))
    }
  })
  torchTest("fused conv2d with bias and relu / relu6 / leakyrelu / elu / sigmoid / prelu activations", () => {
    for (const activation of ["linear", "relu", "relu6", "leakyrelu", "elu", "sigmoid", "prelu"] as const) {
      expectSame(() =>
        tf.fused.conv2d({
          x: rand([2, 6, 6, 3], 1, -3, 3) as tf.Tensor4D, filter: rand([3, 3, 3, 4], 2) as tf.Tensor4D, strides: 1,
          pad: "same", bias: rand([4], 3), activation, leakyreluAlpha: 0.15,
          preluActivationWeights: activation === "prelu" ? rand([4], 4, 0, 0.3) : undefined
        })
      )
    }
    // gradient (tfjs differentiates fused convs with linear or relu activation)
    expectSame(valueAndGrads(
      (x, f, b) => tf.fused.conv2d({ x: x as tf.Tensor4D, filter: f as tf.Tensor4D, strides: 2, pad: "same", bias: b, activation: "relu" }),
      () => [rand([2, 7, 7, 3], 1), rand([3, 3, 3, 4], 2), rand([4], 3)]
    ))
  })
  torchTest("NCHW convolution", () => {
    expectSame(() => tf.conv2d(rand([2, 3, 8, 8], 1) as tf.Tensor4D, rand([3, 3, 3, 4], 2) as tf.Tensor4D, 1, "same", "NCHW"))
  })
  torchTest("depthwise conv2d: forward and both gradients, channel multiplier 2", () => {
    for (const [stride, pad] of [[1, "same"], [2, "valid"], [2, "same"]] as const) {
      expectSame(valueAndGrads(
        (x, f) => tf.depthwiseConv2d(x as tf.Tensor4D, f as tf.Tensor4D, stride, pad),
        () => [rand([2, 7, 7, 3], 1), rand([3, 3, 3, 2], 2)]
      ))
    }
  })
  torchTest("conv2dTranspose (Conv2DBackpropInput as a forward op)", () => {
    expectSame(() =>
      tf.conv2dTranspose(rand([1, 4, 4, 3], 1) as tf.Tensor4D, rand([3, 3, 2, 3], 2) as tf.Tensor4D, [1, 8, 8, 2], 2, "same")
    )
  })
})

/** [input NHWC, window, stride, pad] */
const poolCases: Array<[number[], number, number, Pad]> = [
  [[2, 8, 8, 3], 2, 2, "valid"], // LeNet
  [[2, 9, 9, 3], 3, 2, "same"], // ResNet stem pool (asymmetric padding)
  [[2, 8, 8, 3], 3, 2, "same"],
  [[1, 7, 7, 2], 3, 1, "same"],
  [[1, 7, 5, 2], 2, 2, "valid"], // odd sizes: last row/column dropped
  [[1, 6, 6, 1], 3, 1, [[0, 0], [2, 1], [1, 0], [0, 0]]], // explicit, padding bigger than half the window
  [[2, 9, 9, 10], 3, 2, "valid"], // channels 4 at a time in MaxPoolGrad, plus a tail of 2
  [[2, 8, 8, 6], 2, 2, "valid"], // LeNet's conv1 channels: one masked AVX-512 group, or 4 + an overlapping 4
  [[1, 6, 6, 17], 2, 2, "valid"], // a full 16-channel group and one more
  [[1, 7, 7, 16], 3, 2, "same"], // overlapping windows (gradients add up), 16 channels
  [[1, 7, 7, 6], 2, 2, "same"] // disjoint windows that do not tile the input (padding, uncovered pixels stay 0)
]

/**
 * Average pooling divides each window by its number of real (unpadded) pixels, in tfjs as in TF and PyTorch; but
 * tfjs's own AvgPoolGrad (cpu, webgl, wasm) divides by the full window size, so it disagrees with its forward pass
 * wherever windows overlap the padding. The torch backend returns the true gradient; the reference here is the
 * cpu backend differentiating the same pooling written as a depthwise convolution with a ones filter, divided by
 * the pixel count of each window.
 */
const expectAvgPoolGradient = (xs: number[], k: number, s: number, pad: Pad) => {
  const outShape = tf.backend_util.computePool2DInfo(xs as [number, number, number, number], k, s, 1, pad).outShape
  const r = () => rand([1, ...outShape.slice(1)], 7)
  const viaConv = (x: tf.Tensor) => {
    const ones = tf.ones([k, k, xs[3]!, 1]) as tf.Tensor4D
    const sum = tf.depthwiseConv2d(x as tf.Tensor4D, ones, s, pad)
    const count = tf.depthwiseConv2d(tf.onesLike(x) as tf.Tensor4D, ones, s, pad)
    return tf.div(sum, count)
  }
  const want = runOn("cpu", () => tf.grad((x: tf.Tensor) => tf.sum(tf.mul(viaConv(x), r())))(rand(xs, 1)))[0]!
  const got = runOn("torch", () => tf.grad((x: tf.Tensor) => tf.sum(tf.mul(tf.avgPool(x as tf.Tensor4D, k, s, pad), r())))(rand(xs, 1)))[0]!
  expect(got.shape).toEqual(want.shape)
  got.data.forEach((v, i) => expect(Math.abs(v - want.data[i]!)).toBeLessThan(1e-5))
}

describe("pooling matches cpu: forward and gradient", () => {
  for (const [xs, k, s, pad] of poolCases) {
    torchTest(`x ${xs.join("×")}, window ${k}, stride ${s}, pad ${JSON.stringify(pad)}`, () => {
      expectSame(valueAndGrads((x) => tf.maxPool(x as tf.Tensor4D, k, s, pad), () => [rand(xs, 1)]))
      expectSame(() => tf.avgPool(rand(xs, 1) as tf.Tensor4D, k, s, pad))
      expectAvgPoolGradient(xs, k, s, pad)
    })
  }
  torchTest("max pool: ties go to the first maximum, −∞ padding, all-negative windows", () => {
    const ties = () => [tf.tensor([1, 1, 1, 1, 2, 2, 0, 2, 3, 3, 3, 3, 0, 0, 0, 0], [1, 4, 4, 1])]
    expectSame(valueAndGrads((x) => tf.maxPool(x as tf.Tensor4D, 2, 2, "valid"), ties))
    // the same ties in 9 channels (two groups of 4 and a tail), each channel a scaled copy
    const ties9 = () => [tf.mul(ties()[0]!, tf.range(1, 10).reshape([1, 1, 1, 9]))]
    expectSame(valueAndGrads((x) => tf.maxPool(x as tf.Tensor4D, 2, 2, "valid"), ties9))
    expectSame(valueAndGrads((x) => tf.maxPool(x as tf.Tensor4D, 3, 2, "same"), () => [rand([1, 5, 5, 2], 3, -3, -1)]))
    // ties and NaN in 6 and 17 channels (the vector paths): NaN never wins, the first of equal maxima does
    for (const c of [6, 17]) {
      const withNaN = () => {
        const v = values(2 * 6 * 6 * c, 8)
        for (let i = 0; i < v.length; i += 5) v[i] = i % 3 === 0 ? NaN : 0.5
        return [tf.tensor(v, [2, 6, 6, c])]
      }
      expectSame(valueAndGrads((x) => tf.maxPool(x as tf.Tensor4D, 2, 2, "valid"), withNaN))
      expectSame(valueAndGrads((x) => tf.maxPool(x as tf.Tensor4D, 3, 2, "same"), withNaN))
    }
    expectSame(valueAndGrads(
      (x) => tf.maxPool(tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]], -Infinity) as tf.Tensor4D, 3, 2, "valid"),
      () => [rand([1, 6, 6, 2], 4)]
    ))
  })
  torchTest("dimRoundingMode ceil / round / floor with numeric padding", () => {
    for (const mode of ["ceil", "round", "floor"] as const) {
      expectSame(() => tf.maxPool(rand([1, 8, 8, 2], 1) as tf.Tensor4D, 3, 2, 1, mode))
      expectSame(() => tf.avgPool(rand([1, 8, 8, 2], 1) as tf.Tensor4D, 3, 2, 1, mode))
      // tfjs's MaxPool gradient drops dimRoundingMode, so cpu's gradient is wrong on the last row and column when
      // rounding up; the reference is cpu differentiating the same pooling with explicit −∞ padding.
      const out = tf.backend_util.computePool2DInfo([1, 8, 8, 2], 3, 2, 1, 1, mode).outHeight
      const bottom = Math.max(0, (out - 1) * 2 + 3 - 8 - 1)
      const r = () => rand([1, out, out, 2], 9)
      const want = runOn("cpu", () => tf.grad((x: tf.Tensor) => {
        const padded = tf.pad(x, [[0, 0], [1, bottom], [1, bottom], [0, 0]], -Infinity) as tf.Tensor4D
        return tf.sum(tf.mul(tf.maxPool(padded, 3, 2, "valid"), r()))
      })(rand([1, 8, 8, 2], 1)))[0]!
      const got = runOn("torch", () => tf.grad((x: tf.Tensor) => tf.sum(tf.mul(tf.maxPool(x as tf.Tensor4D, 3, 2, 1, mode), r())))(rand([1, 8, 8, 2], 1)))[0]!
      got.data.forEach((v, i) => expect(Math.abs(v - want.data[i]!)).toBeLessThan(1e-5))
    }
  })
  torchTest("global average pooling (mean over H, W)", () => {
    expectSame(valueAndGrads((x) => tf.mean(x, [1, 2]), () => [rand([2, 4, 4, 8], 5)]))
  })
})

describe("dense and batch norm match cpu", () => {
  torchTest("matMul with transposes, batched, and its gradients", () => {
    for (const [ta, tb] of [[false, false], [true, false], [false, true], [true, true]]) {
      const a = ta ? [5, 3] : [3, 5]
      const b = tb ? [4, 5] : [5, 4]
      expectSame(valueAndGrads((x, y) => tf.matMul(x, y, ta, tb), () => [rand(a, 1), rand(b, 2)]))
      expectSame(valueAndGrads((x, y) => tf.matMul(x, y, ta, tb), () => [rand([2, ...a], 3), rand([2, ...b], 4)]))
    }
    expectSame(() => tf.matMul(rand([2, 3, 4], 1), rand([1, 4, 5], 2))) // broadcast batch
    expectSame(() => tf.matMul(tf.transpose(rand([4, 3], 1)), tf.slice(rand([6, 6], 2), [1, 1], [4, 5]))) // strided views
    expectSame(() => tf.matMul(tf.tensor([[1, 2]], undefined, "int32"), tf.tensor([[3], [4]], undefined, "int32")))
  })
  torchTest("fused matMul with bias and activations, and its gradient", () => {
    for (const activation of ["linear", "relu", "relu6", "elu", "sigmoid", "leakyrelu"] as const) {
      expectSame(() => tf.fused.matMul({ a: rand([3, 5], 1, -2, 2), b: rand([5, 4], 2), bias: rand([4], 3), activation, leakyreluAlpha: 0.3 }))
    }
    expectSame(valueAndGrads(
      (a, b, bias) => tf.fused.matMul({ a, b, bias, activation: "relu", transposeB: true }),
      () => [rand([6, 5], 1), rand([4, 5], 2), rand([4], 3)]
    ))
  })
  torchTest("batchNorm with and without offset/scale, and its gradients", () => {
    expectSame(valueAndGrads(
      (x, m, v, o, s) => tf.batchNorm(x, m, v, o, s, 1e-5),
      () => [rand([2, 3, 3, 4], 1), rand([4], 2), rand([4], 3, 0.5, 2), rand([4], 4), rand([4], 5)]
    ))
    // (tfjs's batchNorm gradient needs offset and scale, on every backend: forward only here)
    expectSame(() => tf.batchNorm(rand([5, 4], 1), rand([4], 2), rand([4], 3, 0.5, 2)))
  })
  torchTest("tf.layers.batchNormalization in training mode (moments, then FusedBatchNorm)", () => {
    expectSame(() => {
      const layer = tf.layers.batchNormalization({ axis: -1, epsilon: 1e-5 })
      const x = rand([4, 3, 3, 5], 6, -2, 3)
      const y = layer.apply(x, { training: true }) as tf.Tensor
      const out = [y, ...layer.getWeights()].map((t) => t.clone())
      layer.dispose()
      return out
    })
  })
})
