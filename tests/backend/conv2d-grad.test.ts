import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import * as tf from "@tensorflow/tfjs"
import { expectSameOnWasm, input, useWasm, withGrads } from "./compare.ts"

let restore = "cpu"
beforeAll(async () => {
  restore = await useWasm()
})
afterAll(async () => {
  await tf.setBackend(restore)
})

type Pad = "same" | "valid" | number | [[number, number], [number, number], [number, number], [number, number]]
interface ConvCase {
  readonly x: [number, number, number, number]
  readonly f: [number, number, number, number]
  readonly strides: number | [number, number]
  readonly pad: Pad
  readonly rounding?: "floor" | "round" | "ceil"
}

// Shapes of LeNet, ResNet18 (both stems, 1×1 shortcuts) and the 4-conv CNN, shrunk; odd/even sizes so 'same'
// pads unevenly and 'valid' leaves rows unused; batch sizes 1 to 5; non-square strides and explicit pads.
const cases: Array<ConvCase> = [
  { x: [2, 12, 12, 1], f: [5, 5, 1, 6], strides: 1, pad: "same" }, // LeNet conv1
  { x: [3, 14, 14, 6], f: [5, 5, 6, 16], strides: 1, pad: "valid" }, // LeNet conv2
  { x: [2, 8, 8, 3], f: [3, 3, 3, 4], strides: 1, pad: "same" },
  { x: [2, 8, 8, 3], f: [3, 3, 3, 4], strides: 1, pad: 1 },
  { x: [2, 9, 9, 3], f: [3, 3, 3, 4], strides: 2, pad: "same" },
  { x: [2, 10, 10, 3], f: [3, 3, 3, 4], strides: 2, pad: "same" },
  { x: [2, 9, 9, 3], f: [3, 3, 3, 4], strides: 2, pad: "valid" },
  { x: [2, 10, 10, 3], f: [3, 3, 3, 4], strides: 2, pad: "valid" },
  { x: [1, 10, 10, 2], f: [3, 3, 2, 4], strides: 2, pad: [[0, 0], [1, 1], [1, 1], [0, 0]] }, // PyTorch pad 1, s2
  { x: [3, 12, 12, 3], f: [7, 7, 3, 4], strides: 2, pad: "same" }, // ImageNet stem
  { x: [2, 11, 11, 3], f: [7, 7, 3, 2], strides: 2, pad: 3 },
  { x: [2, 8, 8, 4], f: [1, 1, 4, 5], strides: 2, pad: "valid" }, // shortcut
  { x: [5, 7, 7, 4], f: [1, 1, 4, 3], strides: 1, pad: "valid" },
  { x: [2, 11, 13, 2], f: [5, 5, 2, 3], strides: 2, pad: 2 }, // 4-conv CNN
  { x: [2, 12, 12, 2], f: [5, 5, 2, 3], strides: 2, pad: [[0, 0], [2, 2], [2, 2], [0, 0]] },
  { x: [2, 9, 7, 2], f: [3, 2, 2, 3], strides: [2, 3], pad: [[0, 0], [1, 2], [0, 1], [0, 0]] },
  { x: [2, 9, 9, 2], f: [3, 3, 2, 3], strides: 3, pad: 1 },
  { x: [1, 5, 5, 1], f: [5, 5, 1, 2], strides: 1, pad: "valid" }, // filter as large as the input
  // strides larger than the filter (rows no tap reaches), and pads larger than the filter
  { x: [2, 10, 10, 2], f: [2, 2, 2, 3], strides: 3, pad: "same" },
  { x: [2, 9, 9, 2], f: [1, 1, 2, 3], strides: 3, pad: "valid" },
  { x: [1, 7, 7, 2], f: [3, 3, 2, 2], strides: 2, pad: [[0, 0], [3, 0], [0, 4], [0, 0]] },
  { x: [2, 6, 6, 3], f: [4, 4, 3, 2], strides: 4, pad: "same" },
  { x: [2, 8, 8, 1], f: [3, 3, 1, 2], strides: 2, pad: 1, rounding: "floor" } // (8 − 3 + 2)/2 + 1 = 4.5
]

const label = (c: ConvCase) => `x ${c.x} f ${c.f} s ${c.strides} pad ${JSON.stringify(c.pad)} ${c.rounding ?? ""}`

describe("conv2d gradients on wasm equal cpu (Conv2DBackpropFilter, Conv2DBackpropInput)", () => {
  for (const c of cases) {
    test(label(c), async () => {
      await expectSameOnWasm(
        [input(c.x, 1), input(c.f, 2)],
        withGrads((x, f) =>
          tf.conv2d(x as tf.Tensor4D, f as tf.Tensor4D, c.strides, c.pad as never, "NHWC", 1, c.rounding)
        )
      )
    })
  }
})

test("an output size rounded up (dimRoundingMode ceil) equals the same conv with the extra padding explicit", async () => {
  // (8 − 3 + 2)/2 + 1 = 4.5 → 5 rows: the last one reaches one row past the stated padding of 1. tfjs's gradient
  // drops the rounding mode, so the cpu backend's own gradient of the ceil form ignores that row; the explicit form
  // is the reference.
  await expectSameOnWasm(
    [input([2, 8, 8, 1], 1), input([3, 3, 1, 2], 2)],
    withGrads((x, f) => tf.conv2d(x as tf.Tensor4D, f as tf.Tensor4D, 2, 1, "NHWC", 1, "ceil")),
    withGrads((x, f) => tf.conv2d(x as tf.Tensor4D, f as tf.Tensor4D, 2, [[0, 0], [1, 2], [1, 2], [0, 0]]))
  )
})

describe("the kernels called directly, with an arbitrary upstream gradient", () => {
  for (const c of cases) {
    test(label(c), async () => {
      const y = tf.tidy(() =>
        tf.conv2d(tf.zeros(c.x) as tf.Tensor4D, tf.zeros(c.f) as tf.Tensor4D, c.strides, c.pad as never, "NHWC", 1,
          c.rounding)
      )
      const dyShape = y.shape
      y.dispose()
      const attrs = { strides: c.strides, pad: c.pad, dataFormat: "NHWC", dimRoundingMode: c.rounding }
      await expectSameOnWasm([input(c.x, 3), input(dyShape, 4), input(c.f, 5)], (x, dy, f) => [
        tf.engine().runKernel("Conv2DBackpropFilter", { x: x!, dy: dy! }, { ...attrs, filterShape: c.f } as never) as tf.Tensor,
        tf.engine().runKernel("Conv2DBackpropInput", { dy: dy!, filter: f! }, { ...attrs, inputShape: c.x } as never) as tf.Tensor
      ])
    })
  }
})

describe("transposed convolution (Conv2DBackpropInput as a forward op) and its gradients", () => {
  const transposed: Array<[number[], number[], number[], number, "same" | "valid"]> = [
    // dy shape, filter [fh, fw, out, in], output shape, stride, pad
    [[2, 4, 4, 3], [3, 3, 2, 3], [2, 8, 8, 2], 2, "same"],
    [[2, 4, 4, 3], [3, 3, 2, 3], [2, 9, 9, 2], 2, "valid"],
    [[1, 5, 5, 2], [5, 5, 1, 2], [1, 5, 5, 1], 1, "same"],
    [[3, 3, 3, 2], [4, 4, 2, 2], [3, 10, 10, 2], 3, "valid"]
  ]
  for (const [dy, f, out, s, pad] of transposed) {
    test(`dy ${dy} f ${f} → ${out} s ${s} ${pad}`, async () => {
      await expectSameOnWasm(
        [input(dy, 6), input(f, 7)],
        withGrads((d, w) =>
          tf.conv2dTranspose(d as tf.Tensor4D, w as tf.Tensor4D, out as [number, number, number, number], s, pad)
        )
      )
    })
  }
})

describe("dilated convolution", () => {
  // A numeric pad is only tested with square geometry: tfjs-core sizes its output from the filter HEIGHT and
  // stride HEIGHT for both axes (computeOutputShape2D), so a non-square effective filter is wrong on every backend.
  test("forward (the shipped wasm Conv2D) equals cpu for dilations 2 and [2, 3]", async () => {
    const explicit = [[0, 0], [2, 1], [0, 3], [0, 0]]
    for (const [dilations, pads] of [[2, ["same", "valid", 1, explicit]], [[2, 3], ["same", "valid", explicit]]] as const) {
      for (const pad of pads) {
        await expectSameOnWasm([input([2, 11, 11, 2], 8), input([3, 3, 2, 3], 9)], (x, f) => [
          tf.conv2d(x as tf.Tensor4D, f as tf.Tensor4D, 1, pad as never, "NHWC", dilations as never)
        ])
      }
    }
  })

  test("gradients are refused by tfjs itself on both backends (so no dilated gradient kernel is needed)", async () => {
    for (const backend of ["cpu", "wasm"]) {
      await tf.setBackend(backend)
      const x = tf.ones([1, 7, 7, 1]) as tf.Tensor4D
      const f = tf.ones([3, 3, 1, 1]) as tf.Tensor4D
      expect(() => tf.grad((w) => tf.sum(tf.conv2d(x, w as tf.Tensor4D, 1, "valid", "NHWC", 2)))(f)).toThrow(
        /dilation/
      )
      tf.dispose([x, f])
    }
  })
})
