import { beforeAll, describe, expect, test } from "bun:test"
import * as tf from "@tensorflow/tfjs"
import { defaultLwConfig, lrAtEpoch, lwPresets, resolveLwConfig, type LwConfig } from "../../shared/lw/config.ts"
import { layerStatsOf, lwLoss, moments } from "../../shared/lw/stats.ts"

beforeAll(async () => {
  await tf.setBackend("cpu")
})

/** Plain-JS reference: mean and variance of a list. */
const ref = (xs: number[], unbiased: boolean) => {
  const m = xs.reduce((a, b) => a + b, 0) / xs.length
  const ss = xs.reduce((a, b) => a + (b - m) ** 2, 0)
  return { mean: m, variance: ss / (unbiased ? xs.length - 1 : xs.length) }
}

// [2, 3, 2]: batch 2, 3 positions, 2 channels.
const values = [1, -2, 3, 0, -1, 4, 2, 2, 0, -3, 5, 1]
const channel = (c: number) => values.filter((_, i) => i % 2 === c)

describe("moments", () => {
  test("tensor scope: one scalar over every element; unbiased divides by N − 1", () => {
    const t = tf.tensor3d(values, [2, 3, 2])
    for (const unbiased of [true, false]) {
      const m = moments(t, "tensor", unbiased)
      expect(m.mean.shape).toEqual([])
      expect(m.mean.dataSync()[0]!).toBeCloseTo(ref(values, unbiased).mean, 5)
      expect(m.variance.dataSync()[0]!).toBeCloseTo(ref(values, unbiased).variance, 5)
      tf.dispose([m.mean, m.variance])
    }
    t.dispose()
  })

  test("channel scope: per last-axis channel over the other axes", () => {
    const t = tf.tensor3d(values, [2, 3, 2])
    const m = moments(t, "channel", true)
    expect(m.mean.shape).toEqual([2])
    for (const c of [0, 1]) {
      expect(m.mean.dataSync()[c]!).toBeCloseTo(ref(channel(c), true).mean, 5)
      expect(m.variance.dataSync()[c]!).toBeCloseTo(ref(channel(c), true).variance, 5)
    }
    tf.dispose([t, m.mean, m.variance])
  })
})

describe("lwLoss", () => {
  // A pre-activation and its relu: different statistics, so a term on the wrong site shows.
  const outputValues = values
  const activationValues = values.map((v) => Math.max(0, v))
  const o = ref(outputValues, true)
  const a = ref(activationValues, true)
  const lossOf = (config: LwConfig) =>
    tf.tidy(() => {
      const sites = { output: tf.tensor3d(outputValues, [2, 3, 2]), activation: tf.tensor3d(activationValues, [2, 3, 2]) }
      // The activation site is a relu: "auto" resolves to the thesis' variance 1 there.
      const l = lwLoss(sites, resolveLwConfig(config, "relu").config)
      return [l.meanLoss, l.varLoss, l.loss].map((x) => x.dataSync()[0]!)
    })

  test("each preset reads the sites it names; an off term is 0", () => {
    const cases: Array<[keyof typeof lwPresets, number, number]> = [
      ["lw", o.mean ** 2, (a.variance - 1) ** 2],
      ["lae1", a.mean ** 2, (a.variance - 1) ** 2],
      ["lae2", o.mean ** 2, 0],
      ["lae3", 0, (a.variance - 1) ** 2],
      ["lae4", o.mean ** 2, (o.variance - 1) ** 2]
    ]
    for (const [name, meanLoss, varLoss] of cases) {
      const [m, v, l] = lossOf(lwPresets[name])
      expect(m!).toBeCloseTo(meanLoss, 4)
      expect(v!).toBeCloseTo(varLoss, 4)
      expect(l!).toBeCloseTo(meanLoss + varLoss, 4)
    }
  })

  test("α scales the term it is told to; targets are configurable", () => {
    const [m1, v1, l1] = lossOf({ ...defaultLwConfig, alpha: 3, alphaScales: "mean" })
    expect(l1!).toBeCloseTo(3 * m1! + v1!, 4)
    const [m2, v2, l2] = lossOf({ ...defaultLwConfig, alpha: 3, alphaScales: "variance" })
    expect(l2!).toBeCloseTo(m2! + 3 * v2!, 4)
    const [m3, v3] = lossOf({ ...defaultLwConfig, meanTarget: 0.5, varianceTarget: 2 })
    expect(m3!).toBeCloseTo((o.mean - 0.5) ** 2, 4)
    // The variance term is the error relative to its target (exactly (var − 1)² at the default 1).
    expect(v3!).toBeCloseTo(((a.variance - 2) / 2) ** 2, 4)
  })

  test("channel scope averages the per-channel squared errors", () => {
    const [m, v] = lossOf({ ...defaultLwConfig, scope: "channel" })
    const perChannel = [0, 1].map((c) => ({
      o: ref(channel(c), true),
      a: ref(activationValues.filter((_, i) => i % 2 === c), true)
    }))
    expect(m!).toBeCloseTo((perChannel[0]!.o.mean ** 2 + perChannel[1]!.o.mean ** 2) / 2, 4)
    expect(v!).toBeCloseTo(((perChannel[0]!.a.variance - 1) ** 2 + (perChannel[1]!.a.variance - 1) ** 2) / 2, 4)
  })

  test("layerStatsOf reports whole-tensor statistics and leaks nothing", () => {
    const sites = { output: tf.tensor3d(outputValues, [2, 3, 2]), activation: tf.tensor3d(activationValues, [2, 3, 2]) }
    const before = tf.memory().numTensors
    const s = layerStatsOf(sites, true)
    expect(tf.memory().numTensors).toBe(before)
    expect(s.outputMean).toBeCloseTo(o.mean, 5)
    expect(s.outputVar).toBeCloseTo(o.variance, 5)
    expect(s.activationMean).toBeCloseTo(a.mean, 5)
    expect(s.activationVar).toBeCloseTo(a.variance, 5)
    tf.dispose([sites.output, sites.activation])
  })
})

describe("schedule", () => {
  test("the thesis schedule multiplies lr by 0.01 every 5 epochs; the default keeps it", () => {
    const thesis = lwPresets.lwThesisSchedule
    const expected = [0.01, 0.01, 0.0001, 0.0001, 0.000001]
    ;[0, 4, 5, 9, 10].forEach((e, i) => expect(lrAtEpoch(thesis, e) / expected[i]!).toBeCloseTo(1, 12))
    expect(lrAtEpoch(defaultLwConfig, 199)).toBe(0.01)
  })
})
