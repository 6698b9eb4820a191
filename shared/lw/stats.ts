/**
 * LW's statistics and loss on tensors (see config.ts for the definitions). Plain tensor functions: the caller
 * owns (and disposes, or tidies) what they return.
 */
import * as tf from "@tensorflow/tfjs"
import type { LwConfig, ResolvedLwConfig, Site } from "./config.ts"

export interface Moments {
  /** Scalar ("tensor" scope) or [C] ("channel" scope). */
  readonly mean: tf.Tensor
  readonly variance: tf.Tensor
}

/**
 * Mean and variance of `t`: over every element ("tensor"), or per channel over the other axes ("channel"), the
 * channels on `channelAxis` (negative: from the end; -1, the last axis, is channels-last). `unbiased` divides the
 * summed squares by N − 1.
 */
export const moments = (t: tf.Tensor, scope: LwConfig["scope"], unbiased: boolean, channelAxis = -1): Moments =>
  tf.tidy(() => {
    const channel = channelAxis < 0 ? t.rank + channelAxis : channelAxis
    const axes = t.shape.map((_, i) => i).filter((i) => scope === "tensor" || i !== channel)
    const n = axes.reduce((acc, a) => acc * t.shape[a]!, 1)
    const mean = tf.mean(t, axes, scope === "channel")
    const squares = tf.sum(tf.square(tf.sub(t, mean)), axes)
    const variance = tf.div(squares, unbiased ? Math.max(1, n - 1) : n)
    return { mean: scope === "tensor" ? mean : tf.reshape(mean, variance.shape), variance }
  })

/** Where each site's channels are (for scope "channel"): an axis of the layer output and of its activation. */
export interface ChannelAxes {
  readonly output: number
  readonly activation: number
}

/** Channels-last at both sites. */
export const channelsLast: ChannelAxes = { output: -1, activation: -1 }

export interface LossParts {
  /** Scalars; an "off" term is 0. */
  readonly meanLoss: tf.Scalar
  readonly varLoss: tf.Scalar
  readonly loss: tf.Scalar
}

/** The tensor a term reads: the layer output or its activation. */
export type Sites = {
  readonly output: tf.Tensor
  readonly activation: tf.Tensor
}

/**
 * α·meanLoss + varLoss (or meanLoss + α·varLoss), each the mean squared error of a statistic to its target — the
 * variance's RELATIVE to its target, ((var − t)/t)² for t > 0: the thesis' (var − 1)² at t = 1 (computed exactly as
 * that: no division), and for the small targets of bounded activations (sigmoid 0.043) a loss on the same scale,
 * so the convergence threshold means the same 3 % and the gradient is not t² times weaker (with the absolute error a
 * sigmoid layer "met" 0.043 within ±0.032 at its draw: docs/bounded-targets.md). The config's variance target is a
 * number: "auto" is resolved per layer first (config.ts `resolveLwConfig`). `channelAxes`: where scope "channel"
 * finds each site's channels (a channelsFirst conv: axis 1; layer-problem.ts knows).
 */
export const lwLoss = (sites: Sites, config: ResolvedLwConfig, channelAxes: ChannelAxes = channelsLast): LossParts =>
  tf.tidy(() => {
    const term = (at: Site | "off", pick: (m: Moments) => tf.Tensor, target: number): tf.Scalar =>
      at === "off"
        ? tf.scalar(0)
        : (tf.mean(tf.square(tf.sub(pick(moments(sites[at], config.scope, config.unbiasedVariance, channelAxes[at])), target))) as tf.Scalar)
    const meanLoss = term(config.meanAt, (m) => m.mean, config.meanTarget)
    const t = config.varianceTarget
    const absolute = term(config.varianceAt, (m) => m.variance, t)
    const varLoss = t === 1 || !(t > 0) ? absolute : (tf.div(absolute, t * t) as tf.Scalar)
    const loss =
      config.alphaScales === "mean"
        ? tf.add(tf.mul(config.alpha, meanLoss), varLoss)
        : tf.add(meanLoss, tf.mul(config.alpha, varLoss))
    return { meanLoss, varLoss, loss: loss as tf.Scalar }
  })

/** Scalar mean and variance over every element of the layer output and of its activation, as numbers. */
export interface LayerStats {
  readonly outputMean: number
  readonly outputVar: number
  readonly activationMean: number
  readonly activationVar: number
}

/** The reported statistics: always whole-tensor scalars (whatever the loss scope), with the config's estimator. */
export const layerStatsOf = (sites: Sites, unbiased: boolean): LayerStats => {
  const values = tf.tidy(() => {
    const o = moments(sites.output, "tensor", unbiased)
    const a = moments(sites.activation, "tensor", unbiased)
    return tf.stack([o.mean, o.variance, a.mean, a.variance])
  })
  const [outputMean, outputVar, activationMean, activationVar] = values.dataSync()
  values.dispose()
  return { outputMean: outputMean!, outputVar: outputVar!, activationMean: activationMean!, activationVar: activationVar! }
}
