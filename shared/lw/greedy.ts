/**
 * LW over a whole model, greedily: every layer with a kernel (shared/models/kinds.ts: Dense, Conv1D/2D/3D,
 * DepthwiseConv2D, SeparableConv2D, Conv2D/3DTranspose) but the final decision layer, in forward order, is learned
 * on the real input it receives from the already-learned layers below it (the model's own forward pass), then
 * frozen — its weights written into the model — before the next one is learned. The decision layer keeps
 * whatever (standard) init the model has. Nested models are walked into through their flat view (flatten.ts):
 * their layers are named by path (`block1/conv`); a layer applied twice is refused (SharedLayer).
 *
 * Nothing is silent: the result lists every layer learned (with whether it `reached` its targets), every layer
 * with weights left as it was (`skipped`, with the reason) and the ones whose targets were missed (`unreached`);
 * `log` receives one line for each. A layer LW cannot learn is an UnsupportedLayer, thrown (layer-problem.ts).
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
import { flatten, type FlatModel } from "../models/flatten.ts"
import { layerProbe } from "../models/forward.ts"
import { forwardOrder, learnableKind } from "../models/graph.ts"
import { learnableLayersOf, setLayerWeights, withFlat, writeThrough, type NamedWeight } from "../models/weights.ts"
import { targetWarning, type LwConfig } from "./config.ts"
import { ResumeMismatch } from "./errors.ts"
import { learnLayer, type LayerResult, type LayerWeights } from "./learn-layer.ts"
import { layerProblem, type LayerProblem, type Probe } from "./layer-problem.ts"
import { layerStatsOf, type LayerStats } from "./stats.ts"

/** The layers LW learns, in forward order: every layer with a kernel except the classifier (paths when nested). */
export const lwLayerNames = (model: tf.LayersModel): string[] => withFlat(model, (flat) => lwLayersOf(flat.model))

const lwLayersOf = (flatModel: tf.LayersModel): string[] =>
  learnableLayersOf(flatModel)
    .filter((l) => l.context.role !== "classifier")
    .map((l) => l.name)

/** A layer LW leaves as it is, and why. */
export interface Skipped {
  readonly layer: string
  readonly className: string
  readonly reason: string
}

/**
 * The layers with weights that LW does not learn, in forward order, each with why: the classifier (by design: the
 * decision layer keeps its standard init) and every layer whose weights are not a kernel LW learns (BN's gamma/beta,
 * an embedding, a recurrent cell...). Layers without weights (activations, pools, reshapes) are not listed.
 */
export const lwSkipped = (flatModel: tf.LayersModel): Skipped[] => {
  const learned = new Set(lwLayersOf(flatModel))
  return forwardOrder(flatModel).flatMap((l): Skipped[] => {
    if (l.weights.length === 0 || learned.has(l.name)) return []
    const className = l.getClassName()
    const reason =
      learnableKind(l) !== undefined
        ? "the classifier (last layer with a kernel): keeps its initial weights, by design"
        : `no kernel LW learns (${l.weights.map((w) => w.originalName.split("/").pop()).join(", ")}): kept as they are`
    return [{ layer: l.name, className, reason }]
  })
}

/** A layer's learned weights as named weights (`<layer>/kernel`, `<layer>/bias`) for single-kernel layers. */
export const namedWeights = (layerName: string, weights: LayerWeights): NamedWeight[] => [
  { name: `${layerName}/kernel`, shape: weights.kernel.shape, data: weights.kernel.data },
  ...(weights.bias === undefined ? [] : [{ name: `${layerName}/bias`, shape: weights.bias.shape, data: weights.bias.data }])
]

/**
 * A model as LW reads it: its flat view (shared/models/flatten.ts: nested models walked into, layers named by
 * path) and the probe reused across layers. Dispose it when done (a nested model's view is a copy).
 */
export interface LwView {
  readonly flat: FlatModel
  readonly probe: Probe
}

export const openLwView = (model: tf.LayersModel): LwView => {
  const flat = flatten(model)
  return { flat, probe: layerProbe(flat.model) }
}

/** `view` or a fresh one (disposed after `use`); a bare probe is one built on the (flat) model itself. */
const withView = <A>(model: tf.LayersModel, view: LwView | Probe | undefined, use: (v: LwView) => A): A => {
  if (typeof view === "function") return use({ flat: { model, copied: false, source: () => undefined as never, dispose: () => {} }, probe: view })
  if (view !== undefined) return use(view)
  const own = openLwView(model)
  try {
    return use(own)
  } finally {
    own.flat.dispose()
  }
}

/** learnOneLayer's result, with the weights as the layer names them (packed kernels split). */
export interface OneLayer {
  readonly result: LayerResult
  readonly weights: readonly NamedWeight[]
}

const learnOn = (view: LwView, layerName: string, batch: tf.Tensor, config: LwConfig, seed: number): OneLayer => {
  const problem = layerProblem(view.flat.model, layerName, batch, config.pendingPartner, view.probe)
  try {
    const layerSeed = deriveSeed(seed, layerName)
    const initial = problem.initial(config.init, layerSeed)
    const result = learnLayer({
      kernelShape: problem.kernelShape,
      biasShape: problem.biasShape,
      forward: problem.forward,
      inputs: problem.inputs,
      config,
      activation: problem.activation,
      channelAxes: problem.channelAxes,
      seed: layerSeed,
      ...(initial === undefined ? {} : { initial })
    })
    const weights = problem.named(result.weights)
    if (result.diverged === undefined) writeThrough(view.flat, layerName, weights)
    return { result, weights }
  } finally {
    problem.dispose()
  }
}

/**
 * Learn `layerName` on `batch` (the model's input batch) and write its weights into the model. The layers below
 * must already hold their learned weights. A diverged layer's weights are NOT written (see `result.diverged`).
 * `view`: an `openLwView(model)` reused across calls (or a probe of a flat model); without it one is built.
 */
export const learnOneLayer = (
  model: tf.LayersModel,
  layerName: string,
  batch: tf.Tensor,
  config: LwConfig,
  seed: number,
  view?: LwView | Probe
): LayerResult => withView(model, view, (v) => learnOn(v, layerName, batch, config, seed).result)

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
  /** One line per layer learned, per target missed or infeasible, per layer skipped (engine-free: a plain callback). */
  readonly log?: (line: string) => void
}

export interface LearnModelResult {
  /**
   * The layers learned by this call, in order; `reached`: every target term that is on ended within the
   * convergence threshold on the batch (learn-layer.ts `target.reached`; false after a divergence).
   */
  readonly layers: ReadonlyArray<{ readonly name: string; readonly result: LayerResult; readonly reached: boolean }>
  /** Every layer with weights LW left as they were, with why (`lwSkipped`; after a divergence, the layers not reached). */
  readonly skipped: readonly Skipped[]
  /**
   * The learned layers whose targets were not reached (`reached` false) or cannot be (`target.feasibility`
   * "infeasible": a user-set target the activation cannot reach), in order.
   */
  readonly unreached: readonly string[]
  /** Every learned layer's kernel and bias (resumed ones first), in forward order. */
  readonly weights: readonly NamedWeight[]
  /** The first layer whose learning diverged; learning stopped there and later layers were left as they were. */
  readonly diverged: { readonly layer: string; readonly epoch: number } | undefined
}

/** Missed its targets on the batch, or aimed at ones its activation cannot reach. */
const unreachedLayer = (l: { readonly result: LayerResult; readonly reached: boolean }): boolean =>
  !l.reached || l.result.target.feasibility.status === "infeasible"

const fmt = (x: number) => (Number.isFinite(x) ? x.toFixed(3) : String(x))

/** The one line logged for a learned layer. */
export const describeLearned = (name: string, r: LayerResult): string => {
  const t = r.target
  const stats = `output mean ${fmt(r.final.outputMean)} (target ${t.meanTarget}), activation variance ${fmt(r.final.activationVar)}`
  const aim = `${t.varianceAt} variance target ${t.varianceTarget}`
  if (r.diverged !== undefined) return `LW "${name}": DIVERGED at epoch ${r.diverged.epoch} (loss ${r.diverged.loss}); weights not written`
  return t.reached
    ? `LW "${name}": learned in ${r.epochs} epochs (${r.stop}): ${stats}; ${aim} reached`
    : `LW "${name}": target NOT reached after ${r.epochs} epochs (${r.stop}): ${stats}; ${aim} (losses mean ${r.finalLoss.meanLoss.toExponential(2)}, variance ${r.finalLoss.varLoss.toExponential(2)})`
}

/** LW on every layer but the classifier (see the module comment). The model ends up holding the learned weights. */
export const learnModelInit = (
  model: tf.LayersModel,
  batch: tf.Tensor,
  config: LwConfig,
  options: LearnModelOptions
): LearnModelResult => {
  const view = openLwView(model)
  try {
    const order = lwLayersOf(view.flat.model)
    const resumed = options.startFrom?.learned ?? []
    if (resumed.some((l, i) => l.name !== order[i])) {
      throw new ResumeMismatch({ expected: order, given: resumed.map((l) => l.name) })
    }
    for (const l of resumed) writeThrough(view.flat, l.name, l.weights)
    const layers: Array<LearnModelResult["layers"][number]> = []
    const weights: NamedWeight[] = resumed.flatMap((l) => l.weights)
    const skipped = [...lwSkipped(view.flat.model)]
    let diverged: LearnModelResult["diverged"]
    for (const name of order.slice(resumed.length)) {
      if (diverged !== undefined) {
        const className = view.flat.model.getLayer(name).getClassName()
        skipped.push({ layer: name, className, reason: `not learned: LW stopped at "${diverged.layer}", which diverged` })
        continue
      }
      const { result, weights: learned } = learnOn(view, name, batch, config, options.seed)
      const reached = result.target.reached
      layers.push({ name, result, reached })
      const warning = targetWarning(name, result.target)
      if (warning !== undefined) options.log?.(warning)
      options.log?.(describeLearned(name, result))
      options.onLayer?.(name, result)
      if (result.diverged !== undefined) diverged = { layer: name, epoch: result.diverged.epoch }
      else weights.push(...learned)
    }
    const position = new Map(forwardOrder(view.flat.model).map((l, i) => [l.name, i]))
    skipped.sort((a, b) => position.get(a.layer)! - position.get(b.layer)!)
    for (const s of skipped) options.log?.(`LW "${s.layer}" (${s.className}): skipped — ${s.reason}`)
    return { layers, skipped, unreached: layers.filter(unreachedLayer).map((l) => l.name), weights, diverged }
  } finally {
    view.flat.dispose()
  }
}

export interface LayerReport extends LayerStats {
  readonly name: string
  /** false: nothing follows the layer (the classifier); the activation statistics are the output's. */
  readonly hasActivation: boolean
}

/**
 * Output (pre-activation) and activation statistics of every layer with a kernel (paths in nested models) on
 * `batch`, in forward order, from the model's real forward pass (residual partners included); layers with weights
 * but no kernel are logged as not reported. Whole-tensor scalars, variance with N − 1 unless
 * `unbiased` is false.
 */
export const layerStats = (
  model: tf.LayersModel,
  batch: tf.Tensor,
  options: { readonly unbiased?: boolean; readonly log?: (line: string) => void } = {}
): LayerReport[] => {
  const view = openLwView(model)
  try {
    for (const s of lwSkipped(view.flat.model)) {
      if (learnableKind(view.flat.model.getLayer(s.layer)) === undefined) options.log?.(`layerStats "${s.layer}" (${s.className}): not reported — ${s.reason}`)
    }
    return learnableLayersOf(view.flat.model).map(({ name }) => {
      const problem = layerProblem(view.flat.model, name, batch, "current", view.probe)
      try {
        const stats = layerStatsFor(problem, options.unbiased ?? true)
        return { name, hasActivation: problem.hasActivation, ...stats }
      } finally {
        problem.dispose()
      }
    })
  } finally {
    view.flat.dispose()
  }
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
