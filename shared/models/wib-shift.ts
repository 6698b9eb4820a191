/**
 * WIB-ReLU's μ, estimated per layer from the network it sits in (Olimov et al. 2021, "Weight initialization
 * based-rectified linear unit activation function to improve the performance of a convolutional neural network
 * model", Concurrency Computat. Pract. Exper. 33(22) e6143).
 *
 * The paper's WIB-ReLU is relu(x) − μ with μ the mean ReLU's output takes when the pre-activation follows the
 * distribution the weight initialization gives it; for a standard-normal pre-activation that is 1/√(2π) (the fixed
 * shift, shared/init/activations.ts). Kaiming-initialized layers on standardized inputs do not give standard-normal
 * pre-activations (conv1's variance is about 2·E[x²] by construction), so "the init's distribution" is read here as
 * the pre-activation distribution the network actually has at init, measured on a batch of training images:
 *
 *   measured   μ = mean of relu(z) over the batch and every unit and position: E[relu(z)] with no assumption on
 *              z's law (the default; a data-dependent init like LSUV, one number per layer)
 *   gaussian   μ = σ_z/√(2π), σ_z the measured standard deviation of z: E[relu(z)] for z ~ N(0, σ_z²), the paper's
 *              Gaussian formula at the measured spread (equals `measured` when z is centred and Gaussian)
 *   fixed      μ = 1/√(2π) left as built; the same statistics are measured and reported
 *
 * Layers are estimated in forward order, each with the earlier layers' μ already written in, so each sees the
 * inputs it will start training with (as LSUV does for its scales). The estimate is written into the layer's
 * non-trainable `shift` weight: it is part of the weights artifact and of every cache key downstream.
 */
import * as tf from "@tensorflow/tfjs"
import { WIB_RELU_SHIFT, WibReLU } from "../init/activations.ts"
import { forwardOrder } from "./graph.ts"
import { isFlat } from "./flatten.ts"

export const WIB_SHIFT_ESTIMATORS = ["measured", "gaussian", "fixed"] as const
export type WibShiftEstimator = (typeof WIB_SHIFT_ESTIMATORS)[number]

/** One WIB-ReLU layer's pre-activation statistics on the batch, and the μ it was given. */
export interface WibShiftEstimate {
  readonly layer: string
  /** Mean and (population) standard deviation of its input z over the batch, units and positions. */
  readonly preActivationMean: number
  readonly preActivationStd: number
  /** mean relu(z) on the batch. */
  readonly measured: number
  /** σ_z/√(2π). */
  readonly gaussian: number
  /** The μ the layer subtracts from now on. */
  readonly shift: number
  /** Its output mean on the batch with that μ: measured − shift (0 for `measured` by construction). */
  readonly outputMean: number
}

/** The μ an estimator gives from the batch's statistics. */
export const wibShiftOf = (estimator: WibShiftEstimator, s: { readonly measured: number; readonly gaussian: number }): number =>
  estimator === "measured" ? s.measured : estimator === "gaussian" ? s.gaussian : WIB_RELU_SHIFT

/**
 * Estimates and writes every WIB-ReLU layer's μ from the batch `x` (see the module comment); returns what it found,
 * in forward order. The model must be flat (every lwi factory is): a copy's weights would not reach the model.
 */
export const estimateWibShifts = (model: tf.LayersModel, x: tf.Tensor, estimator: WibShiftEstimator): WibShiftEstimate[] => {
  if (!isFlat(model)) throw new Error(`estimateWibShifts: model "${model.name}" has nested models or shared layers; build it flat`)
  const layers = forwardOrder(model).filter((l): l is WibReLU => l instanceof WibReLU)
  return layers.map((layer) => {
    const probe = tf.model({ inputs: model.inputs, outputs: layer.input as tf.SymbolicTensor })
    const [mean, variance, measured] = tf.tidy(() => {
      const z = probe.apply(x, { training: false }) as tf.Tensor
      const m = tf.moments(z)
      return [m.mean, m.variance, tf.mean(tf.relu(z))].map((t) => t.dataSync()[0]!)
    }) as [number, number, number]
    const std = Math.sqrt(variance)
    const stats = { measured, gaussian: std / Math.sqrt(2 * Math.PI) }
    const shift = wibShiftOf(estimator, stats)
    layer.shift = shift
    return { layer: layer.name, preActivationMean: mean, preActivationStd: std, ...stats, shift, outputMean: measured - layer.shift }
  })
}
