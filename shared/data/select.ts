/**
 * Choosing samples: take by index, seeded shuffle, subsets, train/val/test splits and mini-batch sampling,
 * each either uniformly random or class-balanced (the same count from every class). All seeded; all copy
 * (the result never aliases the input's arrays).
 */
import { BadConfig } from "../errors.ts"
import { createRng, deriveSeed, permutation, shuffleInPlace, type Rng } from "./random.ts"
import { sampleSize, type Amount, type ImageSet, type Inputs } from "./types.ts"

/** The samples at `indices`, in that order. */
export const take = (set: ImageSet, indices: ArrayLike<number>): ImageSet => {
  const size = sampleSize(set)
  const m = indices.length
  const images = set.images instanceof Float32Array ? new Float32Array(m * size) : new Uint8Array(m * size)
  const labels = new Uint8Array(m)
  for (let k = 0; k < m; k++) {
    const i = indices[k]!
    if (!(i >= 0 && i < set.n)) throw new RangeError(`take: index ${i} outside 0..${set.n - 1}`)
    images.set(set.images.subarray(i * size, (i + 1) * size), k * size)
    labels[k] = set.labels[i]!
  }
  return { ...set, images, labels, n: m }
}

/** The same samples in a seeded random order. */
export const shuffle = (set: ImageSet, seed: number): ImageSet => take(set, permutation(set.n, createRng(seed)))

/** Resolves an Amount against a pool of `total` samples; a count above the pool or a zero result is a BadConfig. */
export const resolveAmount = (amount: Amount, total: number, field = "amount"): number => {
  if ("count" in amount) {
    const c = amount.count
    if (!Number.isSafeInteger(c) || c < 1 || c > total) {
      throw new BadConfig({ field: `${field}.count`, value: String(c), expected: `an integer in 1..${total} (the samples there are)` })
    }
    return c
  }
  const f = amount.fraction
  if (!(f > 0 && f <= 1)) {
    throw new BadConfig({ field: `${field}.fraction`, value: String(f), expected: "a number in (0, 1]" })
  }
  const c = Math.round(f * total)
  if (c < 1) {
    throw new BadConfig({ field: `${field}.fraction`, value: String(f), expected: `a fraction giving >= 1 of ${total} samples` })
  }
  return c
}

export interface SampleOptions {
  readonly amount: Amount
  readonly seed: number
  /** Same number from every class (the remainder of count / classes goes to randomly chosen classes). */
  readonly balanced?: boolean
  /** What an error names the amount as (default "amount"), e.g. the flag it came from. */
  readonly field?: string
}

const pickRandom = (pool: Uint32Array, k: number, rng: Rng): Uint32Array =>
  shuffleInPlace(Uint32Array.from(pool), rng).slice(0, k)

const pickBalanced = (pool: Uint32Array, labels: Uint8Array, classes: number, k: number, rng: Rng): Uint32Array => {
  const byClass: number[][] = Array.from({ length: classes }, () => [])
  for (const i of pool) byClass[labels[i]!]!.push(i)
  const base = Math.floor(k / classes)
  const extra = new Set(permutation(classes, rng).slice(0, k % classes))
  const out = new Uint32Array(k)
  let at = 0
  for (let c = 0; c < classes; c++) {
    const quota = base + (extra.has(c) ? 1 : 0)
    const members = byClass[c]!
    if (members.length < quota) {
      const smallest = Math.min(...byClass.map((m) => m.length))
      throw new BadConfig({
        field: "amount",
        value: String(k),
        expected: `at most ${smallest * classes} for a class-balanced pick (class ${c} has ${members.length} of ${quota} needed)`
      })
    }
    out.set(shuffleInPlace(members, rng).slice(0, quota), at)
    at += quota
  }
  return shuffleInPlace(out, rng)
}

/**
 * Seeded choice of sample indices from `pool` (default: all of `set`), in random order.
 * Class-balanced when `balanced`, else uniform without replacement.
 */
export const sampleIndices = (
  set: Pick<ImageSet, "n" | "labels" | "classes">,
  opts: SampleOptions & { readonly pool?: Uint32Array }
): Uint32Array => {
  const pool = opts.pool ?? Uint32Array.from({ length: set.n }, (_, i) => i)
  const k = resolveAmount(opts.amount, pool.length, opts.field)
  const rng = createRng(opts.seed)
  return opts.balanced ? pickBalanced(pool, set.labels, set.classes, k, rng) : pickRandom(pool, k, rng)
}

/** A seeded subset that keeps the original order of the chosen samples (e.g. "train on 10% of Fashion-MNIST"). */
export const subset = (set: ImageSet, opts: SampleOptions): ImageSet =>
  take(set, sampleIndices(set, opts).sort())

/**
 * A seeded mini-batch in random order (e.g. the 25 inputs LW init propagates through a layer).
 * With `inputsOnly` the labels are dropped.
 */
export function sampleBatch(set: ImageSet, opts: SampleOptions & { readonly inputsOnly: true }): Inputs
export function sampleBatch(set: ImageSet, opts: SampleOptions & { readonly inputsOnly?: false }): ImageSet
export function sampleBatch(set: ImageSet, opts: SampleOptions & { readonly inputsOnly?: boolean }): ImageSet | Inputs {
  const batch = take(set, sampleIndices(set, opts))
  if (!opts.inputsOnly) return batch
  const { labels: _labels, classNames: _names, ...inputs } = batch
  return inputs
}

export interface SplitOptions {
  /** Size of the validation part; omitted means no validation part. */
  readonly val?: Amount
  /** Size of the test part (for sets that come without one, e.g. circles); omitted means none. */
  readonly test?: Amount
  readonly seed: number
  /** Draw val and test class-balanced. */
  readonly balanced?: boolean
}

export interface SplitSets {
  readonly train: ImageSet
  readonly val?: ImageSet
  readonly test?: ImageSet
}

/**
 * Seeded train/val/test split. Val is drawn first from the whole set, test from what remains, train is the rest.
 * Fractions are of the whole set. Each part keeps the original order of its samples (call `shuffle` to reorder).
 */
export const splitSet = (set: ImageSet, opts: SplitOptions): SplitSets => {
  const all = Uint32Array.from({ length: set.n }, (_, i) => i)
  const used = new Uint8Array(set.n)
  const draw = (amount: Amount, field: string): Uint32Array => {
    const pool = all.filter((i) => used[i] === 0)
    const wanted = "fraction" in amount ? resolveAmount(amount, set.n, field) : amount.count
    const k = resolveAmount({ count: wanted }, pool.length, field)
    // Each part gets its own child seed, so adding a test part does not change the val part.
    const idx = sampleIndices(set, { amount: { count: k }, seed: deriveSeed(opts.seed, `split/${field}`), balanced: opts.balanced ?? false, pool })
    for (const i of idx) used[i] = 1
    return idx.sort()
  }
  const val = opts.val ? draw(opts.val, "val") : undefined
  const test = opts.test ? draw(opts.test, "test") : undefined
  const train = all.filter((i) => used[i] === 0)
  if (train.length === 0) {
    throw new BadConfig({ field: "val/test", value: `${set.n - train.length} of ${set.n}`, expected: "sizes that leave samples for training" })
  }
  return {
    train: take(set, train),
    ...(val ? { val: take(set, val) } : {}),
    ...(test ? { test: take(set, test) } : {})
  }
}
