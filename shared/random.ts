/**
 * The one seeded PRNG of lwi (data order, circles, sampling, initializers, LW starts), and its one seed mixer.
 *
 * mulberry32: 32 bits of state, period 2^32, passes gjrand/PractRand far enough for shuffling and noise; not for
 * cryptography. Seeds go through splitmix32 so that nearby seeds (0, 1, 2...) give unrelated streams, and every
 * child seed (a layer's draw, a split's part, an epoch's order) comes from `deriveSeed(seed, label)`, never from
 * arithmetic on the seed (`seed + 1` for one purpose collides with the next seed for another).
 * The same seed gives the same stream on every machine and every run: it only uses 32-bit integer maths.
 */
import { BadConfig } from "./errors.ts"

export interface Rng {
  /** Uniform in [0, 1). */
  readonly next: () => number
  /** Uniform integer in [0, n). */
  readonly int: (n: number) => number
  /** Standard normal N(0, 1) (Box–Muller, one value per call; the spare is kept). */
  readonly normal: () => number
}

/** splitmix32's output function: lwi's one bijective 32-bit mixer (seeds the generator, derives child seeds). */
export const splitmix32 = (x: number): number => {
  let z = (x + 0x9e3779b9) | 0
  z = Math.imul(z ^ (z >>> 16), 0x21f0aaad)
  z = Math.imul(z ^ (z >>> 15), 0x735a2d97)
  return (z ^ (z >>> 15)) >>> 0
}

/**
 * Any safe integer seed (negative is fine) as 32 well-mixed bits: the high 32 bits are mixed before they meet the
 * low ones, so seeds above 2^32 differ from small seeds (1 and 2^32 do not collide). Anything else is a BadConfig,
 * not silently rounded.
 */
const seedBits = (seed: number): number => {
  if (!Number.isSafeInteger(seed)) {
    throw new BadConfig({ field: "seed", value: String(seed), expected: "a safe integer" })
  }
  return splitmix32(splitmix32(Math.floor(seed / 0x100000000)) ^ (seed | 0))
}

/** `seed` must be a safe integer (negative is fine); anything else is a BadConfig. */
export const createRng = (seed: number): Rng => {
  let state = seedBits(seed)
  const next = (): number => {
    state = (state + 0x6d2b79f5) | 0
    let t = Math.imul(state ^ (state >>> 15), 1 | state)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  let spare: number | undefined
  const normal = (): number => {
    if (spare !== undefined) {
      const s = spare
      spare = undefined
      return s
    }
    // 1 - next() is in (0, 1], so the log is finite.
    const r = Math.sqrt(-2 * Math.log(1 - next()))
    const theta = 2 * Math.PI * next()
    spare = r * Math.sin(theta)
    return r * Math.cos(theta)
  }
  return { next, int: (n) => Math.floor(next() * n), normal }
}

/** Fisher–Yates shuffle in place; returns its argument. */
export const shuffleInPlace = <A extends { length: number; [i: number]: number }>(xs: A, rng: Rng): A => {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = rng.int(i + 1)
    const t = xs[i]!
    xs[i] = xs[j]!
    xs[j] = t
  }
  return xs
}

/** A random permutation of 0..n-1. */
export const permutation = (n: number, rng: Rng): Uint32Array => {
  const p = new Uint32Array(n)
  for (let i = 0; i < n; i++) p[i] = i
  return shuffleInPlace(p, rng)
}

/** FNV-1a of a string: a stable 32-bit hash, for deriving per-layer seeds from names. */
const fnv1a = (s: string): number => {
  let h = 0x811c9dc5
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193)
  return h >>> 0
}

/**
 * A child seed in [0, 2^32) for `label` (a layer name, "split/val", "epoch/3"...). Keyed by name, not position, so
 * adding a layer (or a use) leaves the other draws unchanged. `seed` is any safe integer; anything else is a BadConfig.
 */
export const deriveSeed = (seed: number, label: string): number => splitmix32(seedBits(seed) ^ fnv1a(label))
