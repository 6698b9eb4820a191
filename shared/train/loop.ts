/**
 * The training loop and evaluation, on a tfjs LayersModel that outputs logits. Plain functions: the `train` step
 * wraps them with checkpoints and progress.
 *
 * Determinism: the epoch's sample order comes from (seed, epoch) alone, so a run resumed at epoch k sees exactly the
 * batches an uninterrupted run would have seen.
 */
import * as tf from "@tensorflow/tfjs"
import type { ImageSet } from "../data/types.ts"
import { createRng, deriveSeed } from "../data/random.ts"
import { type LayerStatsSample, type MonitorPlan, planStatsTensor, readStats } from "./monitor.ts"
import type { Optimizer } from "./optim.ts"
import type { StepReplay } from "../backend/torch/replay.ts"

export interface EpochStats {
  readonly epoch: number
  readonly lr: number
  readonly trainLoss: number
  readonly trainAccuracy: number
  readonly seconds: number
  /** Set when a loss or weight became NaN/Inf during this epoch: the batch where it happened. */
  readonly divergedAtBatch?: number
}

/** The sample order of epoch `epoch`: a Fisher–Yates shuffle seeded by (seed, epoch). */
export const epochOrder = (n: number, seed: number, epoch: number): Uint32Array => {
  const rng = createRng(deriveSeed(seed, `epoch/${epoch}`))
  const order = new Uint32Array(n)
  for (let i = 0; i < n; i++) order[i] = i
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1)
    const tmp = order[i]!
    order[i] = order[j]!
    order[j] = tmp
  }
  return order
}

/** Gathers samples `idx` of a float dataset into one NHWC batch tensor and one-hot labels. */
export const gatherBatch = (data: ImageSet, idx: ArrayLike<number>) => {
  const size = data.height * data.width * data.channels
  const x = new Float32Array(idx.length * size)
  const labels = new Int32Array(idx.length)
  for (let k = 0; k < idx.length; k++) {
    const i = idx[k]!
    x.set(data.images.subarray(i * size, (i + 1) * size), k * size)
    labels[k] = data.labels[i]!
  }
  return {
    x: tf.tensor4d(x, [idx.length, data.height, data.width, data.channels]),
    y: tf.oneHot(tf.tensor1d(labels, "int32"), data.classes),
    labels
  }
}

export const trainableVars = (model: tf.LayersModel) => model.trainableWeights.map((w) => w.read() as tf.Variable)

/** What `trainBatch` samples when asked: the plan of shared/train/monitor.ts and its dead-unit threshold. */
export interface BatchMonitor {
  readonly plan: MonitorPlan
  readonly deadThreshold: number
}

/**
 * One SGD step on samples `idx`: returns the batch's mean loss and number of correct predictions. With `monitor`,
 * the forward runs on the plan's model (same layers, more outputs) and the step also returns every layer's
 * statistics at the weights before this update (shared/train/monitor.ts). With `replay` (and no monitor, whose
 * samples need more outputs), the step may run as a replay of an earlier identical step on the `torch` backend
 * (shared/backend/torch/replay.ts): the same native ops in the same order, so the same weights to the bit.
 */
export const trainBatch = (
  model: tf.LayersModel,
  vars: ReadonlyArray<tf.Variable>,
  optimizer: Optimizer,
  data: ImageSet,
  idx: ArrayLike<number>,
  lr: number,
  monitor?: BatchMonitor,
  replay?: StepReplay
): { loss: number; correct: number; layers?: LayerStatsSample[] } => {
  const batch = tf.tidy(() => {
    const b = gatherBatch(data, idx)
    return { x: b.x, y: b.y, labels: tf.tensor1d(b.labels, "int32") }
  })
  let sites: tf.Tensor[] = []
  /** The step on the batch's tensors: [loss, hits, statistics?]. */
  const step = () => {
    let hits: tf.Tensor | undefined
    const { value, grads } = tf.variableGrads(() => {
      const outs = monitor === undefined ? [model.apply(batch.x, { training: true }) as tf.Tensor] : (monitor.plan.model.apply(batch.x, { training: true }) as tf.Tensor[])
      const logits = outs[0]!
      // Kept: variableGrads disposes what its function made, and the accuracy (and the monitor) need these.
      hits = tf.keep(logits.argMax(-1).equal(batch.labels).sum())
      if (monitor !== undefined) sites = outs.map((t) => tf.keep(t))
      return tf.losses.softmaxCrossEntropy(batch.y, logits) as tf.Scalar
    }, [...vars])
    // Before the update: the statistics belong to the weights this batch was run with.
    const stats = monitor === undefined ? [] : [planStatsTensor(monitor.plan, sites, grads, monitor.deadThreshold)]
    optimizer.step(vars.map((v) => grads[v.name]!), lr)
    return [value, hits!, ...stats]
  }
  try {
    if (replay !== undefined && monitor === undefined) {
      const [loss, hits] = replay.run(`lr=${lr}`, [batch.x, batch.y, batch.labels], step)
      return { loss: loss![0]!, correct: hits![0]! }
    }
    const out = tf.tidy(step)
    const [loss, hits, stats] = out.map((t) => t.dataSync())
    tf.dispose(out)
    const result = { loss: loss![0]!, correct: hits![0]! }
    return stats === undefined ? result : { ...result, layers: readStats(monitor!.plan, stats as Float32Array) }
  } finally {
    tf.dispose(sites)
    tf.dispose(batch)
  }
}

/** Samples of batch `b` of epoch order `order`. */
export const batchIndices = (order: Uint32Array, b: number, batchSize: number) =>
  order.subarray(b * batchSize, Math.min(order.length, (b + 1) * batchSize))

export interface EpochOptions {
  readonly batchSize: number
  readonly lr: number
  readonly seed: number
  readonly epoch: number
  readonly onBatch?: (done: number, total: number, loss: number) => void
}

/** One epoch of minibatch training (no checkpoints). Stops early, saying where, when the loss becomes NaN/Inf. */
export const trainEpoch = (model: tf.LayersModel, optimizer: Optimizer, data: ImageSet, o: EpochOptions): EpochStats => {
  const started = performance.now()
  const order = epochOrder(data.n, o.seed, o.epoch)
  const vars = trainableVars(model)
  const batches = Math.ceil(data.n / o.batchSize)
  let lossSum = 0
  let correct = 0
  for (let b = 0; b < batches; b++) {
    const idx = batchIndices(order, b, o.batchSize)
    const r = trainBatch(model, vars, optimizer, data, idx, o.lr)
    if (!Number.isFinite(r.loss)) {
      return { epoch: o.epoch, lr: o.lr, trainLoss: r.loss, trainAccuracy: Number.NaN, seconds: elapsed(started), divergedAtBatch: b }
    }
    lossSum += r.loss * idx.length
    correct += r.correct
    o.onBatch?.(b + 1, batches, r.loss)
  }
  return { epoch: o.epoch, lr: o.lr, trainLoss: lossSum / data.n, trainAccuracy: correct / data.n, seconds: elapsed(started) }
}

const elapsed = (t0: number) => (performance.now() - t0) / 1000

export interface Evaluation {
  readonly accuracy: number
  readonly loss: number
  readonly n: number
  /** confusion[true][predicted] */
  readonly confusion: number[][]
  /** True when any logit was NaN/Inf. */
  readonly nonFinite: boolean
}

export const evaluate = (model: tf.LayersModel, data: ImageSet, batchSize = 256): Evaluation => {
  const confusion = Array.from({ length: data.classes }, () => new Array<number>(data.classes).fill(0))
  let lossSum = 0
  let nonFinite = false
  for (let start = 0; start < data.n; start += batchSize) {
    const idx = Array.from({ length: Math.min(batchSize, data.n - start) }, (_, k) => start + k)
    const [lossV, pred] = tf.tidy(() => {
      const batch = gatherBatch(data, idx)
      const logits = model.apply(batch.x, { training: false }) as tf.Tensor
      const losses = tf.losses.softmaxCrossEntropy(batch.y, logits, undefined, undefined, tf.Reduction.NONE)
      return [losses.sum().dataSync()[0]!, logits.argMax(-1).dataSync()] as const
    })
    if (!Number.isFinite(lossV)) nonFinite = true
    lossSum += lossV
    idx.forEach((i, k) => confusion[data.labels[i]!]![pred[k]!]!++)
  }
  const correct = confusion.reduce((acc, row, i) => acc + row[i]!, 0)
  return { accuracy: correct / data.n, loss: lossSum / data.n, n: data.n, confusion, nonFinite }
}
