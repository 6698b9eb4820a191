import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import * as tf from "@tensorflow/tfjs"
import { defaultLwConfig, type LwConfig } from "../../shared/lw/config.ts"
import { layerProblem } from "../../shared/lw/layer-problem.ts"
import { layerStats, learnModelInit, learnOneLayer, lwLayerNames, namedWeights, type LearnModelResult } from "../../shared/lw/greedy.ts"
import { ResumeMismatch, UnsupportedLayer } from "../../shared/lw/errors.ts"
import { createLeNet5, forwardTo, getLayerWeights } from "../../shared/models/index.ts"
import { apply, batchNorm, conv2d, dense } from "../../shared/models/layers.ts"
import { blobBatch } from "./fixtures.ts"

beforeAll(async () => {
  await tf.setBackend("cpu")
})

/** A Keras-style stack lwi did not define: activations fused into the conv/dense layers, pooling between. */
const tinySequential = () =>
  tf.sequential({
    layers: [
      tf.layers.conv2d({ inputShape: [12, 12, 2], filters: 4, kernelSize: 3, padding: "same", activation: "relu", name: "c1" }),
      tf.layers.maxPooling2d({ poolSize: 2, name: "p1" }),
      tf.layers.conv2d({ filters: 8, kernelSize: 3, strides: 2, padding: "valid", activation: "relu", name: "c2" }),
      tf.layers.flatten({ name: "flat" }),
      tf.layers.dense({ units: 16, activation: "relu", name: "d1" }),
      tf.layers.dense({ units: 3, name: "out" })
    ]
  })

/** A residual block with BN, built from lwi's layers: stem → [ds 1×1/2 → bn] + [b1 3×3/2 → bn → relu → b2 → bn] → relu. */
const tinyResidualBn = () => {
  const input = tf.input({ shape: [8, 8, 3], name: "input" })
  let x = conv2d(input, { name: "stem", filters: 4, kernel: 3, stride: 1, pad: 1, bias: true })
  x = apply(tf.layers.reLU({ name: "stem.act" }), x)
  const shortcut = batchNorm(conv2d(x, { name: "ds", filters: 8, kernel: 1, stride: 2, pad: 0, bias: false }), "ds.bn")
  let y = batchNorm(conv2d(x, { name: "b1", filters: 8, kernel: 3, stride: 2, pad: 1, bias: false }), "b1.bn")
  y = apply(tf.layers.reLU({ name: "b1.act" }), y)
  y = batchNorm(conv2d(y, { name: "b2", filters: 8, kernel: 3, stride: 1, pad: 1, bias: false }), "b2.bn")
  x = apply(tf.layers.reLU({ name: "b2.act" }), apply(tf.layers.add({ name: "add" }), [y, shortcut]))
  x = apply(tf.layers.globalAveragePooling2d({ name: "gap" }), x)
  return tf.model({ inputs: input, outputs: dense(x, "fc", 3), name: "tiny-res-bn" })
}

const near = (stats: { outputMean: number; activationVar: number }, tol: number) => {
  expect(Math.abs(stats.outputMean)).toBeLessThan(tol)
  expect(Math.abs(stats.activationVar - 1)).toBeLessThan(tol)
}

const sameArray = (a: Float32Array, b: Float32Array) => expect(Array.from(a)).toEqual(Array.from(b))

describe("learnModelInit on a tfjs sequential stack with fused activations", () => {
  test("learns every conv/dense layer but the classifier, in forward order, to the targets", () => {
    const model = tinySequential()
    const batch = blobBatch(16, 12, 12, 2, 3)
    const classifierBefore = getLayerWeights(model, "out")
    const before = tf.memory().numTensors
    const result = learnModelInit(model, batch, defaultLwConfig, { seed: 1 })
    const stats = layerStats(model, batch)
    expect(tf.memory().numTensors).toBe(before)
    expect(lwLayerNames(model)).toEqual(["c1", "c2", "d1"])
    expect(result.layers.map((l) => l.name)).toEqual(["c1", "c2", "d1"])
    expect(result.diverged).toBeUndefined()
    expect(result.weights.map((w) => w.name)).toEqual(["c1/kernel", "c1/bias", "c2/kernel", "c2/bias", "d1/kernel", "d1/bias"])
    for (const { name, result: r } of result.layers) {
      near(r.final, 0.1)
      // The model's own forward pass (layerStats) sees what learning reported: the weights were frozen into it.
      const s = stats.find((x) => x.name === name)!
      expect(s.hasActivation).toBe(true)
      expect(s.outputMean).toBeCloseTo(r.final.outputMean, 4)
      expect(s.activationVar).toBeCloseTo(r.final.activationVar, 4)
    }
    const after = getLayerWeights(model, "out")
    after.forEach((w, i) => sameArray(w.data, classifierBefore[i]!.data))
    expect(stats.map((s) => s.name)).toEqual(["c1", "c2", "d1", "out"])
    expect(stats[3]!.hasActivation).toBe(false)
    model.dispose()
    batch.dispose()
  })

  test("one layer at a time + resume gives exactly the weights of one call; same seed same weights", () => {
    const config: LwConfig = { ...defaultLwConfig, maxEpochs: 30 }
    const batch = blobBatch(8, 12, 12, 2, 4)
    const a = tinySequential()
    const whole = learnModelInit(a, batch, config, { seed: 5 })
    const b = tinySequential()
    const first = learnOneLayer(b, "c1", batch, config, 5)
    const seen: string[] = []
    const rest = learnModelInit(b, batch, config, {
      seed: 5,
      startFrom: { learned: [{ name: "c1", weights: namedWeights("c1", first.weights) }] },
      onLayer: (name) => seen.push(name)
    })
    expect(seen).toEqual(["c2", "d1"])
    expect(rest.layers.map((l) => l.name)).toEqual(["c2", "d1"])
    expect(rest.weights.map((w) => w.name)).toEqual(whole.weights.map((w) => w.name))
    rest.weights.forEach((w, i) => sameArray(w.data, whole.weights[i]!.data))
    const c = tinySequential()
    const other = learnModelInit(c, batch, config, { seed: 6 })
    expect(Array.from(other.weights[0]!.data)).not.toEqual(Array.from(whole.weights[0]!.data))
    expect(() => learnModelInit(c, batch, config, { seed: 5, startFrom: { learned: [{ name: "c2", weights: [] }] } })).toThrow(
      ResumeMismatch
    )
    for (const m of [a, b, c]) m.dispose()
    batch.dispose()
  })

  test("divergence stops the walk at the layer that blew up, leaves its weights, and throws nothing", () => {
    const model = tinySequential()
    const batch = blobBatch(8, 12, 12, 2, 5)
    const c1Before = getLayerWeights(model, "c1")
    const before = tf.memory().numTensors
    let result: LearnModelResult | undefined
    expect(() => (result = learnModelInit(model, batch, { ...defaultLwConfig, lr: 1e12 }, { seed: 1 }))).not.toThrow()
    expect(tf.memory().numTensors).toBe(before)
    expect(result!.diverged?.layer).toBe("c1")
    expect(result!.layers.map((l) => l.name)).toEqual(["c1"])
    expect(result!.layers[0]!.result.stop).toBe("diverged")
    expect(result!.weights).toEqual([])
    getLayerWeights(model, "c1").forEach((w, i) => sameArray(w.data, c1Before[i]!.data))
    model.dispose()
    batch.dispose()
  })

  test("conv geometry is reproduced exactly: same/valid, odd sizes, strides, dilation, non-square kernels", () => {
    const model = tf.sequential({
      layers: [
        tf.layers.conv2d({ inputShape: [7, 9, 2], filters: 3, kernelSize: 3, strides: 2, padding: "same", name: "s2same" }),
        tf.layers.conv2d({ filters: 3, kernelSize: 3, dilationRate: 2, padding: "same", name: "dilated" }),
        tf.layers.conv2d({ filters: 2, kernelSize: [3, 2], strides: [2, 1], padding: "valid", name: "rect" }),
        tf.layers.flatten(),
        tf.layers.dense({ units: 2, name: "head" })
      ]
    })
    const batch = blobBatch(3, 7, 9, 2, 8)
    const before = tf.memory().numTensors
    for (const name of ["s2same", "dilated", "rect"]) {
      // layerProblem checks its recomputation against the model's output and throws on any difference.
      const p = layerProblem(model, name, batch, "zero")
      const f = forwardTo(model, name, batch)
      const diff = tf.tidy(() => {
        const k = tf.tensor(p.current.kernel.data, [...p.current.kernel.shape])
        const b = tf.tensor(p.current.bias!.data, [...p.current.bias!.shape])
        return tf.max(tf.abs(tf.sub(p.forward(p.inputs, k, b).output, f.output))).dataSync()[0]!
      })
      expect(diff).toBeLessThan(1e-5)
      p.dispose()
      tf.dispose([f.input, f.output, f.activation, f.shortcut].filter((t) => t !== undefined))
    }
    expect(tf.memory().numTensors).toBe(before)
    model.dispose()
    batch.dispose()
  })

  test("a layer whose activation lies behind a layer LW does not follow is an UnsupportedLayer naming it", () => {
    const input = tf.input({ shape: [6, 6, 2] })
    const conv = tf.layers.conv2d({ filters: 3, kernelSize: 3, name: "c" }).apply(input) as tf.SymbolicTensor
    const other = tf.layers.conv2d({ filters: 3, kernelSize: 3, name: "o" }).apply(input) as tf.SymbolicTensor
    const joined = tf.layers.concatenate({ name: "join" }).apply([conv, other]) as tf.SymbolicTensor
    const act = tf.layers.reLU({ name: "act" }).apply(joined) as tf.SymbolicTensor
    const out = tf.layers.dense({ units: 2, name: "head" }).apply(tf.layers.flatten().apply(act) as tf.SymbolicTensor) as tf.SymbolicTensor
    const model = tf.model({ inputs: input, outputs: out })
    const batch = blobBatch(2, 6, 6, 2, 1)
    const before = tf.memory().numTensors
    let error: unknown
    try {
      layerProblem(model, "c", batch, "zero")
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(UnsupportedLayer)
    expect((error as UnsupportedLayer).between).toBe("join")
    expect((error as UnsupportedLayer).message).toContain('"join" (Concatenate)')
    expect(() => learnModelInit(model, batch, defaultLwConfig, { seed: 1 })).toThrow(UnsupportedLayer)
    expect(tf.memory().numTensors).toBe(before)
    model.dispose()
    batch.dispose()
  })
})

describe("a residual block with batch norm, built from lwi's layers", () => {
  let model: tf.LayersModel
  let batch: tf.Tensor4D
  beforeAll(() => {
    model = tinyResidualBn()
    batch = blobBatch(8, 8, 8, 3, 6)
    // Non-trivial running statistics, so a BN skipped (or run in training mode) would show.
    ;["ds.bn", "b1.bn", "b2.bn"].forEach((bn, k) => {
      const layer = model.getLayer(bn)
      const c = layer.getWeights()[0]!.shape
      const u = (lo: number, hi: number, seed: number) => tf.randomUniform(c, lo, hi, "float32", 10 * k + seed)
      const values = [u(0.5, 1.5, 1), u(-0.2, 0.2, 2), u(-0.3, 0.3, 3), u(0.5, 2, 4)] // gamma, beta, mean, variance
      layer.setWeights(values)
      tf.dispose(values)
    })
  })
  afterAll(() => {
    model.dispose()
    batch.dispose()
  })

  test("the shortcut is learned first; the partner of a pending add is left out unless told", () => {
    expect(lwLayerNames(model)).toEqual(["stem", "ds", "b1", "b2"])
    const partner = (name: string, pending: LwConfig["pendingPartner"]) => {
      const p = layerProblem(model, name, batch, pending)
      p.dispose()
      return p.partner
    }
    expect(partner("stem", "zero")).toBe("none")
    expect(partner("b1", "zero")).toBe("none")
    expect(partner("ds", "zero")).toBe("omitted")
    expect(partner("ds", "current")).toBe("forward")
    // b2's partner (the downsample path) is learned before it: always the forward's.
    expect(partner("b2", "zero")).toBe("forward")
  })

  test("layerStats' activation is the model's own relu(bn(conv) + shortcut), through BN's running statistics", () => {
    const stats = layerStats(model, batch)
    for (const name of ["b1", "b2", "ds"]) {
      const f = forwardTo(model, name, batch)
      const [m, v] = tf.tidy(() => {
        const a = f.activation!
        const n = a.size
        return [tf.mean(a).dataSync()[0]!, (tf.moments(a).variance.dataSync()[0]! * n) / (n - 1)]
      })
      tf.dispose([f.input, f.output, f.activation, f.shortcut].filter((t) => t !== undefined))
      const s = stats.find((x) => x.name === name)!
      expect(s.activationMean).toBeCloseTo(m!, 4)
      expect(s.activationVar).toBeCloseTo(v!, 4)
    }
  })

  test("LW learns every conv of the block (no biases: BN's layers have none to learn)", () => {
    const before = tf.memory().numTensors
    const result = learnModelInit(model, batch, { ...defaultLwConfig, maxEpochs: 60 }, { seed: 2 })
    expect(tf.memory().numTensors).toBe(before)
    expect(result.layers.map((l) => l.name)).toEqual(["stem", "ds", "b1", "b2"])
    expect(result.weights.map((w) => w.name)).toEqual(["stem/kernel", "stem/bias", "ds/kernel", "b1/kernel", "b2/kernel"])
    for (const { result: r } of result.layers) {
      expect(r.diverged).toBeUndefined()
      expect(r.finalLoss.loss).toBeLessThan(r.curve[0]!.loss)
    }
  })
})

describe("LeNet-5 (shared/models), default LW config, 16 blob images", () => {
  let model: tf.LayersModel
  let batch: tf.Tensor4D
  let heldOut: tf.Tensor4D
  let result: LearnModelResult
  const seconds: Record<string, number> = {}
  beforeAll(() => {
    model = createLeNet5({ inputShape: [28, 28, 1], classes: 10 })
    batch = blobBatch(16, 28, 28, 1, 1)
    heldOut = blobBatch(16, 28, 28, 1, 2)
    let t = performance.now()
    result = learnModelInit(model, batch, defaultLwConfig, {
      seed: 1,
      onLayer: (name) => {
        seconds[name] = (performance.now() - t) / 1000
        t = performance.now()
      }
    })
  })
  afterAll(() => {
    model.dispose()
    tf.dispose([batch, heldOut])
  })

  test("conv1, conv2, fc1, fc2 are learned to |mean| < 0.1 and |var − 1| < 0.1 on the batch; fc3 is not learned", () => {
    expect(result.layers.map((l) => l.name)).toEqual(["conv1", "conv2", "fc1", "fc2"])
    const train = layerStats(model, batch)
    const held = layerStats(model, heldOut)
    const row = (s: (typeof train)[number]) =>
      [s.outputMean, s.outputVar, s.activationMean, s.activationVar].map((x) => x.toFixed(4).padStart(8)).join(" ")
    console.log("layer    epochs stop       seconds | batch: outMean   outVar   actMean   actVar | held-out: same")
    for (const { name, result: r } of result.layers) {
      const s = train.find((x) => x.name === name)!
      const h = held.find((x) => x.name === name)!
      console.log(
        `${name.padEnd(8)} ${String(r.epochs).padStart(6)} ${r.stop.padEnd(10)} ${seconds[name]!.toFixed(1).padStart(7)} | ${row(s)} | ${row(h)}`
      )
      near(s, 0.1)
    }
  })
})
