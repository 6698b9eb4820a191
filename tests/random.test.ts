/**
 * lwi's one PRNG and seed mixer (shared/random.ts) against a reference written independently here, in BigInt
 * arithmetic modulo 2^32 (no Math.imul, no |0): splitmix32 seeding, mulberry32 draws, deriveSeed. A change to the
 * generator must change this file too; a float or sign slip in the 32-bit maths shows up as a mismatch.
 */
import { describe, expect, test } from "bun:test"
import { createRng, deriveSeed, permutation, splitmix32 } from "../shared/random.ts"
import { expectTagged } from "./data/fixtures.ts"

const M = 1n << 32n
const u32 = (x: bigint) => ((x % M) + M) % M
const shr = (x: bigint, n: bigint) => x >> n

const refSplitmix32 = (x: bigint): bigint => {
  let z = u32(x + 0x9e3779b9n)
  z = u32((z ^ shr(z, 16n)) * 0x21f0aaadn)
  z = u32((z ^ shr(z, 15n)) * 0x735a2d97n)
  return z ^ shr(z, 15n)
}

/** The seed's high 32 bits mixed, then xor'ed with its low 32 bits (two's complement), mixed again. */
const refSeedBits = (seed: number): bigint => {
  const s = BigInt(seed)
  const hi = s >= 0n ? s / M : -((-s + M - 1n) / M) // floor division
  return refSplitmix32(refSplitmix32(hi) ^ u32(s))
}

const refFnv1a = (label: string): bigint => {
  let h = 0x811c9dc5n
  for (const ch of label) h = u32((h ^ BigInt(ch.charCodeAt(0))) * 0x01000193n)
  return h
}

/** mulberry32 from a 32-bit state. */
const refStream = (seed: number) => {
  let state = refSeedBits(seed)
  return () => {
    state = u32(state + 0x6d2b79f5n)
    let t = u32((state ^ shr(state, 15n)) * (state | 1n))
    t = u32(t + u32((t ^ shr(t, 7n)) * (t | 61n))) ^ t
    return Number(t ^ shr(t, 14n)) / 2 ** 32
  }
}

const SEEDS = [0, 1, 2, 7, 42, -1, -123456789, 2 ** 31, 2 ** 32, 2 ** 32 + 1, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER]

describe("the PRNG equals its reference", () => {
  test.each(SEEDS)("seed %p: 50 uniform draws", (seed) => {
    const rng = createRng(seed)
    const ref = refStream(seed)
    expect(Array.from({ length: 50 }, () => rng.next())).toEqual(Array.from({ length: 50 }, () => ref()))
  })

  test("splitmix32 on edge inputs", () => {
    for (const x of [0, 1, -1, 0x7fffffff, 0x80000000, 0xffffffff, 123456789]) expect(BigInt(splitmix32(x))).toBe(refSplitmix32(BigInt(x)))
  })

  test("deriveSeed(seed, label) = splitmix32(mixed seed xor FNV-1a(label)), in [0, 2^32)", () => {
    for (const seed of SEEDS) {
      for (const label of ["conv1", "dense_2", "split/val", "", "é-layer"]) {
        const d = deriveSeed(seed, label)
        expect(BigInt(d)).toBe(refSplitmix32(refSeedBits(seed) ^ refFnv1a(label)))
        expect(Number.isInteger(d) && d >= 0 && d < 2 ** 32).toBe(true)
      }
    }
  })

  test("normals: Box–Muller on the same stream, spare returned second", () => {
    const rng = createRng(9)
    const ref = refStream(9)
    const r = Math.sqrt(-2 * Math.log(1 - ref()))
    const theta = 2 * Math.PI * ref()
    expect([rng.normal(), rng.normal()]).toEqual([r * Math.cos(theta), r * Math.sin(theta)])
  })

  test("permutation is the Fisher–Yates shuffle of 0..n-1 on that stream", () => {
    const ref = refStream(7)
    const want = Array.from({ length: 10 }, (_, i) => i)
    for (let i = want.length - 1; i > 0; i--) {
      const j = Math.floor(ref() * (i + 1))
      ;[want[i], want[j]] = [want[j]!, want[i]!]
    }
    expect(Array.from(permutation(10, createRng(7)))).toEqual(want)
  })
})

describe("seeds", () => {
  test("1 and 2^32, -1 and 2^32 - 1: seeds equal in their low 32 bits give different streams", () => {
    expect(createRng(1).next()).not.toBe(createRng(2 ** 32).next())
    expect(createRng(-1).next()).not.toBe(createRng(2 ** 32 - 1).next())
  })

  test("child seeds differ by label and by parent; none equals the parent's neighbours' streams", () => {
    const kids = new Set<number>()
    for (let seed = 0; seed < 100; seed++) for (const label of ["a", "b", "split/val", "split/test"]) kids.add(deriveSeed(seed, label))
    expect(kids.size).toBe(400)
  })

  test("a seed that is not a safe integer is a BadConfig, in createRng and deriveSeed alike", async () => {
    for (const bad of [1.5, Number.NaN, Infinity, 2 ** 53]) {
      await expectTagged(() => createRng(bad), "BadConfig")
      await expectTagged(() => deriveSeed(bad, "x"), "BadConfig")
    }
  })
})
