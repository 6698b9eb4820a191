/**
 * LW over a whole model, greedily: every conv/dense layer but the final decision layer, in forward order, is
 * learned on the real input it receives from the already-learned layers below it (the model's own forward pass),
 * then frozen — its weights written into the model — before the next one is learned. The decision layer keeps
 * whatever (standard) init the model has.
 *
 *   learnOneLayer   one named layer, assuming the layers before it already hold their learned weights: what an
 *                   engine step per layer calls (its cache key: the weights below + config + seed)
 *   learnModelInit  all of them, optionally resuming after a prefix of already-learned layers
 *   layerStats      evidence: each conv/dense layer's output and activation statistics on a (held-out) batch
 *
 * Layer `name` draws its starting kernel from deriveSeed(seed, name): the same seed gives the same weights whether
 * the layers are learned in one call, one call per layer, or resumed halfway.
 */
import * as tf from "@tensorflow/tfjs"
import { deriveSeed } from "../init/random.ts"
import { layerProbe } from "../models/forward.ts"
import { learnableLayers, setLayerWeights, type NamedWeight } from "../models/weights.ts"
import type { LwConfig } from "./config.ts"
import { ResumeMismatch } from "./errors.ts"
import { learnLayer, type LayerResult, type LayerWeights } from "./learn-layer.ts"
import { layerProblem, type LayerProblem, type Probe } from "./layer-problem.ts"
import { layerStatsOf, type LayerStats } from "./stats.ts"

/** The layers LW learns, in forward order: every conv/dense layer except the classifier. */
export const lwLayerNames = (model: tf.LayersModel): string[] =>
  learnableLayers(model)
    .filter((l) => l.context.role !== "classifier")
    .map((l) => l.name)

/** A layer's learned weights as named weights (`<layer>/kernel`, `<layer>/bias`) for setLayerWeights/artifacts. */
export const namedWeights = (layerName: string, weights: LayerWeights): NamedWeight[] => [
  { name: `${layerName}/kernel`, shape: weights.kernel.shape, data: weights.kernel.data },
  ...(weights.bias === undefined ? [] : [{ name: `${layerName}/bias`, shape: weights.bias.shape, data: weights.bias.data }])
]

/**
 * Learn `layerName` on `batch` (the model's input batch) and write its weights into the model. The layers below
 * must already hold their learned weights. A diverged layer's weights are NOT written (see `result.diverged`).
 */
export const learnOneLayer = (
  model: tf.LayersModel,
  layerName: string,
  batch: tf.Tensor,
  config: LwConfig,
  seed: number,
  probe?: Probe
): LayerResult => {
  const problem = layerProblem(model, layerName, batch, config.pendingPartner, probe)
  try {
    const result = learnLayer({
      kernelShape: problem.kernelShape,
      biasShape: problem.biasShape,
      forward: problem.forward,
      inputs: problem.inputs,
      config,
      seed: deriveSeed(seed, layerName)
    })
    if (result.diverged === undefined) setLayerWeights(model, layerName, namedWeights(layerName, result.weights))
    return result
  } finally {
    problem.dispose()
  }
}

export interface LearnedLayer {
  readonly name: string
  readonly weights: readonly NamedWeight[]
}

export interface LearnModelOptions {
  readonly seed: number
  /** Called after each layer is learned (and, unless it diverged, frozen). */
  readonly onLayer?: (name: string, result: LayerResult) => void
  /** Layers already learned: a prefix of `lwLayerNames(model)`, written into the model and skipped. */
  readonly startFrom?: { readonly learned: readonly LearnedLayer[] }
}

export interface LearnModelResult {
  /** The layers learned by this call, in order. */
  readonly layers: ReadonlyArray<{ readonly name: string; readonly result: LayerResult }>
  /** Every learned layer's kernel and bias (resumed ones first), in forward order. */
  readonly weights: readonly NamedWeight[]
  /** The first layer whose learning diverged; learning stopped there and later layers were left as they were. */
  readonly diverged: { readonly layer: string; readonly epoch: number } | undefined
}

/** LW on every layer but the classifier (see the module comment). The model ends up holding the learned weights. */
export const learnModelInit = (
  model: tf.LayersModel,
  batch: tf.Tensor,
  config: LwConfig,
  options: LearnModelOptions
): LearnModelResult => {
  const order = lwLayerNames(model)
  const resumed = options.startFrom?.learned ?? []
  if (resumed.some((l, i) => l.name !== order[i])) {
    throw new ResumeMismatch({ expected: order, given: resumed.map((l) => l.name) })
  }
  for (const l of resumed) setLayerWeights(model, l.name, l.weights)
  const probe = layerProbe(model)
  const layers: Array<{ name: string; result: LayerResult }> = []
  const weights: NamedWeight[] = resumed.flatMap((l) => l.weights)
  let diverged: LearnModelResult["diverged"]
  for (const name of order.slice(resumed.length)) {
    const result = learnOneLayer(model, name, batch, config, options.seed, probe)
    layers.push({ name, result })
    options.onLayer?.(name, result)
    if (result.diverged !== undefined) {
      diverged = { layer: name, epoch: result.diverged.epoch }
      break
    }
    weights.push(...namedWeights(name, result.weights))
  }
  return { layers, weights, diverged }
}

export interface LayerReport extends LayerStats {
  readonly name: string
  /** false: nothing follows the layer (the classifier); the activation statistics are the output's. */
  readonly hasActivation: boolean
}

/**
 * Output (pre-activation) and activation statistics of every conv/dense layer on `batch`, in forward order, from
 * the model's real forward pass (residual partners included). Whole-tensor scalars, variance with N − 1 unless
 * `unbiased` is false.
 */
export const layerStats = (
  model: tf.LayersModel,
  batch: tf.Tensor,
  options: { readonly unbiased?: boolean } = {}
): LayerReport[] => {
  const probe = layerProbe(model)
  return learnableLayers(model).map(({ name }) => {
    const problem = layerProblem(model, name, batch, "current", probe)
    try {
      const stats = layerStatsFor(problem, options.unbiased ?? true)
      return { name, hasActivation: problem.hasActivation, ...stats }
    } finally {
      problem.dispose()
    }
  })
}

/** The problem's statistics at the weights the model holds. */
const layerStatsFor = (problem: LayerProblem, unbiased: boolean): LayerStats => {
  const { kernel, bias } = problem.current
  const sites = tf.tidy(() =>
    problem.forward(
      problem.inputs,
      tf.tensor(kernel.data, [...kernel.shape]),
      bias === undefined ? undefined : tf.tensor(bias.data, [...bias.shape])
    )
  )
  try {
    return layerStatsOf(sites, unbiased)
  } finally {
    tf.dispose([sites.output, sites.activation])
  }
}
