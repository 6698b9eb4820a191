import { beforeAll, describe, expect, test } from "bun:test"
import * as tf from "@tensorflow/tfjs"
import { withPlaceholderWeights } from "../../shared/models/layers.ts"
import { buildModel, type ModelSpec } from "../../shared/models/spec.ts"
import { getLayerWeights } from "../../shared/models/weights.ts"

const spec: ModelSpec = { arch: "lenet5", inputShape: [28, 28, 1], classes: 10, activation: "relu" }
const kernelAbsSum = (model: tf.LayersModel, layer: string) =>
  getLayerWeights(model, layer)
    .find((w) => w.name.endsWith("/kernel"))!
    .data.reduce((a, x) => a + Math.abs(x), 0)

beforeAll(async () => {
  await tf.setBackend("cpu")
})

describe("withPlaceholderWeights", () => {
  test("builds conv and dense kernels as zeros, and only while it runs", () => {
    const placeholder = withPlaceholderWeights(() => buildModel(spec))
    const drawn = buildModel(spec)
    try {
      for (const layer of ["conv1", "fc1", "fc3"]) {
        expect(kernelAbsSum(placeholder, layer)).toBe(0)
        expect(kernelAbsSum(drawn, layer)).toBeGreaterThan(0)
      }
      // Same architecture either way: the weights load into both.
      expect(placeholder.countParams()).toBe(drawn.countParams())
    } finally {
      placeholder.dispose()
      drawn.dispose()
    }
  })

  test("restores the previous mode when the build throws", () => {
    expect(() => withPlaceholderWeights(() => { throw new Error("boom") })).toThrow("boom")
    const model = buildModel(spec)
    expect(kernelAbsSum(model, "conv1")).toBeGreaterThan(0)
    model.dispose()
  })
})
