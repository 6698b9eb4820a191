/**
 * Learn ONE layer's weights (LW): draw the kernel (config.init; bias 0), then take SGD (or Adam) steps on a fixed
 * mini-batch, minimizing the LW loss (config.ts) of the layer's output and activation, with a step lr decay,
 * until both losses converge or `maxEpochs` pass.
 *
 * The layer is a function of its weights (`forward`): it gets the batch's input tensors (batch on axis 0: the
 * layer input, plus e.g. a residual partner) and the kernel and bias, and returns the layer output and its
 * activation. This module knows nothing of models (greedy.ts builds `forward` from a tfjs layer).
 *
 *   curve[e]  the losses at the weights epoch e starts from (averaged over its steps when the batch is split),
 *             and the lr epoch e's steps use
 *   final     whole-tensor statistics (and losses) on the whole batch at the returned weights
 *
 * The targets: config.ts `resolveLwConfig` for `activation` (what follows the layer: "auto" gives each activation
 * a target it can reach), recorded in `target` with whether they were met (`reached`) and whether they can be
 * (`feasibility`: an unreachable user-set target still runs, to its cap, and says so).
 *
 * Stopping after epoch e, for each term that is on: loss < threshold, or |loss_e − loss_(e−window)| < tolerance.
 * When every term that is on has stopped, `converged` (reason "threshold" if all are below it, else "plateau").
 * A non-finite loss is divergence: recorded (`diverged`, reason "diverged"), never thrown; the update that would
 * follow it is not applied, and the weights returned are the ones that produced it.
 */
import * as tf from "@tensorflow/tfjs"
import { initialize } from "../init/initializers.ts"
import { makeOptimizer } from "../train/optim.ts"
import type { ActivationKind } from "../init/activations.ts"
import { lrAtEpoch, resolveLwConfig, type LayerTarget, type LwConfig, type ResolvedLwConfig } from "./config.ts"
import { channelsLast, layerStatsOf, lwLoss, type ChannelAxes, type LayerStats, type Sites } from "./stats.ts"

export interface WeightArray {
  readonly shape: readonly number[]
  readonly data: Float32Array
}

export interface LayerWeights {
  /** tfjs layout: conv [kh, kw, inC, outC], dense [in, out]. */
  readonly kernel: WeightArray
  readonly bias: WeightArray | undefined
}

/** The layer as a function of its weights on (a slice of) the batch's input tensors. */
export type LayerFn = (inputs: readonly tf.Tensor[], kernel: tf.Tensor, bias: tf.Tensor | undefined) => Sites

export interface LearnLayerArgs {
  readonly kernelShape: readonly number[]
  /** undefined: the layer has no bias. */
  readonly biasShape: readonly number[] | undefined
  readonly forward: LayerFn
  /** The fixed mini-batch, batch on axis 0 in every tensor. Not disposed here. */
  readonly inputs: readonly tf.Tensor[]
  readonly config: LwConfig
  /**
   * The activation after the layer, as shared/init `activationKindOf` names it ("linear": none). It resolves
   * `varianceTarget: "auto"` and checks the targets' feasibility; undefined: not known (the targets of "auto" are
   * then the ReLU family's, and feasibility is "unknown").
   */
  readonly activation?: ActivationKind
  /** The channels' axis at each site, for scope "channel" (default: the last axis at both). */
  readonly channelAxes?: ChannelAxes
  /** Seeds the kernel's starting draw. */
  readonly seed: number
  /** Start from these weights instead of a fresh draw. */
  readonly initial?: LayerWeights
}

export interface EpochRecord {
  readonly meanLoss: number
  readonly varLoss: number
  readonly loss: number
  readonly lr: number
}

export interface Divergence {
  /** 0-based epoch whose loss was not finite (= epochs run, when only the final weights were). */
  readonly epoch: number
  readonly meanLoss: number
  readonly varLoss: number
  readonly loss: number
}

export type StopReason = "threshold" | "plateau" | "maxEpochs" | "diverged"

export interface LayerResult {
  readonly weights: LayerWeights
  readonly curve: readonly EpochRecord[]
  /** Epochs run (= curve.length). */
  readonly epochs: number
  readonly converged: boolean
  readonly stop: StopReason
  readonly diverged: Divergence | undefined
  readonly final: LayerStats
  readonly finalLoss: { readonly meanLoss: number; readonly varLoss: number; readonly loss: number }
  /**
   * What the layer aimed at, whether its activation can reach it, and whether it did: every term that is on ended
   * below the convergence threshold on the batch (false after a divergence).
   */
  readonly target: LayerTarget & { readonly reached: boolean }
}

/** [start, size] of each step's slice of an n-sample batch. */
const chunks = (n: number, batchSize: LwConfig["batchSize"]): Array<readonly [number, number]> => {
  const size = batchSize === "all" ? n : Math.max(1, Math.min(n, Math.floor(batchSize)))
  const out: Array<readonly [number, number]> = []
  for (let start = 0; start < n; start += size) out.push([start, Math.min(size, n - start)])
  return out
}

const sliceBatch = (t: tf.Tensor, start: number, size: number): tf.Tensor =>
  tf.slice(t, [start, ...t.shape.slice(1).map(() => 0)], [size, ...t.shape.slice(1).map(() => -1)])

const finite = (xs: readonly number[]) => xs.every((x) => Number.isFinite(x))

/** Has every term that is on stopped moving (or reached the threshold) after the last epoch of `curve`? */
const stopped = (curve: readonly EpochRecord[], config: ResolvedLwConfig): "threshold" | "plateau" | undefined => {
  const { window, tolerance, threshold } = config.convergence
  const e = curve.length - 1
  const terms: Array<(r: EpochRecord) => number> = []
  if (config.meanAt !== "off") terms.push((r) => r.meanLoss)
  if (config.varianceAt !== "off") terms.push((r) => r.varLoss)
  const now = curve[e]!
  if (terms.every((t) => t(now) < threshold)) return "threshold"
  if (e < window) return undefined
  const then = curve[e - window]!
  return terms.every((t) => t(now) < threshold || Math.abs(t(now) - t(then)) < tolerance) ? "plateau" : undefined
}

const read = (v: tf.Variable): WeightArray => ({ shape: [...v.shape], data: Float32Array.from(v.dataSync() as Float32Array) })

export const learnLayer = (args: LearnLayerArgs): LayerResult => {
  const { inputs, forward } = args
  const axes = args.channelAxes ?? channelsLast
  const { config, target } = resolveLwConfig(args.config, args.activation)
  const kernelData = args.initial?.kernel.data ?? initialize(config.init, args.kernelShape, args.seed)
  // tidy: the initial tensors go, the variables (never tracked by tidy) stay.
  const kernel = tf.tidy(() => tf.variable(tf.tensor(kernelData, [...args.kernelShape], "float32"), true))
  const biasShape = args.biasShape
  const bias =
    biasShape === undefined
      ? undefined
      : tf.tidy(() =>
          tf.variable(
            args.initial?.bias === undefined ? tf.zeros([...biasShape]) : tf.tensor(args.initial.bias.data, [...biasShape], "float32"),
            true
          )
        )
  const vars = bias === undefined ? [kernel] : [kernel, bias]
  const optimizer = makeOptimizer({ kind: config.optimizer, momentum: config.momentum, weightDecay: 0 }, vars)
  const steps = chunks(inputs[0]!.shape[0]!, config.batchSize)
  const curve: EpochRecord[] = []
  let diverged: Divergence | undefined
  let reason: StopReason = "maxEpochs"
  try {
    for (let epoch = 0; epoch < config.maxEpochs && diverged === undefined; epoch++) {
      const lr = lrAtEpoch(config, epoch)
      const sums = [0, 0, 0]
      // With the batch in one step, the step is taken after the stopping test: the weights returned are the ones
      // whose loss stopped learning (with momentum, one more step can carry them past the threshold).
      let pending: tf.Tensor[] | undefined
      for (const [start, size] of steps) {
        const { parts, grads } = tf.tidy(() => {
          const xs = steps.length === 1 ? inputs : inputs.map((t) => sliceBatch(t, start, size))
          let parts: tf.Tensor | undefined
          const { grads } = tf.variableGrads(() => {
            const l = lwLoss(forward(xs, kernel, bias), config, axes)
            parts = tf.keep(tf.stack([l.meanLoss, l.varLoss, l.loss]))
            return l.loss
          }, vars)
          return { parts: parts!, grads: vars.map((v) => grads[v.name]!) }
        })
        const values = Array.from(parts.dataSync())
        parts.dispose()
        values.forEach((v, i) => (sums[i] = sums[i]! + v / steps.length))
        if (!finite(values)) {
          tf.dispose(grads)
          diverged = { epoch, meanLoss: values[0]!, varLoss: values[1]!, loss: values[2]! }
          break
        }
        if (steps.length === 1) pending = grads
        else {
          optimizer.step(grads, lr)
          tf.dispose(grads)
        }
      }
      curve.push({ meanLoss: sums[0]!, varLoss: sums[1]!, loss: sums[2]!, lr })
      if (diverged !== undefined) reason = "diverged"
      else {
        const s = stopped(curve, config)
        if (s === undefined && pending !== undefined) optimizer.step(pending, lr)
        tf.dispose(pending ?? [])
        if (s !== undefined) {
          reason = s
          break
        }
      }
    }
    const { final, finalLoss } = evaluate(forward, inputs, kernel, bias, config, axes)
    if (diverged === undefined && !finite([...Object.values(final), finalLoss.loss])) {
      diverged = { epoch: curve.length, ...finalLoss }
      reason = "diverged"
    }
    const { threshold } = config.convergence
    const reached =
      diverged === undefined &&
      (config.meanAt === "off" || finalLoss.meanLoss < threshold) &&
      (config.varianceAt === "off" || finalLoss.varLoss < threshold)
    return {
      weights: { kernel: read(kernel), bias: bias === undefined ? undefined : read(bias) },
      curve,
      epochs: curve.length,
      converged: reason === "threshold" || reason === "plateau",
      stop: reason,
      diverged,
      final,
      finalLoss,
      target: { ...target, reached }
    }
  } finally {
    optimizer.dispose()
    tf.dispose(vars)
  }
}

/** Statistics and losses of the layer at the given weights on the whole batch. */
const evaluate = (
  forward: LayerFn,
  inputs: readonly tf.Tensor[],
  kernel: tf.Tensor,
  bias: tf.Tensor | undefined,
  config: ResolvedLwConfig,
  axes: ChannelAxes
): { final: LayerStats; finalLoss: LayerResult["finalLoss"] } => {
  const sites = tf.tidy(() => forward(inputs, kernel, bias))
  try {
    const final = layerStatsOf(sites, config.unbiasedVariance)
    const parts = tf.tidy(() => {
      const l = lwLoss(sites, config, axes)
      return tf.stack([l.meanLoss, l.varLoss, l.loss])
    })
    const [meanLoss, varLoss, loss] = parts.dataSync()
    parts.dispose()
    return { final, finalLoss: { meanLoss: meanLoss!, varLoss: varLoss!, loss: loss! } }
  } finally {
    tf.dispose([sites.output, sites.activation])
  }
}
