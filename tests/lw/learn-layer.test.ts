import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import * as tf from "@tensorflow/tfjs"
import { initialize, lwStart } from "../../shared/init/initializers.ts"
import { createRng } from "../../shared/init/random.ts"
import { defaultLwConfig, lwPresets, type LwConfig } from "../../shared/lw/config.ts"
import { learnLayer, type LayerFn, type LayerResult } from "../../shared/lw/learn-layer.ts"

/** A dense ReLU layer held as a plain function: learnLayer's contract without any model. */
const denseRelu: LayerFn = (xs, kernel, bias) => {
  const pre = tf.matMul(xs[0]! as tf.Tensor2D, kernel as tf.Tensor2D)
  const output = bias === undefined ? pre : tf.add(pre, bias)
  return { output, activation: tf.relu(output) }
}

/** 64 samples of 100 non-negative, correlated features (like a ReLU layer's output), fixed by the seed. */
const makeInput = (seed: number): tf.Tensor2D => {
  const rng = createRng(seed)
  const data = new Float32Array(64 * 100)
  for (let i = 0; i < 64; i++) {
    const shared = rng.normal()
    for (let j = 0; j < 100; j++) data[i * 100 + j] = Math.max(0, 0.6 * shared + 0.8 * rng.normal() + 0.2)
  }
  return tf.tensor2d(data, [64, 100])
}

let x: tf.Tensor2D
/** What a statistic stops within when its loss is below the default threshold: |mean|, |var − 1| < √threshold. */
const tol = Math.sqrt(defaultLwConfig.convergence.threshold)
const learn = (config: LwConfig, seed = 7, extra: Partial<Parameters<typeof learnLayer>[0]> = {}): LayerResult =>
  learnLayer({ kernelShape: [100, 16], biasShape: [16], forward: denseRelu, inputs: [x], config, seed, ...extra })

beforeAll(async () => {
  await tf.setBackend("cpu")
  x = makeInput(1)
})
afterAll(() => x.dispose())

describe("learnLayer", () => {
  test("the default config brings the output mean to 0 and the activation variance to 1", () => {
    const before = tf.memory().numTensors
    const r = learn(defaultLwConfig)
    expect(tf.memory().numTensors).toBe(before)
    expect(r.diverged).toBeUndefined()
    expect(r.epochs).toBe(r.curve.length)
    // Measured: stops on the threshold (momentum 0.9; plain SGD at the thesis' lr 0.01 was still at mean 0.016
    // after 200 epochs).
    expect(r.stop).toBe("threshold")
    expect(Math.abs(r.final.outputMean)).toBeLessThan(tol)
    expect(Math.abs(r.final.activationVar - 1)).toBeLessThan(tol)
    expect(r.finalLoss.loss).toBeLessThan(r.curve[0]!.loss / 100)
    expect(r.curve.every((e) => e.lr === 0.01)).toBe(true)
    expect(r.weights.kernel.shape).toEqual([100, 16])
    expect(r.weights.bias!.shape).toEqual([16])
    expect(r.weights.bias!.data.some((b) => b !== 0)).toBe(true)
  })

  test("a larger lr stops on a tight threshold: |mean| < 0.01 and |var − 1| < 0.01", () => {
    const r = learn({ ...defaultLwConfig, lr: 0.05, convergence: { ...defaultLwConfig.convergence, threshold: 1e-4 } })
    expect(r.stop).toBe("threshold")
    // The weights returned are the ones whose loss met the threshold, not one momentum step past them.
    expect(r.finalLoss.loss).toBeCloseTo(r.curve.at(-1)!.loss, 6)
    expect(r.converged).toBe(true)
    expect(r.epochs).toBeLessThan(200)
    expect(Math.abs(r.final.outputMean)).toBeLessThan(0.01)
    expect(Math.abs(r.final.activationVar - 1)).toBeLessThan(0.01)
  })

  test("curve[0] is the loss of the starting draw: config.init from the seed, bias 0", () => {
    for (const config of [defaultLwConfig, lwPresets.lwThesis]) {
      const r = learn(config)
      const k = initialize(config.init, [100, 16], 7)
      const [mean, variance] = tf.tidy(() => {
        const y = tf.matMul(x, tf.tensor2d(k, [100, 16]))
        const a = tf.relu(y)
        const n = a.size
        return [tf.mean(y).dataSync()[0]!, tf.moments(a).variance.dataSync()[0]! * (n / (n - 1))]
      })
      expect(r.curve[0]!.meanLoss).toBeCloseTo(mean! ** 2, 5)
      expect(r.curve[0]!.varLoss).toBeCloseTo((variance! - 1) ** 2, 4)
    }
    expect(lwPresets.lwThesis.init).toEqual(lwStart)
  })

  test("the thesis' literal schedule stalls: lr 0.01 → 1e-4 → 1e-6 ..., a plateau far from the targets", () => {
    const r = learn(lwPresets.lwThesisSchedule)
    expect(r.curve[4]!.lr).toBe(0.01)
    expect(r.curve[5]!.lr).toBeCloseTo(1e-4, 12)
    expect(r.stop).toBe("plateau")
    expect(r.finalLoss.varLoss).toBeGreaterThan(0.01)
  })

  test("mean only (lae2) moves the mean to 0 and leaves the variance untargeted", () => {
    // A start with a clearly non-zero output mean, so there is something to move.
    const r = learn({ ...lwPresets.lae2, init: { name: "normal", mean: 0.05, std: 0.1 } })
    expect(r.curve[0]!.meanLoss).toBeGreaterThan(0.01)
    expect(r.curve.every((e) => e.varLoss === 0)).toBe(true)
    expect(Math.abs(r.final.outputMean)).toBeLessThan(0.05)
    // Nothing pulls the activation variance to 1; from a near-zero start it stays far below.
    expect(r.final.activationVar).toBeLessThan(0.5)
  })

  test("variance only (lae3) reaches the variance and records no mean loss", () => {
    const r = learn(lwPresets.lae3)
    expect(r.curve.every((e) => e.meanLoss === 0)).toBe(true)
    expect(Math.abs(r.final.activationVar - 1)).toBeLessThan(tol)
  })

  test("both on the layer output (lae4): the pre-activation is standardized, the ReLU's variance is not 1", () => {
    const r = learn(lwPresets.lae4)
    expect(Math.abs(r.final.outputMean)).toBeLessThan(tol)
    expect(Math.abs(r.final.outputVar - 1)).toBeLessThan(tol)
    // relu of a zero-mean unit-variance output has variance ≈ ½ − 1/(2π) ≈ 0.34
    expect(r.final.activationVar).toBeLessThan(0.6)
  })

  test("channel scope: every unit's own mean and activation variance are pulled to the targets", () => {
    // The MSE averages the 16 per-channel errors: each channel sees 1/16 of the gradient, hence a 10× lr.
    const r = learn({ ...defaultLwConfig, scope: "channel", lr: 0.1 })
    const [means, vars] = tf.tidy(() => {
      const y = tf.add(tf.matMul(x, tf.tensor2d(r.weights.kernel.data, [100, 16])), tf.tensor1d(r.weights.bias!.data))
      const m = tf.moments(tf.relu(y), 0)
      return [Array.from(tf.mean(y, 0).dataSync()), Array.from(m.variance.dataSync()).map((v) => (v * 64) / 63)]
    })
    console.log(`channel scope: ${r.epochs} epochs, max |mean_c| ${Math.max(...means!.map(Math.abs)).toFixed(3)}, var_c in [${Math.min(...vars!).toFixed(3)}, ${Math.max(...vars!).toFixed(3)}]`)
    expect(r.finalLoss.loss).toBeLessThan(r.curve[0]!.loss / 20)
    for (const m of means!) expect(Math.abs(m)).toBeLessThan(0.1)
    for (const v of vars!) expect(Math.abs(v - 1)).toBeLessThan(0.1)
  })

  test("a huge lr is reported as divergence, not thrown, and leaks nothing", () => {
    const before = tf.memory().numTensors
    const r = learn({ ...defaultLwConfig, lr: 1e12 })
    expect(tf.memory().numTensors).toBe(before)
    expect(r.diverged).toBeDefined()
    expect(r.stop).toBe("diverged")
    expect(r.converged).toBe(false)
    expect(Number.isFinite(r.diverged!.loss)).toBe(false)
    expect(r.diverged!.epoch).toBeLessThan(10)
  })

  test("same seed → the same weights; another seed → others", () => {
    const config = { ...defaultLwConfig, maxEpochs: 20 }
    const a = learn(config, 3)
    const b = learn(config, 3)
    const c = learn(config, 4)
    expect(Array.from(a.weights.kernel.data)).toEqual(Array.from(b.weights.kernel.data))
    expect(Array.from(a.weights.bias!.data)).toEqual(Array.from(b.weights.bias!.data))
    expect(Array.from(a.weights.kernel.data)).not.toEqual(Array.from(c.weights.kernel.data))
  })

  test("batchSize splits the mini-batch into steps per epoch; a batchSize of n is the whole batch", () => {
    const config = { ...defaultLwConfig, maxEpochs: 10 }
    const all = learn(config)
    const whole = learn({ ...config, batchSize: 64 })
    const split = learn({ ...config, batchSize: 16 })
    expect(Array.from(whole.weights.kernel.data)).toEqual(Array.from(all.weights.kernel.data))
    expect(Array.from(split.weights.kernel.data)).not.toEqual(Array.from(all.weights.kernel.data))
    // 4 steps per epoch move further in 10 epochs than 1 step per epoch.
    expect(split.finalLoss.loss).toBeLessThan(all.finalLoss.loss)
  })

  test("a layer without bias, started from given weights", () => {
    const kernel = { shape: [100, 16], data: initialize({ name: "normal", mean: 0, std: 0.2 }, [100, 16], 5) }
    const r = learnLayer({
      kernelShape: [100, 16],
      biasShape: undefined,
      forward: denseRelu,
      inputs: [x],
      config: { ...defaultLwConfig, maxEpochs: 1 },
      seed: 0,
      initial: { kernel, bias: undefined }
    })
    expect(r.weights.bias).toBeUndefined()
    const start = tf.tidy(() => tf.mean(tf.matMul(x, tf.tensor2d(kernel.data, [100, 16]))).dataSync()[0]!)
    expect(r.curve[0]!.meanLoss).toBeCloseTo(start ** 2, 5)
  })
})
