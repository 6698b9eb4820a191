/**
 * The training monitor: every K training steps, per conv/dense layer, the statistics researchers judge an
 * initialization by, measured on the training batch of that step, from the step's own forward and backward pass:
 *
 *   activationMean, activationVar   the layer's activation (population variance, ÷N, over batch × positions × units):
 *                                   the output of its fused activation, or of the activation layer that follows it
 *                                   through BN and a residual add (shared/models/graph.ts `activationPath`, the site
 *                                   LW learns); the classifier has none, so its output (the logits)
 *   gradMean, gradVar, gradNorm     of the loss gradient w.r.t. the layer's kernel (the gradient the update uses)
 *   deadShare                       the share of the layer's units (output channels / neurons) whose activation is
 *                                   constant over the batch: standard deviation over batch (and spatial positions)
 *                                   below `deadThreshold` (the "dying ReLU" notion the WIB-ReLU study uses: a
 *                                   unit that outputs the same value whatever the input). A ReLU unit that
 *                                   outputs 0 for every input of the batch has std exactly 0.
 *
 * Cost: no extra forward. The training forward runs on a model with the same layers whose outputs are the logits
 * AND every layer's activation (`monitorPlan`), so the activations are already there; the statistics are a few
 * reductions, read back in one transfer. The weights it produces are the same, to the last bit, as without it.
 */
import * as tf from "@tensorflow/tfjs"
import { activationPath, forwardOrder, learnableKind, type Layer } from "../models/graph.ts"

export interface MonitorConfig {
  /** Sample every `every` training steps (step 0, before the first update, included). */
  readonly every: number
  /** A unit is dead when its activation's std over the batch is below this (activations are O(1) at a sane init). */
  readonly deadThreshold: number
}

/**
 * every 50: well inside the 5 % overhead budget on LeNet-5 and ResNet18 (small stem), torch, 1 thread (measured:
 * BENCHMARKS.md, "Training monitor overhead"); sparser than the budget allows so that a long run's record stays
 * small (a few dozen samples per epoch of 60 000 images at batch 32) while still drawing a curve. Shorter runs use
 * `monitorFor`.
 * deadThreshold 1e-6: a dead unit's activation is constant over the batch (a ReLU that outputs 0 for every input,
 * a saturated tanh/sigmoid), so its std is 0 up to float32 rounding; activations at a sane init have std O(1).
 */
export const defaultMonitor: MonitorConfig = { every: 50, deadThreshold: 1e-6 }

/**
 * The default monitor for a run of `steps` training steps: about 200 samples over the run, every 50 steps at the
 * sparsest (long runs: `defaultMonitor`) and every 20 at the densest — one sample costs up to about half a step
 * (BENCHMARKS.md), so even a short (--quick) run stays within the 5 % budget and still gets more than one point.
 */
export const monitorFor = (steps: number): MonitorConfig => ({
  ...defaultMonitor,
  every: Math.min(defaultMonitor.every, Math.max(20, Math.round(steps / 200)))
})

/** Statistics of one layer at one sampled step (may be NaN/Inf once training diverges). */
export interface LayerStatsSample {
  readonly layer: string
  readonly activationMean: number
  readonly activationVar: number
  readonly gradMean: number
  readonly gradVar: number
  readonly gradNorm: number
  readonly deadShare: number
}

/** How one layer is monitored: where its activation comes out of the plan's model, which variable is its kernel. */
interface MonitoredLayer {
  readonly name: string
  /** Index into the plan model's outputs (0 is the logits). */
  readonly output: number
  /** The kernel variable's name: its key in `tf.variableGrads`' result. */
  readonly kernel: string
}

/** A model with the same layers (and weights) whose outputs are [logits, ...activations], and what each one is. */
export interface MonitorPlan {
  readonly model: tf.LayersModel
  readonly layers: ReadonlyArray<MonitoredLayer>
}

const single = (t: tf.SymbolicTensor | tf.SymbolicTensor[]): tf.SymbolicTensor => (Array.isArray(t) ? t[0]! : t)

/** The tensor a layer's activation statistics read: see the module comment. */
const activationSite = (layer: Layer): tf.SymbolicTensor => {
  const fused = layer.getConfig().activation
  if (typeof fused === "string" && fused !== "linear") return single(layer.output)
  return single(activationPath(layer).activation?.output ?? layer.output)
}

/** The plan for `model`: every conv/dense layer in forward order. It shares `model`'s layers; dispose neither twice. */
export const monitorPlan = (model: tf.LayersModel): MonitorPlan => {
  const logits = single(model.outputs)
  const outputs: tf.SymbolicTensor[] = [logits]
  const layers = forwardOrder(model)
    .filter((l) => learnableKind(l) !== undefined)
    .map((l) => {
      const site = activationSite(l)
      // The classifier's site is the logits themselves: one output, used twice.
      let output = outputs.indexOf(site)
      if (output < 0) output = outputs.push(site) - 1
      const kernel = l.weights.find((w) => w.originalName.split("/").pop() === "kernel")!
      return { name: l.name, output, kernel: (kernel.read() as tf.Variable).name }
    })
  return { model: tf.model({ inputs: model.inputs, outputs, name: `${model.name}.monitored` }), layers }
}

/** Whether global step `step` (0-based, counted over all epochs) is sampled. */
export const sampledAt = (step: number, every: number): boolean => step % every === 0

/**
 * One layer's six statistics as a [6] tensor: activation mean and variance, kernel-gradient mean, variance and L2
 * norm, dead share. Per-unit moments are taken once (over every axis but the last, the units); the whole-tensor mean
 * and variance follow from them (equal counts per unit: mean of means; mean of variances + variance of means).
 */
export const layerStatsTensor = (activation: tf.Tensor, grad: tf.Tensor, deadThreshold: number): tf.Tensor1D =>
  tf.tidy(() => {
    const a = activation.rank === 1 ? activation.reshape([-1, 1]) : activation
    const perUnit = tf.moments(a, a.shape.slice(0, -1).map((_, i) => i))
    const unitMean = tf.moments(perUnit.mean)
    const actVar = tf.add(tf.mean(perUnit.variance), unitMean.variance)
    const dead = tf.mean(tf.cast(tf.less(perUnit.variance, deadThreshold * deadThreshold), "float32"))
    const g = tf.moments(grad)
    const gradNorm = tf.sqrt(tf.sum(tf.square(grad)))
    return tf.stack([unitMean.mean, actVar, g.mean, g.variance, gradNorm, dead].map((t) => t.reshape([]))) as tf.Tensor1D
  })

/** Every monitored layer's statistics as one [layers, 6] tensor, from the plan model's outputs and the step's grads. */
export const planStatsTensor = (
  plan: MonitorPlan,
  outputs: ReadonlyArray<tf.Tensor>,
  grads: Readonly<Record<string, tf.Tensor>>,
  deadThreshold: number
): tf.Tensor2D =>
  tf.tidy(() => tf.stack(plan.layers.map((l) => layerStatsTensor(outputs[l.output]!, grads[l.kernel]!, deadThreshold))) as tf.Tensor2D)

/** The [layers, 6] statistics read back as one record per layer. */
export const readStats = (plan: MonitorPlan, values: ArrayLike<number>): LayerStatsSample[] =>
  plan.layers.map((l, i) => {
    const v = (k: number) => values[6 * i + k]!
    return { layer: l.name, activationMean: v(0), activationVar: v(1), gradMean: v(2), gradVar: v(3), gradNorm: v(4), deadShare: v(5) }
  })

/** The loss a C-class classifier starts from when its logits carry no information: −log(1/C) = ln C. */
export const expectedInitialLoss = (classes: number): number => Math.log(classes)
