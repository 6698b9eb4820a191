import { describe, expect, test } from "bun:test"
import {
  createRng,
  defaultInitConfigs,
  deriveSeed,
  fans,
  fixupScale,
  gain,
  gamma,
  initialize,
  initMean,
  initVariance,
  lwStart,
  lwStartInterval,
  normalMoments,
  type InitConfig,
  type InitContext,
  type InitName,
  type Nonlinearity
} from "../../shared/init/index.ts"
import { filterVariances, maxAbs, mean, median, variance } from "./stats.ts"

const conv = [3, 3, 64, 128] as const // 73,728 weights: fanIn 576, fanOut 1152
const dense = [512, 256] as const

/** Sample mean within 6 standard errors of `m`, sample variance within `relTol` of `v`. */
const expectMoments = (w: Float32Array, m: number, v: number, relTol = 0.03) => {
  expect(Math.abs(mean(w) - m)).toBeLessThan(6 * Math.sqrt(v / w.length) + 1e-12)
  expect(Math.abs(variance(w) / v - 1)).toBeLessThan(relTol)
}

describe("random", () => {
  test("same seed same stream, different seed different stream", () => {
    const a = createRng(7)
    const b = createRng(7)
    const c = createRng(8)
    const xs = Array.from({ length: 5 }, () => a.next())
    expect(Array.from({ length: 5 }, () => b.next())).toEqual(xs)
    expect(Array.from({ length: 5 }, () => c.next())).not.toEqual(xs)
    expect(deriveSeed(1, "conv1")).not.toBe(deriveSeed(1, "conv2"))
    expect(deriveSeed(1, "conv1")).not.toBe(deriveSeed(2, "conv1"))
  })

  test("normals are N(0, 1)", () => {
    const rng = createRng(1)
    const z = Float32Array.from({ length: 100_000 }, () => rng.normal())
    expectMoments(z, 0, 1)
  })

  test.each([
    [0.5, 2],
    [3, 0.7]
  ])("Gamma(%p, %p) has mean kθ and variance kθ²", (k, theta) => {
    const rng = createRng(3)
    const g = Float64Array.from({ length: 100_000 }, () => gamma(rng, k, theta))
    expect(Math.abs(mean(g) / (k * theta) - 1)).toBeLessThan(0.03)
    expect(Math.abs(variance(g) / (k * theta * theta) - 1)).toBeLessThan(0.06)
  })
})

describe("fans and gains", () => {
  test("conv and dense fans (tfjs layout)", () => {
    expect(fans(conv)).toEqual({ fanIn: 576, fanOut: 1152, units: 128, size: 73_728 })
    expect(fans(dense)).toEqual({ fanIn: 512, fanOut: 256, units: 256, size: 131_072 })
  })
  test("gains are PyTorch's calculate_gain", () => {
    expect(gain("linear")).toBe(1)
    expect(gain("sigmoid")).toBe(1)
    expect(gain("tanh")).toBeCloseTo(5 / 3, 12)
    expect(gain("relu")).toBeCloseTo(Math.SQRT2, 12)
    expect(gain("leakyRelu", 0.2)).toBeCloseTo(Math.sqrt(2 / 1.04), 12)
  })
})

describe("variance-scaling initializers match their formulas", () => {
  const shapes = [
    ["conv", conv],
    ["dense", dense]
  ] as const
  test.each(shapes)("heuristic U(±1/√fanIn), %s", (_, shape) => {
    const w = initialize({ name: "heuristic" }, shape, 1)
    const bound = 1 / Math.sqrt(fans(shape).fanIn)
    expect(maxAbs(w)).toBeLessThanOrEqual(bound)
    expectMoments(w, 0, bound ** 2 / 3)
  })

  test.each(shapes)("xavier uniform and normal, %s", (_, shape) => {
    const { fanIn, fanOut } = fans(shape)
    const v = (2 / (fanIn + fanOut)) * 1.5 ** 2
    const u = initialize({ name: "xavierUniform", gain: 1.5 }, shape, 2)
    expect(maxAbs(u)).toBeLessThanOrEqual(1.5 * Math.sqrt(6 / (fanIn + fanOut)) + 1e-7)
    expectMoments(u, 0, v)
    expectMoments(initialize({ name: "xavierNormal", gain: 1.5 }, shape, 3), 0, v)
  })

  const nonlinearities: [Nonlinearity, number][] = [
    ["relu", 2],
    ["leakyRelu", 2 / (1 + 0.1 ** 2)],
    ["tanh", 25 / 9],
    ["sigmoid", 1],
    ["linear", 1]
  ]
  test.each(nonlinearities)("kaiming (%p): variance g²/fanIn = %p/fanIn", (nonlinearity, g2) => {
    const v = g2 / fans(conv).fanIn
    const config = { nonlinearity, negativeSlope: 0.1 }
    const u = initialize({ name: "kaimingUniform", ...config }, conv, 4)
    expect(maxAbs(u)).toBeLessThanOrEqual(Math.sqrt(3 * v) + 1e-7)
    expectMoments(u, 0, v)
    expectMoments(initialize({ name: "kaimingNormal", ...config }, conv, 5), 0, v)
    expect(initVariance({ name: "kaimingNormal", ...config }, conv)).toBeCloseTo(v, 12)
  })

  test("random is N(0, 1)", () => {
    expectMoments(initialize({ name: "random" }, conv, 6), 0, 1)
  })
})

describe("orthogonal", () => {
  /** Gram matrix of the columns (tall) or rows (wide) of a [rows, cols] row-major matrix. */
  const gram = (w: Float32Array, rows: number, cols: number): number[][] => {
    const tall = rows >= cols
    const k = tall ? cols : rows
    const g = Array.from({ length: k }, () => new Array<number>(k).fill(0))
    for (let a = 0; a < k; a++)
      for (let b = a; b < k; b++) {
        let s = 0
        if (tall) for (let i = 0; i < rows; i++) s += w[i * cols + a]! * w[i * cols + b]!
        else for (let j = 0; j < cols; j++) s += w[a * cols + j]! * w[b * cols + j]!
        g[a]![b] = s
        g[b]![a] = s
      }
    return g
  }
  const expectScaledIdentity = (g: number[][], scale: number) => {
    let err = 0
    g.forEach((row, a) => row.forEach((x, b) => (err = Math.max(err, Math.abs(x - (a === b ? scale : 0))))))
    expect(err).toBeLessThan(1e-5)
  }

  test("tall conv kernel [3,3,16,32]: WᵀW = g²I", () => {
    const w = initialize({ name: "orthogonal", gain: 2 }, [3, 3, 16, 32], 1)
    expectScaledIdentity(gram(w, 144, 32), 4)
  })
  test("wide dense kernel [20, 50]: WWᵀ = I", () => {
    const w = initialize({ name: "orthogonal", gain: 1 }, [20, 50], 1)
    expectScaledIdentity(gram(w, 20, 50), 1)
  })
  test("square [64, 64]: orthogonal both ways; variance 1/n", () => {
    const w = initialize({ name: "orthogonal", gain: 1 }, [64, 64], 9)
    expectScaledIdentity(gram(w, 64, 64), 1)
    expect(mean(w.map((x) => x * x))).toBeCloseTo(initVariance({ name: "orthogonal", gain: 1 }, [64, 64]), 6)
  })
})

describe("normal (LW's near-zero start)", () => {
  test("lwStart is N(0, 0.1²)", () => {
    expectMoments(initialize(lwStart, conv, 1), 0, 0.01)
  })

  test("resample truncation stays in bounds and matches the truncated-normal moments", () => {
    const w = initialize(lwStartInterval, conv, 2)
    expect(Math.min(...w)).toBeGreaterThanOrEqual(0)
    expect(Math.max(...w)).toBeLessThanOrEqual(0.1 + 1e-7)
    const m = normalMoments(lwStartInterval)
    expect(m.mean).toBeCloseTo(0.046, 3)
    expectMoments(w, m.mean, m.variance)
    expect(initMean(lwStartInterval, conv)).toBeCloseTo(m.mean, 12)
  })

  test("clip truncation puts the tails on the bounds and matches the clipped moments", () => {
    const config: InitConfig = { name: "normal", mean: 0, std: 0.1, truncation: { low: -0.1, high: 0.1, method: "clip" } }
    const w = initialize(config, conv, 3)
    const onBounds = w.filter((x) => Math.abs(Math.abs(x) - 0.1) < 1e-7).length / w.length
    expect(Math.abs(onBounds - 0.3173)).toBeLessThan(0.01) // P(|z| > 1)
    const m = normalMoments({ name: "normal", mean: 0, std: 0.1, truncation: { low: -0.1, high: 0.1, method: "clip" } })
    expectMoments(w, m.mean, m.variance)
  })

  test("a window holding almost no mass is refused, not spun on", () => {
    const config: InitConfig = { name: "normal", mean: 0, std: 0.01, truncation: { low: 1, high: 2, method: "resample" } }
    expect(() => initialize(config, [4, 4], 1)).toThrow(/clip/)
  })
})

describe("enhanced", () => {
  const base: InitConfig = { name: "kaimingNormal", nonlinearity: "relu", negativeSlope: 0 }
  const shape = [3, 3, 32, 4000] // 4000 filters of 288 weights

  test("per-filter variances are σ²·χ²₁: mean σ², median 0.455σ²", () => {
    const w = initialize({ name: "enhanced", base }, shape, 11)
    const sigma2 = initVariance(base, shape)
    const ratios = filterVariances(w, 4000).map((v) => v / sigma2)
    // Each filter's sample variance over 288 weights estimates its drawn variance; averaged over 4000 filters:
    expect(Math.abs(mean(ratios) - 1)).toBeLessThan(0.1) // SE of the mean of χ²₁ over 4000: 0.022
    expect(Math.abs(median(ratios) - 0.455)).toBeLessThan(0.06) // χ²₁'s median, unlike the base's 1
    expect(initVariance({ name: "enhanced", base }, shape)).toBeCloseTo(sigma2, 12)
  })

  test("works over a uniform base: finite, and filters really differ in scale", () => {
    const w = initialize({ name: "enhanced", base: { name: "heuristic" } }, [100, 50], 3)
    expect(w.every(Number.isFinite)).toBe(true)
    const vs = filterVariances(w, 50)
    expect(Math.max(...vs) / Math.min(...vs)).toBeGreaterThan(10) // filters really differ in scale
  })
})

describe("fixup", () => {
  const fixup: InitConfig = { name: "fixup", base: { name: "kaimingNormal", nonlinearity: "relu", negativeSlope: 0 } }
  const first: InitContext = { role: "branch", position: 0, length: 2, count: 8 }
  const last: InitContext = { role: "branch", position: 1, length: 2, count: 8 }

  test("scale L^(−1/(2m−2)): 8^(−½) for ResNet18's BasicBlocks, 16^(−¼) for m = 3", () => {
    expect(fixupScale(first)).toBeCloseTo(1 / Math.sqrt(8), 12)
    expect(fixupScale({ role: "branch", position: 1, length: 3, count: 16 })).toBeCloseTo(0.5, 12)
    expect(fixupScale(last)).toBe(0)
    expect(fixupScale({ role: "classifier" })).toBe(0)
    expect(fixupScale({ role: "shortcut" })).toBe(1)
  })

  test("branch layers are scaled He, branch ends and classifier are zero", () => {
    const he = 2 / fans(conv).fanIn
    expectMoments(initialize(fixup, conv, 1, first), 0, he / 8)
    expectMoments(initialize(fixup, conv, 1, { role: "plain" }), 0, he)
    expect(initialize(fixup, conv, 1, last).every((x) => x === 0)).toBe(true)
    expect(initialize(fixup, dense, 1, { role: "classifier" }).every((x) => x === 0)).toBe(true)
  })
})

describe("every registered initializer", () => {
  const names = Object.keys(defaultInitConfigs) as InitName[]
  test.each(names)("%p: same seed → same weights, different seed → different, right size, finite", (name) => {
    const config = defaultInitConfigs[name]
    const a = initialize(config, [3, 3, 8, 16], 5)
    expect(a.length).toBe(3 * 3 * 8 * 16)
    expect(a.every(Number.isFinite)).toBe(true)
    expect(initialize(config, [3, 3, 8, 16], 5)).toEqual(a)
    expect(initialize(config, [3, 3, 8, 16], 6)).not.toEqual(a)
  })
})
