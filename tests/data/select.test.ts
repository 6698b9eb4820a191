import { describe, expect, test } from "bun:test"
import { labelHistogram, sampleBatch, sampleIndices, shuffle, splitSet, subset, take, type ImageSet } from "../../shared/data/index.ts"
import { expectTagged } from "./fixtures.ts"

/** n samples of 2×1×1, sample i holds [i, -i] (as bytes mod 256), label i mod classes — so every value is traceable. */
const toySet = (n: number, classes: number, float = false): ImageSet => {
  const values = Array.from({ length: 2 * n }, (_, k) => (k % 2 === 0 ? Math.floor(k / 2) : 255 - Math.floor(k / 2)) % 256)
  return {
    images: float ? Float32Array.from(values) : Uint8Array.from(values),
    labels: Uint8Array.from({ length: n }, (_, i) => i % classes),
    n,
    height: 2,
    width: 1,
    channels: 1,
    classes
  }
}
/** Which original sample each result row came from, read back from its first value. */
const origin = (s: Pick<ImageSet, "images" | "n">): number[] => Array.from({ length: s.n }, (_, i) => s.images[2 * i]!)

describe("take / shuffle", () => {
  test("take copies the rows and labels asked for, in that order", () => {
    const set = toySet(10, 3)
    const t = take(set, [7, 2, 2])
    expect(origin(t)).toEqual([7, 2, 2])
    expect(Array.from(t.images)).toEqual([7, 248, 2, 253, 2, 253])
    expect(Array.from(t.labels)).toEqual([1, 2, 2])
    expect(t.images).not.toBe(set.images)
  })

  test("shuffle is a seeded permutation that keeps image/label pairs together", () => {
    const set = toySet(50, 5, true)
    const a = shuffle(set, 1)
    expect(origin(a)).toEqual(origin(shuffle(set, 1)))
    expect(origin(a)).not.toEqual(origin(shuffle(set, 2)))
    expect([...origin(a)].sort((x, y) => x - y)).toEqual(origin(set))
    for (let i = 0; i < a.n; i++) expect(a.labels[i]).toBe(origin(a)[i]! % 5)
    expect(a.images).toBeInstanceOf(Float32Array)
  })
})

describe("sampling", () => {
  const set = toySet(100, 4)

  test("by count: seeded, no repeats", () => {
    const a = sampleIndices(set, { amount: { count: 25 }, seed: 11 })
    expect(a).toHaveLength(25)
    expect(new Set(a).size).toBe(25)
    expect(Array.from(sampleIndices(set, { amount: { count: 25 }, seed: 11 }))).toEqual(Array.from(a))
    expect(Array.from(sampleIndices(set, { amount: { count: 25 }, seed: 12 }))).not.toEqual(Array.from(a))
  })

  test("by fraction: 30 % of 100 is 30", () => {
    expect(sampleIndices(set, { amount: { fraction: 0.3 }, seed: 1 })).toHaveLength(30)
  })

  test("class-balanced: equal counts per class, remainder spread one each", () => {
    const b = sampleBatch(set, { amount: { count: 20 }, seed: 3, balanced: true })
    expect(labelHistogram(b)).toEqual([5, 5, 5, 5])
    const r = sampleBatch(set, { amount: { count: 22 }, seed: 3, balanced: true })
    expect([...labelHistogram(r)].sort()).toEqual([5, 5, 6, 6])
    // Balanced on a skewed set: labels 0 are 70 %, still 5 each.
    const skewed = { ...set, labels: Uint8Array.from({ length: 100 }, (_, i) => (i < 70 ? 0 : 1 + (i % 3))) }
    expect(labelHistogram(sampleBatch(skewed, { amount: { count: 20 }, seed: 1, balanced: true }))).toEqual([5, 5, 5, 5])
    // A batch is in random order, not grouped by class.
    expect(Array.from(b.labels)).not.toEqual([...b.labels].sort())
  })

  test("batch rows match their labels (images and labels stay paired)", () => {
    const b = sampleBatch(set, { amount: { count: 25 }, seed: 8 })
    origin(b).forEach((o, i) => expect(b.labels[i]).toBe(o % 4))
  })

  test("inputs only drops the labels", () => {
    const b = sampleBatch(set, { amount: { count: 25 }, seed: 8, inputsOnly: true })
    expect("labels" in b).toBe(false)
    expect(b.n).toBe(25)
    expect(origin(b)).toEqual(origin(sampleBatch(set, { amount: { count: 25 }, seed: 8 })))
  })

  test("subset keeps the original order", () => {
    const s = subset(set, { amount: { count: 10 }, seed: 4, balanced: true })
    const o = origin(s)
    expect(o).toEqual([...o].sort((x, y) => x - y))
    expect(labelHistogram(s).reduce((a, b) => a + b)).toBe(10)
  })

  test("impossible amounts are BadConfig", async () => {
    await expectTagged(() => sampleIndices(set, { amount: { count: 101 }, seed: 1 }), "BadConfig")
    await expectTagged(() => sampleIndices(set, { amount: { count: 0 }, seed: 1 }), "BadConfig")
    await expectTagged(() => sampleIndices(set, { amount: { fraction: 1.5 }, seed: 1 }), "BadConfig")
    await expectTagged(() => sampleIndices(set, { amount: { fraction: 0.001 }, seed: 1 }), "BadConfig")
    // 4 classes × 25 each: 101 cannot be balanced, nor can 30 when one class has only 2 members.
    const rare = { ...set, labels: Uint8Array.from({ length: 100 }, (_, i) => (i < 2 ? 3 : i % 3)) }
    const e = await expectTagged<{ expected: string }>(() => sampleIndices(rare, { amount: { count: 30 }, seed: 1, balanced: true }), "BadConfig")
    expect(e.expected).toContain("class 3 has 2")
  })
})

describe("train/val/test split", () => {
  const set = toySet(100, 5)

  test("parts are disjoint, cover the set, keep original order, and are seeded", () => {
    const s = splitSet(set, { val: { fraction: 0.2 }, test: { count: 10 }, seed: 5 })
    expect([s.train.n, s.val!.n, s.test!.n]).toEqual([70, 20, 10])
    const all = [...origin(s.train), ...origin(s.val!), ...origin(s.test!)]
    expect(new Set(all).size).toBe(100)
    for (const part of [s.train, s.val!, s.test!]) expect(origin(part)).toEqual([...origin(part)].sort((a, b) => a - b))
    expect(origin(splitSet(set, { val: { fraction: 0.2 }, test: { count: 10 }, seed: 5 }).val!)).toEqual(origin(s.val!))
    expect(origin(splitSet(set, { val: { fraction: 0.2 }, seed: 6 }).val!)).not.toEqual(origin(s.val!))
  })

  test("adding a test part does not change the val part", () => {
    const a = splitSet(set, { val: { count: 10 }, seed: 2 })
    const b = splitSet(set, { val: { count: 10 }, test: { count: 10 }, seed: 2 })
    expect(origin(b.val!)).toEqual(origin(a.val!))
  })

  test("balanced val and test", () => {
    const s = splitSet(set, { val: { count: 10 }, test: { fraction: 0.1 }, seed: 1, balanced: true })
    expect(labelHistogram(s.val!)).toEqual([2, 2, 2, 2, 2])
    expect(labelHistogram(s.test!)).toEqual([2, 2, 2, 2, 2])
    expect(labelHistogram(s.train)).toEqual([16, 16, 16, 16, 16])
  })

  test("no val/test gives the whole set as train; leaving nothing for train is BadConfig", async () => {
    expect(origin(splitSet(set, { seed: 1 }).train)).toEqual(origin(set))
    await expectTagged(() => splitSet(set, { val: { fraction: 0.5 }, test: { fraction: 0.5 }, seed: 1 }), "BadConfig")
    await expectTagged(() => splitSet(set, { val: { count: 60 }, test: { count: 60 }, seed: 1 }), "BadConfig")
  })
})
