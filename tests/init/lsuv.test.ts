import { beforeAll, describe, expect, test } from "bun:test"
import * as tf from "@tensorflow/tfjs"
import { initialize } from "../../shared/init/initializers.ts"
import { lsuv, type LsuvTarget } from "../../shared/init/lsuv.ts"

beforeAll(async () => {
  await tf.setBackend("cpu")
})

/** A 3-layer tanh MLP held as plain variables, exposed layer by layer: LSUV's contract without any model code. */
const mlp = (widths: number[], seed: number) => {
  const kernels = widths.slice(1).map((out, i) => {
    const shape = [widths[i]!, out]
    return tf.variable(tf.tensor2d(initialize({ name: "orthogonal", gain: 1 }, shape, seed + i), shape as [number, number]))
  })
  const names = kernels.map((_, i) => `fc${i + 1}`)
  const target: LsuvTarget = {
    layers: names,
    output: (layer, x) =>
      tf.tidy(() => {
        let h = x
        for (let i = 0; i <= names.indexOf(layer); i++) {
          const pre = tf.matMul(h, kernels[i]!)
          if (names[i] === layer) return pre
          h = tf.tanh(pre)
        }
        throw new Error(`no layer ${layer}`)
      }),
    scaleKernel: (layer, factor) => {
      const k = kernels[names.indexOf(layer)]!
      tf.tidy(() => {
        k.assign(tf.mul(k, factor))
      })
    }
  }
  return { kernels, target }
}

describe("lsuv", () => {
  test("brings every layer's output variance to 1 within tolerance, in forward order", () => {
    const { kernels, target } = mlp([32, 64, 64, 10], 1)
    // Input far from unit scale so the first layer has work to do.
    const batch = tf.mul(tf.randomNormal([256, 32], 0, 1, "float32", 3), 5)
    const before = tf.memory().numTensors
    const report = lsuv(target, batch, { tolerance: 0.01, maxIterations: 10, targetVariance: 1 })
    expect(tf.memory().numTensors).toBe(before)
    expect(report.map((r) => r.layer)).toEqual(["fc1", "fc2", "fc3"])
    for (const r of report) {
      expect(r.converged).toBe(true)
      const v = tf.tidy(() => tf.moments(target.output(r.layer, batch)).variance.dataSync()[0]!)
      expect(Math.abs(v - 1)).toBeLessThan(0.01)
    }
    expect(report[0]!.totalScale).toBeLessThan(0.5) // the ×5 input was compensated
    tf.dispose([batch, ...kernels])
  })

  test("a dead layer (zero output) is reported, not divided by zero", () => {
    const { kernels, target } = mlp([8, 8], 2)
    kernels[0]!.assign(tf.zeros([8, 8]))
    const batch = tf.randomNormal([16, 8])
    const [r] = lsuv(target, batch)
    expect(r!.converged).toBe(false)
    expect(r!.variance).toBe(0)
    tf.dispose([batch, ...kernels])
  })
})
