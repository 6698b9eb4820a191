import { describe, expect, test } from "bun:test"
import { createRng, labelHistogram, makeCircles, permutation } from "../../shared/data/index.ts"
import { expectTagged } from "./fixtures.ts"

const radii = (set: ReturnType<typeof makeCircles>, cls: number): number[] => {
  const out: number[] = []
  for (let i = 0; i < set.n; i++) if (set.labels[i] === cls) out.push(Math.hypot(set.images[2 * i]!, set.images[2 * i + 1]!))
  return out
}
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length

describe("seeded PRNG", () => {
  test("same seed, same stream; different seeds, different streams", () => {
    const a = createRng(42)
    const b = createRng(42)
    const c = createRng(43)
    const xs = Array.from({ length: 5 }, () => a.next())
    expect(Array.from({ length: 5 }, () => b.next())).toEqual(xs)
    expect(Array.from({ length: 5 }, () => c.next())).not.toEqual(xs)
    for (const x of xs) expect(x >= 0 && x < 1).toBe(true)
  })

  test("a permutation holds each index once (the exact stream is checked against a reference in tests/random.test.ts)", () => {
    const p = Array.from(permutation(1000, createRng(7)))
    expect([...p].sort((a, b) => a - b)).toEqual(Array.from({ length: 1000 }, (_, i) => i))
    expect(p).not.toEqual(Array.from({ length: 1000 }, (_, i) => i))
  })

  test("uniform and normal moments", () => {
    const r = createRng(1)
    const u = Array.from({ length: 20000 }, () => r.next())
    expect(Math.abs(mean(u) - 0.5)).toBeLessThan(0.01)
    const z = Array.from({ length: 20000 }, () => r.normal())
    expect(Math.abs(mean(z))).toBeLessThan(0.03)
    expect(Math.abs(mean(z.map((v) => v * v)) - 1)).toBeLessThan(0.04)
  })

  test("a non-integer seed is a BadConfig", async () => {
    await expectTagged(() => createRng(1.5), "BadConfig")
  })
})

describe("circles", () => {
  test("deterministic by seed", () => {
    const a = makeCircles({ n: 200, noise: 0.1, factor: 0.4, seed: 3 })
    const b = makeCircles({ n: 200, noise: 0.1, factor: 0.4, seed: 3 })
    const c = makeCircles({ n: 200, noise: 0.1, factor: 0.4, seed: 4 })
    expect(Array.from(a.images)).toEqual(Array.from(b.images))
    expect(Array.from(a.labels)).toEqual(Array.from(b.labels))
    expect(Array.from(a.images)).not.toEqual(Array.from(c.images))
  })

  test("without noise the radii are exactly 1 and factor; classes split n/2 each", () => {
    const set = makeCircles({ n: 101, noise: 0, factor: 0.3, seed: 1 })
    expect([set.n, set.height, set.width, set.channels, set.classes]).toEqual([101, 1, 2, 1, 2])
    expect(labelHistogram(set)).toEqual([50, 51])
    for (const r of radii(set, 0)) expect(r).toBeCloseTo(1, 5)
    for (const r of radii(set, 1)) expect(r).toBeCloseTo(0.3, 5)
  })

  test("with noise the mean radii stay near 1 and factor, spread ~ noise", () => {
    const set = makeCircles({ n: 4000, noise: 0.05, factor: 0.5, seed: 9 })
    const outer = radii(set, 0)
    const inner = radii(set, 1)
    expect(Math.abs(mean(outer) - 1)).toBeLessThan(0.01)
    expect(Math.abs(mean(inner) - 0.5)).toBeLessThan(0.01)
    const sd = Math.sqrt(mean(outer.map((r) => (r - 1) ** 2)))
    expect(sd).toBeGreaterThan(0.04)
    expect(sd).toBeLessThan(0.06)
  })

  test("samples are shuffled (labels are not sorted)", () => {
    const set = makeCircles({ n: 100, seed: 5 })
    expect(Array.from(set.labels.subarray(0, 50)).every((l) => l === 0)).toBe(false)
  })

  test("bad options are BadConfig", async () => {
    await expectTagged(() => makeCircles({ n: 1, seed: 0 }), "BadConfig")
    await expectTagged(() => makeCircles({ n: 10, factor: 1, seed: 0 }), "BadConfig")
    await expectTagged(() => makeCircles({ n: 10, noise: -1, seed: 0 }), "BadConfig")
  })
})
