import { afterAll, beforeAll, describe, test } from "bun:test"
import * as tf from "@tensorflow/tfjs"
import { expectSameOnWasm, input, sizeOf, useWasm, values, withGrads, type Input } from "./compare.ts"

let restore = "cpu"
beforeAll(async () => {
  restore = await useWasm()
})
afterAll(async () => {
  await tf.setBackend(restore)
})

type Pad = "same" | "valid" | number
interface PoolCase {
  readonly x: [number, number, number, number]
  readonly size: number | [number, number]
  readonly strides: number | [number, number]
  readonly pad: Pad
}

// LeNet's 2×2/2, ResNet's 3×3/2 (overlapping windows), odd sizes that leave rows out or pad unevenly.
const cases: Array<PoolCase> = [
  { x: [2, 8, 8, 3], size: 2, strides: 2, pad: "valid" },
  { x: [3, 10, 10, 4], size: 2, strides: 2, pad: "valid" },
  { x: [2, 9, 9, 3], size: 2, strides: 2, pad: "valid" },
  { x: [2, 9, 9, 3], size: 2, strides: 2, pad: "same" },
  { x: [2, 9, 9, 3], size: 3, strides: 2, pad: "same" },
  { x: [2, 8, 8, 3], size: 3, strides: 2, pad: "same" },
  { x: [1, 8, 8, 5], size: 3, strides: 1, pad: "same" },
  { x: [2, 9, 8, 2], size: 3, strides: 2, pad: "valid" },
  { x: [4, 7, 7, 2], size: 3, strides: 2, pad: 1 },
  { x: [1, 6, 6, 2], size: [2, 3], strides: [1, 2], pad: "same" },
  { x: [2, 5, 5, 1], size: 5, strides: 1, pad: "valid" } // one window: global max
]

const label = (c: PoolCase) => `x ${c.x} size ${c.size} s ${c.strides} pad ${c.pad}`

/** Inputs that exercise the tie and sign rules: random, all negative, and ReLU'd integers (many tied zeros). */
const inputsFor = (shape: ReadonlyArray<number>): Array<[string, Input]> => {
  const n = sizeOf(shape)
  const random = values(n, 11)
  return [
    ["random", { shape, data: random }],
    ["all negative", { shape, data: random.map((v) => v - 1.5) }],
    ["tied zeros and integers", { shape, data: random.map((v) => Math.max(0, Math.round(v * 3))) }]
  ]
}

describe("max pool: forward and gradient (MaxPoolGrad) on wasm equal cpu", () => {
  for (const c of cases) {
    for (const [kind, x] of inputsFor(c.x)) {
      test(`${label(c)}, ${kind}`, async () => {
        await expectSameOnWasm([x], withGrads((t) => tf.maxPool(t as tf.Tensor4D, c.size, c.strides, c.pad)))
      })
    }
  }

  test("after −∞ padding (the models' PyTorch-style max-pool padding), 3×3 stride 2", async () => {
    for (const [, x] of inputsFor([2, 8, 8, 3])) {
      await expectSameOnWasm([x], withGrads((t) =>
        tf.maxPool(tf.pad(t, [[0, 0], [1, 1], [1, 1], [0, 0]], -Infinity) as tf.Tensor4D, 3, 2, "valid")
      ))
    }
  })
})

describe("average pool (the shipped AvgPool and AvgPoolGrad) and global average pooling", () => {
  for (const c of cases) {
    test(label(c), async () => {
      await expectSameOnWasm([input(c.x, 12)], withGrads((t) => tf.avgPool(t as tf.Tensor4D, c.size, c.strides, c.pad)))
    })
  }

  test("global average pool as a mean over H and W (tf.layers.globalAveragePooling2d)", async () => {
    await expectSameOnWasm([input([3, 5, 5, 8], 13)], withGrads((t) => tf.mean(t, [1, 2])))
  })
})

describe("output sizes rounded by dimRoundingMode (the shipped kernels leave the extra row unwritten)", () => {
  const roundings = { ceil: Math.ceil, round: Math.round, floor: Math.floor } as const
  for (const [rounding, roundFn] of Object.entries(roundings)) {
    for (const [size, strides, pad] of [[3, 2, 1], [2, 2, 1], [3, 3, 2]] as const) {
      test(`max and average pool ${size}×${size} stride ${strides} pad ${pad} on 8×8, ${rounding}`, async () => {
        const mode = rounding as keyof typeof roundings
        // Forward: the same as cpu. The max-pool gradient: the same as cpu's for the equivalent explicit padding,
        // since tfjs's pool gradients drop the rounding mode and the cpu kernel then ignores dy's extra row. (The
        // average-pool gradient has that tfjs bug on every backend, the shipped wasm AvgPoolGrad included.)
        const out = roundFn((8 - size + 2 * pad) / strides + 1)
        const bottom = (out - 1) * strides + size - 8 - pad
        const explicit: [[number, number], [number, number], [number, number], [number, number]] = [[0, 0],
          [pad, bottom], [pad, bottom], [0, 0]]
        await expectSameOnWasm([input([2, 8, 8, 3], 14)], (x) => [
          tf.avgPool(x as tf.Tensor4D, size, strides, pad, mode),
          tf.maxPool(x as tf.Tensor4D, size, strides, pad, mode)
        ])
        await expectSameOnWasm(
          [input([2, 8, 8, 3], 14)],
          withGrads((t) => tf.maxPool(t as tf.Tensor4D, size, strides, pad, mode)),
          withGrads((t) => tf.maxPool(t as tf.Tensor4D, size, strides, explicit))
        )
      })
    }
  }
})
