/**
 * LSUV — layer-sequential unit-variance init (Mishkin & Matas 2016, "All you need is a good init").
 *
 * The algorithm: pre-initialize every layer orthogonally; then, for each conv/dense layer in forward order,
 * forward a batch up to that layer, measure the variance of the layer's output (its pre-activation, every element
 * of the batch pooled), and divide the layer's kernel by √variance; repeat until |variance − target| < tolerance
 * or `maxIterations` passes. Earlier layers are already fixed when a later one is scaled, so each layer sees the
 * statistics it will start training with.
 *
 * This module knows nothing about models: the caller supplies the layer names in forward order, a function that
 * runs the batch to a layer and returns its output, and a function that multiplies a layer's kernel by a factor.
 * `shared/models/weights.ts` (`applyLsuv`) wires it to a tfjs model. As in the paper, only kernels are scaled;
 * biases (zero at init) are left alone, so the output mean is not forced to 0.
 */
import * as tf from "@tensorflow/tfjs"

export interface LsuvConfig {
  /** The paper's Tol_var = 0.1. */
  readonly tolerance: number
  /** The paper's T_max = 10 passes per layer. */
  readonly maxIterations: number
  /** Unit variance, the method's name. */
  readonly targetVariance: number
}

export const defaultLsuvConfig: LsuvConfig = { tolerance: 0.1, maxIterations: 10, targetVariance: 1 }

/** The model, seen layer by layer. */
export interface LsuvTarget {
  /** Layers to scale, in forward order. */
  readonly layers: readonly string[]
  /** The layer's output (before its activation) for `batch`, with the current weights. The caller disposes it. */
  readonly output: (layer: string, batch: tf.Tensor) => tf.Tensor
  /** Multiply the layer's kernel by `factor` in place. */
  readonly scaleKernel: (layer: string, factor: number) => void
}

export interface LsuvLayerReport {
  readonly layer: string
  /** Forward passes spent on this layer. */
  readonly iterations: number
  /** Output variance measured on the last pass (after the last rescale it is about the target). */
  readonly variance: number
  /** The product of all factors applied to the kernel. */
  readonly totalScale: number
  readonly converged: boolean
}

/** Variance of every element of `t`, as a number. */
const varianceOf = (t: tf.Tensor): number => tf.tidy(() => tf.moments(t).variance.dataSync()[0]!)

/**
 * Run LSUV over `target.layers` on `batch`. Call it after an orthogonal (or any) pre-init. A layer whose output
 * variance is 0 or not finite cannot be rescaled: it is reported with `converged: false` and left as it is.
 */
export const lsuv = (
  target: LsuvTarget,
  batch: tf.Tensor,
  config: LsuvConfig = defaultLsuvConfig
): LsuvLayerReport[] =>
  target.layers.map((layer) => {
    let totalScale = 1
    let variance = Number.NaN
    for (let iteration = 1; iteration <= config.maxIterations; iteration++) {
      const out = target.output(layer, batch)
      variance = varianceOf(out)
      out.dispose()
      if (!(variance > 0) || !Number.isFinite(variance)) {
        return { layer, iterations: iteration, variance, totalScale, converged: false }
      }
      if (Math.abs(variance - config.targetVariance) < config.tolerance) {
        return { layer, iterations: iteration, variance, totalScale, converged: true }
      }
      const factor = Math.sqrt(config.targetVariance / variance)
      target.scaleKernel(layer, factor)
      totalScale *= factor
    }
    return { layer, iterations: config.maxIterations, variance, totalScale, converged: false }
  })
