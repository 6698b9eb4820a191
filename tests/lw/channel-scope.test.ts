/**
 * scope "channel" finds each site's channels where the layer puts them: axis 1 for a channelsFirst conv (its
 * output and an activation of the same rank), the last axis otherwise (layer-problem.ts `channelAxes`, stats.ts
 * `moments`). Reading the last axis of a channelsFirst output would take per-column statistics instead.
 */
import { beforeAll, describe, expect, test } from "bun:test"
import * as tf from "@tensorflow/tfjs"
import { defaultLwConfig } from "../../shared/lw/config.ts"
import { learnModelInit } from "../../shared/lw/greedy.ts"
import { layerProblem } from "../../shared/lw/layer-problem.ts"
import { moments } from "../../shared/lw/stats.ts"
import { forwardTo } from "../../shared/models/index.ts"
import { blobBatch } from "./fixtures.ts"

beforeAll(async () => {
  await tf.setBackend("cpu")
})

/** [N, 3, 8, 8] → conv "c" (4 filters, channelsFirst) → ReLU "act" → GAP (channelsFirst) → Dense "head". */
const channelsFirstModel = (): tf.LayersModel => {
  const input = tf.input({ shape: [3, 8, 8] })
  let x = tf.layers.conv2d({ name: "c", filters: 4, kernelSize: 3, padding: "same", dataFormat: "channelsFirst" }).apply(input) as tf.SymbolicTensor
  x = tf.layers.reLU({ name: "act" }).apply(x) as tf.SymbolicTensor
  x = tf.layers.globalAveragePooling2d({ name: "gap", dataFormat: "channelsFirst" }).apply(x) as tf.SymbolicTensor
  return tf.model({ inputs: input, outputs: tf.layers.dense({ name: "head", units: 2 }).apply(x) as tf.SymbolicTensor })
}
const batchOf = (seed: number) => tf.tidy(() => tf.transpose(blobBatch(32, 8, 8, 3, seed), [0, 3, 1, 2]))

/** Per-channel mean and variance of `t` along `axis`, in plain JS (unbiased). */
const perChannel = (t: tf.Tensor, axis: number) => {
  const values = t.arraySync() as number[][][][]
  const c = t.shape[axis]!
  const groups: number[][] = Array.from({ length: c }, () => [])
  values.forEach((a, i) => a.forEach((b, j) => b.forEach((d, k) => d.forEach((v, l) => groups[[i, j, k, l][axis]!]!.push(v)))))
  return groups.map((xs) => {
    const m = xs.reduce((s, v) => s + v, 0) / xs.length
    return { mean: m, variance: xs.reduce((s, v) => s + (v - m) ** 2, 0) / (xs.length - 1) }
  })
}

describe('scope "channel" on channelsFirst layers', () => {
  test("moments reduce over every axis but the channel axis given (1, or from the end)", () => {
    const t = tf.tidy(() => tf.randomNormal([5, 3, 4, 2], 0.5, 2, "float32", 1))
    for (const [axis, given] of [[1, 1], [3, -1], [2, -2]] as const) {
      const m = moments(t, "channel", true, given)
      const expected = perChannel(t, axis)
      expect(m.mean.shape).toEqual([t.shape[axis]!])
      expected.forEach((e, c) => {
        expect(m.mean.dataSync()[c]!).toBeCloseTo(e.mean, 4)
        expect(m.variance.dataSync()[c]!).toBeCloseTo(e.variance, 4)
      })
      tf.dispose([m.mean, m.variance])
    }
    t.dispose()
  })

  test("a channelsFirst conv's problem names axis 1; each of its channels meets the targets after LW", () => {
    const model = channelsFirstModel()
    const batch = batchOf(3)
    const problem = layerProblem(model, "c", batch, "zero")
    expect(problem.channelAxes).toEqual({ output: 1, activation: 1 })
    problem.dispose()
    // Channel scope: each channel gets 1/C of the gradient (config.ts), so a larger lr than the default.
    const result = learnModelInit(model, batch, { ...defaultLwConfig, scope: "channel", lr: 0.05 }, { seed: 2 })
    expect(result.layers.map((l) => [l.name, l.reached])).toEqual([["c", true]])
    const f = forwardTo(model, "c", batch)
    const [output, activation] = [f.output, f.activation!]
    // What LW stops at in channel scope: the average over channels of each squared error below the threshold.
    const average = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length
    expect(average(perChannel(output, 1).map((c) => c.mean ** 2))).toBeLessThan(1.01e-3)
    expect(average(perChannel(activation, 1).map((c) => (c.variance - 1) ** 2))).toBeLessThan(1.01e-3)
    // The last axis (image columns) is not what LW balanced: its per-column statistics spread.
    const columns = perChannel(activation, 3).map((c) => c.variance)
    expect(Math.max(...columns) - Math.min(...columns)).toBeGreaterThan(0.1)
    tf.dispose([f.input, output, activation, batch])
    model.dispose()
  })
})
