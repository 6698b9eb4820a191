/**
 * LW's targets for bounded activations: the activations' variance bounds against numeric estimates through the
 * real tfjs activations, the feasibility verdicts, "auto" per activation (the ReLU family's exactly as before), and
 * layers learned with "auto" meeting their target on held-out data.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import * as tf from "@tensorflow/tfjs"
import {
  activationKindOf,
  activationLayer,
  gaussianOutputVariance,
  outputVarianceBound,
  preActivationSdFor
} from "../../shared/init/activations.ts"
import { createRng } from "../../shared/init/random.ts"
import {
  autoVarianceTarget,
  defaultLwConfig,
  lwPresets,
  resolveLwConfig,
  targetFeasibility,
  targetWarning,
  type LwConfig
} from "../../shared/lw/config.ts"
import { learnLayer, type LayerFn } from "../../shared/lw/learn-layer.ts"
import { moments } from "../../shared/lw/stats.ts"

beforeAll(async () => {
  await tf.setBackend("cpu")
})

const bounded = ["sigmoid", "tanh", "hardSigmoid", "softsign"] as const

/** Var f(μ + σz) over `n` standard-normal draws, f applied by tfjs's own activation (what a model computes). */
const sampledVariance = (kind: string, sd: number, mean = 0, n = 200_000): number => {
  const rng = createRng(11)
  const z = Float32Array.from({ length: n }, () => mean + sd * rng.normal())
  return tf.tidy(() => {
    const y = tf.layers.activation({ activation: kind as "tanh" }).apply(tf.tensor1d(z)) as tf.Tensor
    return moments(y, "tensor", false).variance.dataSync()[0]!
  })
}

describe("activation variance bounds", () => {
  test("the bound is (max − min)²/4: sigmoid and hard-sigmoid 0.25, tanh and softsign 1; unbounded: Infinity", () => {
    expect(outputVarianceBound("sigmoid")).toBe(0.25)
    expect(outputVarianceBound("hardSigmoid")).toBe(0.25)
    expect(outputVarianceBound("tanh")).toBe(1)
    expect(outputVarianceBound("softsign")).toBe(1)
    expect(outputVarianceBound("relu6")).toBe(9)
    for (const k of ["relu", "linear", "elu", "leakyRelu", "prelu", "wibRelu", "selu"]) expect(outputVarianceBound(k)).toBe(Infinity)
    expect(outputVarianceBound("someCustomActivation")).toBeUndefined()
  })

  for (const kind of bounded) {
    test(`${kind}: the numeric variance matches tfjs's activation on samples, stays below the bound, and approaches it`, () => {
      const bound = outputVarianceBound(kind)!
      // The quadrature against 200k samples through tfjs (sampling error of a variance ~ 0.3 %).
      for (const sd of [0.5, 1, 3]) {
        const sampled = sampledVariance(kind, sd)
        expect(Math.abs(gaussianOutputVariance(kind, sd)! - sampled)).toBeLessThan(0.01 * bound)
      }
      // Never above the bound, whatever the spread or the offset; within 3 % of it once saturated (σ = 1000).
      let largest = 0
      for (const sd of [0.1, 1, 10, 100, 1000]) {
        for (const mean of [-3, 0, 2]) largest = Math.max(largest, gaussianOutputVariance(kind, sd, mean)!)
      }
      expect(largest).toBeLessThan(bound)
      expect(gaussianOutputVariance(kind, 1000)!).toBeGreaterThan(0.97 * bound)
      expect(sampledVariance(kind, 1000)).toBeGreaterThan(0.97 * bound)
      expect(sampledVariance(kind, 1000)).toBeLessThan(bound)
    })
  }

  test("preActivationSdFor inverts the variance, and has no answer at or above the bound", () => {
    for (const kind of bounded) {
      const bound = outputVarianceBound(kind)!
      for (const share of [0.1, 0.5, 0.9]) {
        const sd = preActivationSdFor(kind, share * bound)!
        expect(gaussianOutputVariance(kind, sd)!).toBeCloseTo(share * bound, 6)
      }
      expect(preActivationSdFor(kind, bound)).toBeUndefined()
      expect(preActivationSdFor(kind, 2 * bound)).toBeUndefined()
    }
    expect(preActivationSdFor("relu", 1)).toBeUndefined()
  })

  test("activationKindOf names a layer's activation: Activation layers, lwi's layers, fused ones, none", () => {
    expect(activationKindOf(activationLayer("sigmoid", "a"))).toBe("sigmoid")
    expect(activationKindOf(tf.layers.activation({ activation: "hardSigmoid" }))).toBe("hardSigmoid")
    expect(activationKindOf(activationLayer("wibRelu", "w"))).toBe("wibRelu")
    expect(activationKindOf(activationLayer({ name: "elu", alpha: 0.5 }, "e"))).toBe("elu")
    expect(activationKindOf(tf.layers.reLU({ maxValue: 6 }))).toBe("relu6")
    expect(activationKindOf(tf.layers.reLU({ maxValue: 3 }))).toBeUndefined()
    expect(activationKindOf(tf.layers.dense({ units: 2, activation: "softsign" }))).toBe("softsign")
    expect(activationKindOf(tf.layers.dense({ units: 2 }))).toBe("linear")
    expect(activationKindOf(undefined)).toBe("linear")
  })
})

describe("targetFeasibility", () => {
  const terms = (varianceTarget: number, over: Partial<LwConfig> = {}) => ({ ...defaultLwConfig, ...over, varianceTarget })

  test("the thesis' variance 1 is infeasible for sigmoid, tanh, hard-sigmoid and softsign, feasible for the ReLU family", () => {
    for (const kind of bounded) {
      const f = targetFeasibility(kind, terms(1))
      expect(f.status).toBe("infeasible")
      if (f.status !== "feasible") expect(f.reason).toContain(`stays below ${outputVarianceBound(kind)}`)
    }
    for (const kind of ["relu", "leakyRelu", "elu", "prelu", "wibRelu", "linear"]) expect(targetFeasibility(kind, terms(1)).status).toBe("feasible")
  })

  test("near the bound is saturating; well inside it is feasible; a target on the pre-activation is always feasible", () => {
    const near = targetFeasibility("tanh", terms(0.95))
    expect(near.status).toBe("saturating")
    if (near.status !== "feasible") expect(near.reason).toMatch(/sd ≈ \d+/)
    expect(targetFeasibility("tanh", terms(0.39)).status).toBe("feasible")
    expect(targetFeasibility("sigmoid", terms(0.1)).status).toBe("feasible")
    expect(targetFeasibility("sigmoid", terms(1, { varianceAt: "output" })).status).toBe("feasible")
    expect(targetFeasibility("sigmoid", terms(1, { varianceAt: "off" })).status).toBe("feasible")
  })

  test("a mean on the activation outside (or at the edge of) its range is infeasible: lae1 on sigmoid and on ReLU", () => {
    const sigmoid = targetFeasibility("sigmoid", { ...lwPresets.lae1, varianceTarget: 0.04 })
    expect(sigmoid.status).toBe("infeasible")
    if (sigmoid.status !== "feasible") expect(sigmoid.reason).toContain("activation mean 0")
    const relu = targetFeasibility("relu", { ...lwPresets.lae1, varianceTarget: 1 })
    expect(relu.status).toBe("infeasible")
    if (relu.status !== "feasible") expect(relu.reason).toContain("every output is 0")
    expect(targetFeasibility("tanh", { ...lwPresets.lae1, varianceTarget: 0.3 }).status).toBe("feasible")
  })

  test("an activation lwi has no range for, or none given: unknown, and no warning line", () => {
    expect(targetFeasibility("someCustomActivation", terms(1)).status).toBe("unknown")
    expect(targetFeasibility(undefined, terms(1)).status).toBe("unknown")
    expect(targetWarning("fc1", resolveLwConfig({ ...defaultLwConfig, varianceTarget: 1 }, undefined).target)).toBeUndefined()
  })

  test("targetWarning is one line naming the layer, the target, the bound and what auto would aim at", () => {
    const line = targetWarning("conv1", resolveLwConfig({ ...defaultLwConfig, varianceTarget: 1 }, "sigmoid").target)!
    expect(line).not.toContain("\n")
    expect(line).toContain('"conv1"')
    expect(line).toContain("activation variance 1 is unreachable for sigmoid")
    expect(line).toContain("0.25")
    expect(line).toContain('"auto"')
    expect(targetWarning("conv1", resolveLwConfig(defaultLwConfig, "sigmoid").target)).toBeUndefined()
  })
})

describe('varianceTarget "auto"', () => {
  test("the ReLU family, the identity and unknown activations keep the thesis' 1: the very config LW used before", () => {
    const literal: LwConfig = { ...defaultLwConfig, varianceTarget: 1 }
    // relu6 too: bounded (variance < 9), but 1 is comfortably inside its range.
    for (const kind of ["relu", "relu6", "leakyRelu", "prelu", "elu", "wibRelu", "linear", "someCustomActivation", undefined]) {
      const { config, target } = resolveLwConfig(defaultLwConfig, kind)
      expect(config).toEqual({ ...literal, varianceTarget: 1 })
      expect(target.auto).toBe(true)
    }
    // On the pre-activation (lae4), 1 whatever the activation: the pre-activation is unbounded.
    expect(resolveLwConfig(lwPresets.lae4, "sigmoid").config.varianceTarget).toBe(1)
  })

  test("bounded activations get the variance a unit-Gaussian input gives them; a number given is used as given", () => {
    expect(autoVarianceTarget("sigmoid", "activation")).toEqual({ at: "activation", target: 0.0434 })
    expect(autoVarianceTarget("tanh", "activation")).toEqual({ at: "activation", target: 0.3943 })
    for (const kind of bounded) {
      expect(autoVarianceTarget(kind, "activation").target).toBeCloseTo(sampledVariance(kind, 1), 2)
      const { target } = resolveLwConfig(defaultLwConfig, kind)
      expect(target.feasibility.status).toBe("feasible")
      const aim = autoVarianceTarget(kind, "activation")
      expect(target.varianceAt).toBe(aim.at)
      expect(target.varianceTarget).toBe(aim.target)
      if (aim.at === "activation") expect(aim.target).toBeLessThan(0.9 * outputVarianceBound(kind)!)
    }
    const given = resolveLwConfig({ ...defaultLwConfig, varianceTarget: 0.2 }, "tanh")
    expect(given.target).toMatchObject({ auto: false, varianceAt: "activation", varianceTarget: 0.2 })
  })
})

describe("learnLayer with bounded activations", () => {
  /** A dense layer followed by `kind`, as learnLayer sees it. */
  const dense =
    (kind: string): LayerFn =>
    (xs, kernel, bias) => {
      const pre = tf.matMul(xs[0]! as tf.Tensor2D, kernel as tf.Tensor2D)
      const output = bias === undefined ? pre : tf.add(pre, bias)
      return { output, activation: tf.layers.activation({ activation: kind as "tanh" }).apply(output) as tf.Tensor }
    }
  /** n samples of 100 correlated, skewed features (like a previous layer's output), fixed by the seed. */
  const features = (n: number, seed: number): tf.Tensor2D => {
    const rng = createRng(seed)
    const data = new Float32Array(n * 100)
    for (let i = 0; i < n; i++) {
      const shared = rng.normal()
      for (let j = 0; j < 100; j++) data[i * 100 + j] = Math.max(0, 0.6 * shared + 0.8 * rng.normal() + 0.2)
    }
    return tf.tensor2d(data, [n, 100])
  }
  let batch: tf.Tensor2D
  let heldOut: tf.Tensor2D
  beforeAll(() => {
    batch = features(64, 1)
    heldOut = features(512, 2)
  })
  afterAll(() => tf.dispose([batch, heldOut]))

  const learn = (config: LwConfig, kind: string, seed = 3) =>
    learnLayer({ kernelShape: [100, 32], biasShape: [32], forward: dense(kind), inputs: [batch], config, seed, activation: kind })

  /** The layer's statistics on the held-out samples at the learned weights. */
  const heldOutStats = (kind: string, r: ReturnType<typeof learn>) =>
    tf.tidy(() => {
      const k = tf.tensor(r.weights.kernel.data, [...r.weights.kernel.shape])
      const b = tf.tensor(r.weights.bias!.data, [...r.weights.bias!.shape])
      const sites = dense(kind)([heldOut], k, b)
      const [o, a] = [moments(sites.output, "tensor", true), moments(sites.activation, "tensor", true)]
      return { outputMean: o.mean.dataSync()[0]!, outputVar: o.variance.dataSync()[0]!, activationVar: a.variance.dataSync()[0]! }
    })

  for (const kind of ["sigmoid", "tanh"]) {
    test(`${kind}, "auto": reaches its target on the batch and within 10 % on held-out samples`, () => {
      const before = tf.memory().numTensors
      const r = learn(defaultLwConfig, kind)
      expect(tf.memory().numTensors).toBe(before)
      expect(r.target).toMatchObject({ activation: kind, auto: true, reached: true, feasibility: { status: "feasible" } })
      expect(r.stop).toBe("threshold")
      const s = heldOutStats(kind, r)
      const stat = r.target.varianceAt === "output" ? s.outputVar : s.activationVar
      console.log(`${kind} auto: ${r.target.varianceAt} variance target ${r.target.varianceTarget}, held-out ${stat.toFixed(4)}, mean ${s.outputMean.toFixed(3)}, ${r.epochs} epochs`)
      expect(Math.abs(stat / r.target.varianceTarget - 1)).toBeLessThan(0.1)
      expect(Math.abs(s.outputMean)).toBeLessThan(0.1)
    })
  }

  test("sigmoid with the thesis' literal 1: recorded infeasible and not reached, the layer driven into saturation", () => {
    const r = learn({ ...defaultLwConfig, varianceTarget: 1 }, "sigmoid")
    console.log(`sigmoid literal: ${r.epochs} epochs (${r.stop}), activation variance ${r.final.activationVar.toFixed(4)}, pre-activation variance ${r.final.outputVar.toFixed(2)}`)
    expect(r.target).toMatchObject({ auto: false, varianceTarget: 1, reached: false, feasibility: { status: "infeasible" } })
    expect(r.final.activationVar).toBeLessThan(0.25)
    // Saturated: the pre-activation spread far beyond sigmoid's linear range.
    expect(r.final.outputVar).toBeGreaterThan(4)
  })

  test('a relu layer learns bit-for-bit the same weights under "auto" as under the literal 1', () => {
    const auto = learn(defaultLwConfig, "relu")
    const literal = learn({ ...defaultLwConfig, varianceTarget: 1 }, "relu")
    const unnamed = learnLayer({ kernelShape: [100, 32], biasShape: [32], forward: dense("relu"), inputs: [batch], config: defaultLwConfig, seed: 3 })
    expect(auto.weights.kernel.data).toEqual(literal.weights.kernel.data)
    expect(auto.weights.bias!.data).toEqual(literal.weights.bias!.data)
    expect(unnamed.weights.kernel.data).toEqual(literal.weights.kernel.data)
    expect(auto.curve).toEqual(literal.curve)
    expect(auto.target.varianceTarget).toBe(1)
  })
})
