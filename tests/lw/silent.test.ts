/**
 * Nothing silent: the activation path is followed through dropout, pooling, normalization and reshapes, or LW
 * refuses the layer naming the layer in between; learnModelInit (and layerStats) report every layer learned,
 * skipped (with the reason) or short of its target, and log one line for each.
 */
import { beforeAll, describe, expect, test } from "bun:test"
import * as tf from "@tensorflow/tfjs"
import { defaultLwConfig } from "../../shared/lw/config.ts"
import { UnsupportedLayer } from "../../shared/lw/errors.ts"
import { layerStats, learnModelInit } from "../../shared/lw/greedy.ts"
import { layerProblem } from "../../shared/lw/layer-problem.ts"
import { activationPath, forwardTo, learnableLayers } from "../../shared/models/index.ts"
import { blobBatch } from "./fixtures.ts"

beforeAll(async () => {
  await tf.setBackend("cpu")
})

/** input [10, 10, 3] → conv "c" → `between` → `act` → flatten → dense "head". */
const chain = (between: tf.layers.Layer[], act: tf.layers.Layer = tf.layers.reLU({ name: "act" })): tf.LayersModel => {
  const input = tf.input({ shape: [10, 10, 3] })
  let x = tf.layers.conv2d({ filters: 4, kernelSize: 3, padding: "same", name: "c" }).apply(input) as tf.SymbolicTensor
  for (const l of [...between, act]) x = l.apply(x) as tf.SymbolicTensor
  x = tf.layers.flatten({ name: "flat" }).apply(x) as tf.SymbolicTensor
  return tf.model({ inputs: input, outputs: tf.layers.dense({ units: 3, name: "head" }).apply(x) as tf.SymbolicTensor })
}

const variance = (t: tf.Tensor) => tf.tidy(() => (tf.moments(t).variance.dataSync()[0]! * t.size) / (t.size - 1))

describe("the activation path", () => {
  test("a Dropout between conv and ReLU: LW targets the ReLU (dropout in inference mode)", () => {
    const m = chain([tf.layers.dropout({ rate: 0.5, name: "drop" })])
    expect(learnableLayers(m)[0]!.activation).toBe("act")
    const [batch, heldOut] = [blobBatch(64, 10, 10, 3, 1), blobBatch(64, 10, 10, 3, 2)]
    const result = learnModelInit(m, batch, defaultLwConfig, { seed: 1 })
    expect(result.layers[0]!.reached).toBe(true)
    // The model's own relu(dropout(conv)) in inference mode has variance 1; the pre-activation is far from it.
    const f = forwardTo(m, "c", heldOut)
    expect(f.between).toEqual(["drop"])
    const [actVar, preVar] = [variance(f.activation!), variance(f.output)]
    tf.dispose([f.input, f.output, f.activation!])
    expect(Math.abs(actVar - 1)).toBeLessThan(0.1)
    expect(preVar).toBeGreaterThan(1.5)
    m.dispose()
    tf.dispose([batch, heldOut])
  })

  test("pooling, normalization, reshapes and padding are followed to the activation", () => {
    const m = chain([
      tf.layers.zeroPadding2d({ padding: 1, name: "pad" }),
      tf.layers.maxPooling2d({ poolSize: 2, name: "pool" }),
      tf.layers.batchNormalization({ name: "bn" }),
      tf.layers.layerNormalization({ name: "ln" }),
      tf.layers.reshape({ targetShape: [36, 4], name: "reshape" }),
      tf.layers.gaussianNoise({ stddev: 0.1, name: "noise" })
    ])
    const path = activationPath(m.getLayer("c"))
    expect(path.between.map((l) => l.name)).toEqual(["pad", "pool", "bn", "ln", "reshape", "noise"])
    expect(path.activation?.name).toBe("act")
    expect(path.blocked).toBeUndefined()
    const x = blobBatch(4, 10, 10, 3, 3)
    const p = layerProblem(m, "c", x, "zero")
    expect(p.hasActivation).toBe(true)
    // The problem's activation is the model's own act(noise(reshape(ln(bn(pool(pad(conv)))))))
    const f = forwardTo(m, "c", x)
    const diff = tf.tidy(() => {
      const k = tf.tensor(p.current.kernel.data, [...p.current.kernel.shape])
      const b = tf.tensor(p.current.bias!.data, [...p.current.bias!.shape])
      return tf.max(tf.abs(tf.sub(p.forward(p.inputs, k, b).activation, f.activation!))).dataSync()[0]!
    })
    expect(diff).toBeLessThan(1e-5)
    p.dispose()
    tf.dispose([f.input, f.output, f.activation!, x])
    m.dispose()
  })

  test("a construction LW does not follow is refused with UnsupportedLayer naming the layer in between", () => {
    const input = tf.input({ shape: [8] })
    const a = tf.layers.dense({ units: 4, name: "a" }).apply(input) as tf.SymbolicTensor
    const gate = tf.layers.dense({ units: 4, activation: "sigmoid", name: "gate" }).apply(input) as tf.SymbolicTensor
    const gated = tf.layers.multiply({ name: "gated" }).apply([a, gate]) as tf.SymbolicTensor
    const out = tf.layers.dense({ units: 2, name: "head" }).apply(tf.layers.reLU({ name: "act" }).apply(gated) as tf.SymbolicTensor) as tf.SymbolicTensor
    const m = tf.model({ inputs: input, outputs: out })
    const batch = tf.randomNormal([16, 8], 0, 1, "float32", 2)
    let error: unknown
    try {
      learnModelInit(m, batch, defaultLwConfig, { seed: 1 })
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(UnsupportedLayer)
    expect((error as UnsupportedLayer).layer).toBe("a")
    expect((error as UnsupportedLayer).between).toBe("gated")
    expect((error as UnsupportedLayer).message).toContain('"gated" (Multiply) lies between it and its activation')
    // layerStats refuses it as well, rather than reporting the pre-activation as the activation.
    expect(() => layerStats(m, batch)).toThrow(UnsupportedLayer)
    m.dispose()
    batch.dispose()
  })
})

describe("the report", () => {
  test("learned, skipped (BN: no kernel; the classifier: by design), each logged in one line", () => {
    const m = chain([tf.layers.batchNormalization({ name: "bn" })])
    const batch = blobBatch(32, 10, 10, 3, 4)
    const log: string[] = []
    const result = learnModelInit(m, batch, defaultLwConfig, { seed: 1, log: (l) => log.push(l) })
    expect(result.layers.map((l) => [l.name, l.reached])).toEqual([["c", true]])
    expect(result.unreached).toEqual([])
    expect(result.skipped.map((s) => [s.layer, s.className])).toEqual([
      ["bn", "BatchNormalization"],
      ["head", "Dense"]
    ])
    expect(result.skipped[0]!.reason).toContain("no kernel LW learns (gamma, beta, moving_mean, moving_variance)")
    expect(result.skipped[1]!.reason).toContain("the classifier")
    expect(log.length).toBe(3)
    expect(log[0]).toMatch(/^LW "c": learned in \d+ epochs/)
    expect(log[1]).toMatch(/^LW "bn" \(BatchNormalization\): skipped — no kernel/)
    expect(log[2]).toMatch(/^LW "head" \(Dense\): skipped — the classifier/)
    const statsLog: string[] = []
    expect(layerStats(m, batch, { log: (l) => statsLog.push(l) }).map((s) => s.name)).toEqual(["c", "head"])
    expect(statsLog).toEqual([expect.stringContaining('layerStats "bn" (BatchNormalization): not reported')])
    m.dispose()
    batch.dispose()
  })

  test("a target the activation cannot reach is reported unreached, and logged", () => {
    // LayerNormalization before the ReLU fixes each sample's pre-activation to mean 0, variance 1: the ReLU's
    // output variance is then about 0.34 whatever the conv's weights — the target 1 is out of reach.
    const m = chain([tf.layers.layerNormalization({ name: "ln" })])
    const batch = blobBatch(16, 10, 10, 3, 5)
    const log: string[] = []
    const result = learnModelInit(m, batch, { ...defaultLwConfig, varianceTarget: 1, maxEpochs: 40 }, { seed: 1, log: (l) => log.push(l) })
    expect(result.layers[0]!.reached).toBe(false)
    expect(result.unreached).toEqual(["c"])
    expect(result.layers[0]!.result.final.activationVar).toBeLessThan(0.5)
    expect(log.some((l) => l.startsWith('LW "c": target NOT reached after 40 epochs'))).toBe(true)
    m.dispose()
    batch.dispose()
  })

  test('a sigmoid layer: "auto" resolved for its activation in the walk; the literal 1 is warned about and unreached', () => {
    const m = chain([], tf.layers.activation({ activation: "sigmoid", name: "act" }))
    const batch = blobBatch(16, 10, 10, 3, 7)
    const auto = learnModelInit(m, batch, defaultLwConfig, { seed: 1 })
    expect(auto.layers[0]!.result.target).toMatchObject({ activation: "sigmoid", auto: true, varianceAt: "activation", varianceTarget: 0.0434, reached: true })
    expect(Math.abs(auto.layers[0]!.result.final.activationVar / 0.0434 - 1)).toBeLessThan(0.05)
    expect(auto.unreached).toEqual([])
    const log: string[] = []
    const literal = learnModelInit(m, batch, { ...defaultLwConfig, varianceTarget: 1, maxEpochs: 20 }, { seed: 1, log: (l) => log.push(l) })
    expect(literal.layers[0]!.result.target).toMatchObject({ auto: false, varianceTarget: 1, feasibility: { status: "infeasible" }, reached: false })
    expect(literal.unreached).toEqual(["c"])
    expect(log[0]).toStartWith('LW "c": activation variance 1 is unreachable for sigmoid')
    expect(log[1]).toStartWith('LW "c": target NOT reached after 20 epochs')
    m.dispose()
    batch.dispose()
  })

  test("after a divergence the layers not learned are listed as skipped, with why", () => {
    const input = tf.input({ shape: [10, 10, 3] })
    let x = tf.layers.conv2d({ filters: 4, kernelSize: 3, activation: "relu", name: "c1" }).apply(input) as tf.SymbolicTensor
    x = tf.layers.conv2d({ filters: 4, kernelSize: 3, activation: "relu", name: "c2" }).apply(x) as tf.SymbolicTensor
    x = tf.layers.flatten().apply(x) as tf.SymbolicTensor
    const m = tf.model({ inputs: input, outputs: tf.layers.dense({ units: 2, name: "head" }).apply(x) as tf.SymbolicTensor })
    const batch = blobBatch(8, 10, 10, 3, 6)
    const log: string[] = []
    const result = learnModelInit(m, batch, { ...defaultLwConfig, lr: 1e12 }, { seed: 1, log: (l) => log.push(l) })
    expect(result.diverged?.layer).toBe("c1")
    expect(result.layers.map((l) => [l.name, l.reached])).toEqual([["c1", false]])
    expect(result.skipped.map((s) => s.layer)).toEqual(["c2", "head"])
    expect(result.skipped[0]!.reason).toContain('LW stopped at "c1", which diverged')
    expect(log[0]).toMatch(/^LW "c1": DIVERGED at epoch \d+/)
    m.dispose()
    batch.dispose()
  })
})
