/**
 * The reference implementation (shared/lw/reference.ts) as the oracle for the general one (greedy.ts over
 * layer-problem.ts and learn-layer.ts): same model, seed and config → same per-layer epochs, stop reasons and
 * statistics, and weights within float32 rounding.
 *
 * Dense layers come out bit-equal (both compute x·W with one matMul and the same ops after it). Conv layers do
 * not: the general conv is im2col·kernel (one matMul), the reference's tf.conv2d sums the same products in another
 * order, and each step's float32 rounding (~1e-7 relative) is carried by momentum through the following steps.
 * Measured on the cpu backend: kernels within 4e-7 relative, the same epoch counts and stop reasons. The bounds
 * (1e-4 relative on weights, 1e-4 absolute on statistics whose targets are met to 0.032) leave ~250× margin and
 * still catch any difference in the method (a different loss, site, stopping rule or update moves them by >1e-2).
 */
import { beforeAll, describe, expect, test } from "bun:test"
import * as tf from "@tensorflow/tfjs"
import { defaultLwConfig, lwPresets, type LwConfig } from "../../shared/lw/config.ts"
import { learnModelInit } from "../../shared/lw/greedy.ts"
import { referenceLw } from "../../shared/lw/reference.ts"
import { blobBatch } from "./fixtures.ts"

/** The method with the thesis' targets spelt out (the reference takes numbers; the default may resolve per activation). */
const method: LwConfig = { ...defaultLwConfig, meanTarget: 0, varianceTarget: 1 }

beforeAll(async () => {
  await tf.setBackend("cpu")
})

const denseStack = () =>
  tf.sequential({
    layers: [
      tf.layers.flatten({ inputShape: [6, 6, 1], name: "flat" }),
      tf.layers.dense({ units: 16, activation: "relu", name: "d1" }),
      tf.layers.dense({ units: 12, name: "d2" }),
      tf.layers.activation({ activation: "tanh", name: "d2.act" }),
      tf.layers.dense({ units: 10, activation: "elu", name: "d3" }),
      tf.layers.dense({ units: 3, name: "out" })
    ]
  })

const convStack = () =>
  tf.sequential({
    layers: [
      tf.layers.conv2d({ inputShape: [10, 10, 2], filters: 4, kernelSize: 3, padding: "same", activation: "relu", name: "c1" }),
      tf.layers.conv2d({ filters: 6, kernelSize: 3, strides: 2, padding: "valid", name: "c2" }),
      tf.layers.reLU({ name: "c2.act" }),
      tf.layers.maxPooling2d({ poolSize: 2, name: "pool" }),
      tf.layers.conv2d({ filters: 8, kernelSize: 2, dilationRate: 1, padding: "same", useBias: false, activation: "relu", name: "c3" }),
      tf.layers.flatten({ name: "flat" }),
      tf.layers.dense({ units: 8, activation: "relu", name: "d1" }),
      tf.layers.dense({ units: 3, name: "out" })
    ]
  })

const maxRelDiff = (a: Float32Array, b: Float32Array) => {
  let diff = 0
  let scale = 0
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i]! - b[i]!))
    scale = Math.max(scale, Math.abs(b[i]!))
  }
  return diff / scale
}

const compare = (build: () => tf.Sequential, batch: tf.Tensor, config: LwConfig, expectedLayers: string[]) => {
  const general = build()
  const reference = build()
  const g = learnModelInit(general, batch, config, { seed: 7 })
  const r = referenceLw(reference, batch, config, 7)
  expect(r.map((l) => l.name)).toEqual(expectedLayers)
  expect(g.layers.map((l) => l.name)).toEqual(expectedLayers)
  const rows = r.map((ref, i) => {
    const gen = g.layers[i]!.result
    expect(gen.epochs).toBe(ref.epochs)
    expect(gen.stop).toBe(ref.stop)
    for (const key of ["outputMean", "outputVar", "activationMean", "activationVar"] as const) {
      expect(Math.abs(gen.final[key] - ref[key])).toBeLessThan(1e-4)
    }
    gen.curve.forEach((e, k) => {
      expect(Math.abs(e.meanLoss - ref.curve[k]![0])).toBeLessThan(1e-5 + 1e-4 * ref.curve[k]![0])
      expect(Math.abs(e.varLoss - ref.curve[k]![1])).toBeLessThan(1e-5 + 1e-4 * ref.curve[k]![1])
    })
    const kernel = maxRelDiff(gen.weights.kernel.data, ref.kernel)
    expect(kernel).toBeLessThan(1e-4)
    if (ref.bias !== undefined) expect(maxRelDiff(gen.weights.bias!.data, ref.bias)).toBeLessThan(1e-4)
    // The weights the reference wrote into its model are the ones it reported.
    expect(maxRelDiff(reference.getLayer(ref.name).getWeights()[0]!.dataSync() as Float32Array, ref.kernel)).toBe(0)
    return { layer: ref.name, epochs: ref.epochs, stop: ref.stop, kernelRelDiff: kernel }
  })
  general.dispose()
  reference.dispose()
  return rows
}

describe("the reference LW is the oracle for the general one", () => {
  test("dense stack (fused relu, separate tanh, fused elu): same epochs, stops, statistics and weights", () => {
    const batch = tf.tidy(() => blobBatch(24, 6, 6, 1, 11))
    const before = tf.memory().numTensors
    const rows = compare(denseStack, batch, method, ["d1", "d2", "d3"])
    expect(tf.memory().numTensors).toBe(before)
    // Not a vacuous comparison: the layers took steps, and tanh's variance target 1 is out of reach (plateau/cap).
    expect(rows.every((r) => r.epochs > 1)).toBe(true)
    expect(rows.find((r) => r.layer === "d2")!.stop).toBe("maxEpochs")
    expect(rows.map((r) => r.kernelRelDiff)).toEqual([0, 0, 0])
    batch.dispose()
  })

  test("conv stack (strides, valid/same padding, no-bias conv, pooling between): the same", () => {
    const batch = tf.tidy(() => blobBatch(12, 10, 10, 2, 5))
    const rows = compare(convStack, batch, method, ["c1", "c2", "c3", "d1"])
    expect(rows.every((r) => r.epochs > 1)).toBe(true)
    batch.dispose()
  })

  test("Adam and the thesis' start (lwThesis with Adam, 40 epochs): the same", () => {
    const batch = tf.tidy(() => blobBatch(12, 10, 10, 2, 6))
    const config: LwConfig = { ...lwPresets.lwThesis, varianceTarget: 1, optimizer: "adam", maxEpochs: 40 }
    compare(convStack, batch, config, ["c1", "c2", "c3", "d1"])
    batch.dispose()
  })

  test("refuses a config that is not the method (another loss site)", () => {
    const model = denseStack()
    const batch = tf.zeros([4, 6, 6, 1])
    expect(() => referenceLw(model, batch, lwPresets.lae1, 0)).toThrow("the reference runs the method only")
    tf.dispose([batch])
    model.dispose()
  })
})
