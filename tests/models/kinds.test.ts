/**
 * Every layer kind with a kernel: its units (bias length) and true fans (shared/models/kinds.ts), and applyInit
 * draws each kernel at the variance its fans give (Kaiming: 2 / fanIn), SeparableConv2D's two kernels each with
 * its own.
 */
import { beforeAll, expect, test } from "bun:test"
import * as tf from "@tensorflow/tfjs"
import { defaultInitConfigs } from "../../shared/init/initializers.ts"
import { applyInit, getLayerWeights, learnableLayers } from "../../shared/models/index.ts"

beforeAll(async () => {
  await tf.setBackend("cpu")
})

const one = (inputShape: number[], layer: tf.layers.Layer) => {
  const input = tf.input({ shape: inputShape })
  const y = tf.layers.flatten().apply(layer.apply(input) as tf.SymbolicTensor) as tf.SymbolicTensor
  return tf.model({ inputs: input, outputs: tf.layers.dense({ units: 2, name: "head" }).apply(y) as tf.SymbolicTensor })
}

const variance = (data: Float32Array) => {
  const mean = data.reduce((a, b) => a + b, 0) / data.length
  return data.reduce((a, b) => a + (b - mean) ** 2, 0) / data.length
}

const cases: Array<{ label: string; make: () => tf.LayersModel; units: number; fanIn: number; kernels: Record<string, number> }> = [
  { label: "Conv1D", make: () => one([20, 8], tf.layers.conv1d({ name: "k", filters: 16, kernelSize: 5 })), units: 16, fanIn: 40, kernels: { kernel: 40 } },
  { label: "Conv3D", make: () => one([6, 6, 6, 4], tf.layers.conv3d({ name: "k", filters: 8, kernelSize: 3 })), units: 8, fanIn: 108, kernels: { kernel: 108 } },
  {
    label: "DepthwiseConv2D",
    make: () => one([8, 8, 16], tf.layers.depthwiseConv2d({ name: "k", kernelSize: 5, depthMultiplier: 2 })),
    units: 32,
    fanIn: 25,
    kernels: { depthwise_kernel: 25 }
  },
  {
    label: "SeparableConv2D",
    make: () => one([8, 8, 16], tf.layers.separableConv2d({ name: "k", filters: 24, kernelSize: 5, depthMultiplier: 2 })),
    units: 24,
    fanIn: 25,
    kernels: { depthwise_kernel: 25, pointwise_kernel: 32 }
  },
  {
    label: "Conv2DTranspose",
    make: () => one([6, 6, 16], tf.layers.conv2dTranspose({ name: "k", filters: 8, kernelSize: 3, strides: 2 })),
    units: 8,
    fanIn: 72, // Keras' and PyTorch's convention: k·filters
    kernels: { kernel: 72 }
  }
]

for (const c of cases) {
  test(`${c.label}: units, fans, and Kaiming draws at 2 / fanIn per kernel`, () => {
    const m = c.make()
    const info = learnableLayers(m).find((l) => l.name === "k")!
    expect(info.kind).toBe("conv")
    expect(info.className).toBe(c.label)
    expect(info.units).toBe(c.units)
    expect(info.fanIn).toBe(c.fanIn)
    expect(info.kernels.map((k) => k.suffix)).toEqual(Object.keys(c.kernels))
    expect(applyInit(m, defaultInitConfigs.kaimingNormal, { seed: 5, excludeClassifier: true })).toEqual(["k"])
    const ws = getLayerWeights(m, "k")
    for (const [suffix, fanIn] of Object.entries(c.kernels)) {
      const w = ws.find((x) => x.name === `k/${suffix}`)!
      const expected = 2 / fanIn
      // Sampling error of a variance over n draws: ~ expected·√(2/n); the tolerance is 5 of those (n ≥ 400 here).
      expect(Math.abs(variance(w.data) - expected)).toBeLessThan(5 * expected * Math.sqrt(2 / w.data.length))
    }
    expect(Array.from(ws.find((x) => x.name === "k/bias")!.data).every((b) => b === 0)).toBe(true)
    m.dispose()
  })
}
