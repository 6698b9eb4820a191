/**
 * The enhanced initializer's variants against their laws: each group's empirical variance, over σ², follows
 * χ²₁ (Gamma(½, 2σ²): mean σ², variance 2σ⁴) or 3U² (the enhanced uniform: mean σ², variance 0.8σ⁴) — checked by
 * moments and by a Kolmogorov–Smirnov distance to the law's CDF; the uniform variant's filters are uniform.
 */
import { describe, expect, test } from "bun:test"
import { gamma, createRng, groupCount, groupVariances, histogram, initialize, initVariance, ksDistance, varianceLaws, type InitConfig } from "../../shared/init/index.ts"
import { maxAbs, mean, variance } from "./stats.ts"

const kaimingNormal: InitConfig = { name: "kaimingNormal", nonlinearity: "relu", negativeSlope: 0 }
const kaimingUniform: InitConfig = { name: "kaimingUniform", nonlinearity: "relu", negativeSlope: 0 }


describe("the variance laws", () => {
  test("Gamma(½, 2σ²) has mean σ² and variance 2σ⁴: kθ and kθ² for k = ½, θ = 2σ²", () => {
    const sigma2 = 0.37
    const rng = createRng(5)
    const draws = Array.from({ length: 200_000 }, () => gamma(rng, 0.5, 2 * sigma2))
    expect(Math.abs(mean(draws) / sigma2 - 1)).toBeLessThan(0.01) // SE 0.003
    expect(Math.abs(variance(draws) / (2 * sigma2 ** 2) - 1)).toBeLessThan(0.05) // SE ≈ 0.012
    expect(ksDistance(draws.map((v) => v / sigma2), varianceLaws.gamma.cdf)).toBeLessThan(0.005)
  })

  test("each law's density integrates to its CDF", () => {
    for (const law of Object.values(varianceLaws)) {
      // Midpoint rule on [0.01, 2.5] (the χ²₁ density's pole at 0 is left out of both sides).
      let integral = 0
      const h = 0.0005
      for (let x = 0.01 + h / 2; x < 2.5; x += h) integral += law.density(x) * h
      expect(integral).toBeCloseTo(law.cdf(2.5) - law.cdf(0.01), 3)
    }
  })
})

describe("enhanced, per filter", () => {
  // 8000 filters of 1024 weights: a filter's sample variance is within ~4 % of its drawn variance.
  const shape = [1, 1, 1024, 8000]

  test("normal base, gamma law: filter variances / σ² follow χ²₁ (mean 1, variance 2)", () => {
    const w = initialize({ name: "enhanced", base: kaimingNormal }, shape, 11)
    const ratios = Array.from(groupVariances(w, shape, "filter"), (v) => v / initVariance(kaimingNormal, shape))
    expect(Math.abs(mean(ratios) - 1)).toBeLessThan(0.05) // SE √(2/8000) = 0.016
    // SE of the sample variance of χ²₁ over 8000: √((μ₄ − σ⁴)/n) = √(56/8000) = 0.084; sampling noise adds 6/1024.
    expect(Math.abs(variance(ratios) - 2)).toBeLessThan(0.35)
    expect(ksDistance(ratios, varianceLaws.gamma.cdf)).toBeLessThan(0.025)
    // The base alone: every filter near σ², far from χ²₁.
    const base = initialize(kaimingNormal, shape, 11)
    expect(ksDistance(Array.from(groupVariances(base, shape, "filter"), (v) => v / initVariance(kaimingNormal, shape)), varianceLaws.gamma.cdf)).toBeGreaterThan(0.3)
  })

  test("uniform base, uniform law: each filter is U(±√3·b·u), its variance / σ² follows 3U² (mean 1, variance 0.8)", () => {
    const config: InitConfig = { name: "enhanced", base: kaimingUniform, law: "uniform" }
    const w = initialize(config, shape, 12)
    const sigma2 = initVariance(kaimingUniform, shape)
    expect(initVariance(config, shape)).toBe(sigma2)
    const vars = groupVariances(w, shape, "filter")
    const ratios = Array.from(vars, (v) => v / sigma2)
    expect(Math.abs(mean(ratios) - 1)).toBeLessThan(0.03) // SE √(0.8/8000) = 0.01
    expect(Math.abs(variance(ratios) - 0.8)).toBeLessThan(0.06) // SE ≈ 0.013
    expect(ksDistance(ratios, varianceLaws.uniform.cdf)).toBeLessThan(0.025)
    // Uniform within a filter: its largest |w| is √3 × its std (a normal's would be ~3.3 × over 1024 draws).
    const b = Math.sqrt(3 * sigma2)
    for (const j of [0, 1, 2, 3]) {
      const filter = Float32Array.from({ length: 1024 }, (_, i) => w[i * 8000 + j]!)
      expect(maxAbs(filter) / Math.sqrt(vars[j]!)).toBeCloseTo(Math.sqrt(3), 1)
      expect(maxAbs(filter)).toBeLessThanOrEqual(Math.sqrt(3) * b + 1e-6)
    }
  })

  test("an absent law and group mean the gamma law per filter: the same draw", () => {
    const s = [3, 3, 4, 6]
    const plain = initialize({ name: "enhanced", base: kaimingNormal }, s, 3)
    expect(Array.from(initialize({ name: "enhanced", base: kaimingNormal, law: "gamma", per: "filter" }, s, 3))).toEqual(Array.from(plain))
  })
})

describe("enhanced, per spatial sub-vector", () => {
  test("groups: in·out slices of kh·kw for a conv, one per weight for a dense kernel", () => {
    expect(groupCount([3, 3, 16, 32], "slice")).toBe(16 * 32)
    expect(groupCount([3, 3, 16, 32], "filter")).toBe(32)
    expect(groupCount([64, 10], "slice")).toBe(640)
  })

  test("each kh·kw slice has its own scale; slice variances / σ² average 1, filters vary far less than per filter", () => {
    // 7×7 slices (49 weights each), 64 × 400 of them.
    const shape = [7, 7, 64, 400]
    const config: InitConfig = { name: "enhanced", base: kaimingNormal, per: "slice" }
    const w = initialize(config, shape, 21)
    const sigma2 = initVariance(kaimingNormal, shape)
    const slices = Array.from(groupVariances(w, shape, "slice"), (v) => v / sigma2)
    expect(slices.length).toBe(64 * 400)
    expect(Math.abs(mean(slices) - 1)).toBeLessThan(0.03)
    // A slice's sample variance over 49 normals adds its own noise (relative variance 2/49 of E[v²] = 3σ⁴).
    expect(Math.abs(variance(slices) - (2 + (2 / 49) * 3))).toBeLessThan(0.3)
    // A filter averages 64 independent slices: its variance / σ² has variance ≈ 2/64, not 2.
    const filters = Array.from(groupVariances(w, shape, "filter"), (v) => v / sigma2)
    expect(variance(filters)).toBeLessThan(0.1)
    // Within a slice, the 49 weights share one scale: the largest slice-to-slice ratio is huge, as χ²₁'s tails are.
    expect(Math.max(...slices) / Math.min(...slices)).toBeGreaterThan(1000)
  })
})

describe("histogram and KS distance", () => {
  test("densities integrate to the share below max; the rest is `above`; KS of a sample of its own law is small", () => {
    const h = histogram([0.1, 0.2, 0.7, 1.5, 2.5, 9], 2, 4)
    expect(h.bins.map((b) => b.density)).toEqual([2 / 6 / 0.5, 1 / 6 / 0.5, 0, 1 / 6 / 0.5])
    expect(h.above).toBeCloseTo(2 / 6, 12)
    expect(ksDistance([0.5], (x) => x)).toBeCloseTo(0.5, 12)
    const rng = createRng(1)
    expect(ksDistance(Array.from({ length: 20000 }, () => rng.next()), (x) => x)).toBeLessThan(0.015)
  })
})
