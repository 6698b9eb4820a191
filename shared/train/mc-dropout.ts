/**
 * Monte-Carlo dropout: predict with the mean softmax of n forward passes with dropout left on (Srivastava et al.
 * 2014, §7.5 "Monte-Carlo model averaging"; Gal & Ghahramani 2016), against the deterministic net, whose inverted
 * dropout makes it the paper's weight-scaling rule.
 *
 * The ensembles are nested: the n-pass prediction averages the first n passes of one stream, so a curve over
 * n = 10 … 2000 costs 2000 passes, not their sum. Plain functions on a tfjs model whose dropout layers draw from a
 * seeded stream (shared/models/mlp.ts SeededDropout): the same model, data and checkpoints give the same numbers.
 */
import * as tf from "@tensorflow/tfjs"
import type { ImageSet } from "../data/types.ts"
import { gatherBatch } from "./loop.ts"

/** Test error (a fraction) and mean negative log-likelihood of the true class. */
export interface Score {
  readonly error: number
  readonly nll: number
}

/** The smallest probability the NLL takes the log of: one wrong certainty costs ln 1e12 ≈ 27.6, not +Inf. */
export const MIN_PROB = 1e-12

/**
 * The score of predictions whose class probabilities, summed over `n` passes, are `sums` (N × classes, row-major):
 * the prediction is the first class of highest mean probability.
 */
export const ensembleScore = (sums: ArrayLike<number>, labels: ArrayLike<number>, classes: number, n: number): Score => {
  const count = labels.length
  let wrong = 0
  let nll = 0
  for (let i = 0; i < count; i++) {
    let best = 0
    for (let c = 1; c < classes; c++) if (sums[i * classes + c]! > sums[i * classes + best]!) best = c
    const label = labels[i]!
    if (best !== label) wrong++
    nll -= Math.log(Math.max(MIN_PROB, sums[i * classes + label]! / n))
  }
  return { error: wrong / count, nll: nll / count }
}

/** Checkpoints must be distinct positive integers in increasing order. */
export const checkCheckpoints = (passes: ReadonlyArray<number>): void => {
  if (passes.length === 0 || !passes.every((n, i) => Number.isInteger(n) && n >= 1 && (i === 0 || n > passes[i - 1]!))) {
    throw new RangeError(`MC dropout: passes must be increasing integers ≥ 1, got [${passes.join(", ")}]`)
  }
}

export interface McCurve {
  /** One pass with dropout off (the weight-scaled net). */
  readonly deterministic: Score
  /** At each checkpoint n, the mean softmax of the first n passes with dropout on. */
  readonly curve: ReadonlyArray<Score & { readonly n: number }>
}

/**
 * Runs max(passes) stochastic passes of `model` (logits out) over `data` (a float set), `batchSize` samples at a
 * time, and scores the running mean softmax at each checkpoint. `onPass(done, total)` reports progress.
 */
export const mcDropoutCurve = (
  model: tf.LayersModel,
  data: ImageSet,
  passes: ReadonlyArray<number>,
  o: { readonly batchSize: number; readonly onPass?: (done: number, total: number) => void }
): McCurve => {
  checkCheckpoints(passes)
  const classes = data.classes
  const chunks: { readonly x: tf.Tensor; readonly start: number }[] = []
  try {
    for (let start = 0; start < data.n; start += o.batchSize) {
      const idx = Array.from({ length: Math.min(o.batchSize, data.n - start) }, (_, k) => start + k)
      chunks.push({ x: tf.tidy(() => gatherBatch(data, idx).x), start })
    }
    /** Every sample's class probabilities from one pass, added into `into`. */
    const pass = (training: boolean, into: Float64Array) => {
      for (const c of chunks) {
        const p = tf.tidy(() => tf.softmax(model.apply(c.x, { training }) as tf.Tensor))
        const values = p.dataSync()
        p.dispose()
        const offset = c.start * classes
        for (let k = 0; k < values.length; k++) into[offset + k]! += values[k]!
      }
    }
    const single = new Float64Array(data.n * classes)
    pass(false, single)
    const deterministic = ensembleScore(single, data.labels, classes, 1)

    const sums = new Float64Array(data.n * classes)
    const curve: (Score & { n: number })[] = []
    const total = passes.at(-1)!
    for (let done = 1, next = 0; done <= total; done++) {
      pass(true, sums)
      if (done === passes[next]) {
        curve.push({ n: done, ...ensembleScore(sums, data.labels, classes, done) })
        next++
      }
      o.onPass?.(done, total)
    }
    return { deterministic, curve }
  } finally {
    for (const c of chunks) c.x.dispose()
  }
}
