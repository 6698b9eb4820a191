/**
 * Winograd F(2×2, 3×3) convolutions (shared/backend/torch/shim-winograd.h): forward, input and filter gradients,
 * against the cpu backend and against ATen's (oneDNN's) convolution on the same inputs, with Winograd forced
 * wherever it applies (3×3, stride 1, undilated), so small test shapes exercise it too.
 */
import { describe, expect } from "bun:test"
import * as tf from "@tensorflow/tfjs"
import { torchNative } from "../../shared/backend/torch/backend.ts"
import type { ConvAlgorithm } from "../../shared/backend/torch/native.ts"
import { expectSame, rand, runOn, torchTest, valueAndGrads } from "./compare.ts"

type Pad = "same" | "valid" | number | tf.backend_util.ExplicitPadding

/** [input NHWC, filter HWIO, pad]: odd and even sizes (partial tiles), one pixel, padding on some sides only. */
const cases: Array<[number[], number[], Pad]> = [
  [[2, 8, 8, 3], [3, 3, 3, 4], "same"],
  [[2, 7, 7, 5], [3, 3, 5, 6], "same"], // odd: the last row and column of tiles half outside
  [[1, 1, 1, 4], [3, 3, 4, 3], "same"], // one pixel: only the centre tap sees it
  [[2, 4, 4, 17], [3, 3, 17, 18], "same"], // channel counts that are no multiple of a vector
  [[1, 9, 6, 2], [3, 3, 2, 3], "valid"], // no padding, non-square
  [[1, 5, 5, 2], [3, 3, 2, 2], "valid"], // 3×3 output: one tile's second row and column fall outside
  [[1, 8, 8, 2], [3, 3, 2, 2], [[0, 0], [1, 2], [0, 1], [0, 0]]], // explicit asymmetric padding
  [[1, 6, 6, 2], [3, 3, 2, 3], 2] // padding 2: output larger than the input
]

const label = ([xs, fs, pad]: (typeof cases)[number]) => `x ${xs.join("×")}, f ${fs.join("×")}, pad ${JSON.stringify(pad)}`

const withAlgorithm = <T>(algorithm: ConvAlgorithm, fn: () => T): T => {
  const native = torchNative()!
  native.setConvAlgorithm(algorithm)
  try {
    return fn()
  } finally {
    native.setConvAlgorithm("auto")
  }
}

const conv = (pad: Pad) => (x: tf.Tensor, f: tf.Tensor) => tf.conv2d(x as tf.Tensor4D, f as tf.Tensor4D, 1, pad, "NHWC")

describe("Winograd F(2×2, 3×3) matches cpu: forward, dx, dfilter", () => {
  for (const c of cases) {
    const [xs, fs, pad] = c
    torchTest(label(c), () => {
      withAlgorithm("winograd", () => expectSame(valueAndGrads(conv(pad), () => [rand(xs, 1), rand(fs, 2, -0.5, 0.5)])))
    })
  }
  torchTest("fused with bias (added in the output transform) and relu, and its gradient", () => {
    withAlgorithm("winograd", () =>
      expectSame(valueAndGrads(
        (x, f, b) => tf.fused.conv2d({ x: x as tf.Tensor4D, filter: f as tf.Tensor4D, strides: 1, pad: "same", bias: b, activation: "relu" }),
        () => [rand([2, 6, 6, 4], 1), rand([3, 3, 4, 5], 2, -0.5, 0.5), rand([5], 3)]
      ))
    )
  })
})

describe("Winograd matches ATen's convolution at ResNet18's shapes (batch 2)", () => {
  // layer1 at 28×28 is left out only for time; 14×14×128 has the same odd-free tiling.
  for (const [size, ch] of [[14, 128], [7, 256], [4, 512]] as const) {
    torchTest(`${size}×${size}×${ch}, 3×3 same: forward, dx, dfilter`, () => {
      const inputs = () => [rand([2, size, size, ch], 1), rand([3, 3, ch, ch], 2, -0.05, 0.05)]
      const run = (a: ConvAlgorithm) => withAlgorithm(a, () => runOn("torch", valueAndGrads(conv("same"), inputs)))
      const wino = run("winograd")
      const aten = run("aten")
      expect(wino.map((o) => o.shape)).toEqual(aten.map((o) => o.shape))
      wino.forEach((w, i) => {
        const a = aten[i]!.data
        const scale = a.reduce((m, v) => Math.max(m, Math.abs(v)), 0)
        // Sums of 9·ch products in another order: within 1e-4 of the output's largest value.
        const worst = w.data.reduce((m, v, j) => Math.max(m, Math.abs(v - a[j]!)), 0)
        expect({ output: i, worst: worst / scale < 1e-4 }).toEqual({ output: i, worst: true })
      })
    })
  }
  torchTest("its shape rule (the default, auto) picks Winograd at 8×8×64 and leaves the 1-channel stem conv alone", () => {
    const run = (a: ConvAlgorithm, ch: number) =>
      withAlgorithm(a, () => runOn("torch", valueAndGrads(conv("same"), () => [rand([2, 8, 8, ch], 1), rand([3, 3, ch, 64], 2, -0.05, 0.05)])))
    const same = (a: ReturnType<typeof run>, b: ReturnType<typeof run>) => a.every((o, i) => o.data.every((v, j) => v === b[i]!.data[j]))
    expect(same(run("auto", 64), run("winograd", 64))).toBe(true)
    expect(same(run("auto", 64), run("direct", 64))).toBe(false)
    expect(same(run("auto", 1), run("direct", 1))).toBe(true)
  })
})
