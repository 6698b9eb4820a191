/**
 * LW's public entry point: `learnInit(model, batch, options?)` — learned initialization for any tfjs LayersModel
 * and one batch of its inputs (what `import { learnInit } from "lwi"` gives; docs/lw-api.md, README "LW on your
 * own model").
 *
 *   options   validated here, at the edge (arktype): a bad one is a BadConfig naming the option and what it takes.
 *             Every default comes from shared/lw/config.ts (`lwPresets[preset]`, the method's `defaultLwConfig`).
 *   backend   lwi never switches tfjs's backend behind the caller's back: without `backend`, LW runs on whatever
 *             backend tfjs has active (`tf.setBackend(...)` by the caller). With `backend`, lwi's own selection
 *             (shared/backend/select.ts) loads that one first, or fails with BackendUnavailable saying why.
 *   copy      false: the model's weights are replaced in place; true: a clone (topology serialized and rebuilt,
 *             weights copied) is learned and returned, the caller's model untouched.
 *   report    every layer with weights, in forward order (a nested model's named by path, `block/conv`):
 *             learned (its targets met), unreachable (learned, a target missed or out of its activation's reach:
 *             which, and by how much), diverged, or skipped (with the reason: greedy.ts `lwSkipped`) — nothing is
 *             left out silently. Each learned layer carries the target it aimed at, resolved for its activation
 *             (`varianceTarget: "auto"`, config.ts), and `log` receives one line per layer (plus one warning per
 *             target its activation cannot reach comfortably).
 *
 * Layers are learned one by one with `learnOneLayer` (greedy.ts) on the model's flat view (`openLwView`: nested
 * models walked into), each on the real input the learned layers below it produce: exactly what `learnModelInit`
 * does for the default layer set, and what lets `layers` pick a subset.
 */
import * as tf from "@tensorflow/tfjs"
import { type } from "arktype"
import { Schema } from "effect"
import { selectBackend, type BackendName } from "../backend/select.ts"
import { BadConfig } from "../errors.ts"
import { forwardOrder } from "../models/graph.ts"
import { learnableLayersOf } from "../models/weights.ts"
import { LwConfigSchema, lwPresets, targetWarning, type LwConfig, type LwPresetName } from "./config.ts"
import { learnOneLayer, lwLayerNames, lwSkipped, openLwView } from "./greedy.ts"
import type { EpochRecord, LayerResult, StopReason } from "./learn-layer.ts"
import type { LayerStats } from "./stats.ts"

/** The model could not be cloned for `copy: true` (typically a custom layer class tfjs cannot deserialize). */
export class ModelNotCopyable extends Schema.TaggedError<ModelNotCopyable>()("ModelNotCopyable", {
  model: Schema.String,
  problem: Schema.String
}) {
  override get message() {
    return `learnInit cannot copy model "${this.model}" (copy: true): ${this.problem}. Register its custom layer classes with tf.serialization.registerClass, or pass copy: false to learn it in place`
  }
}

/** Where LW is after one layer: what `onLayer` receives. */
export interface LayerProgress {
  readonly layer: string
  /** 0-based position among the layers this call considers (`total` of them). */
  readonly index: number
  readonly total: number
  readonly status: LayerOutcome["status"]
  /** Epochs run (one optimizer step each with the default batchSize "all"); 0 for a skipped layer. */
  readonly epochs: number
  readonly stop: StopReason | undefined
  readonly seconds: number
}

export interface LearnInitOptions {
  /** Starting configuration (shared/lw/config.ts `lwPresets`); the options below override it. Default "lw", the method. */
  readonly preset?: LwPresetName
  /** Target of the layer output's mean. Default 0 (the thesis). */
  readonly meanTarget?: number
  /**
   * Target of the activation output's variance. Default "auto": 1 (the thesis) for the ReLU family and every
   * activation unbounded above, a feasible measured target for bounded ones (sigmoid 0.0434, tanh 0.3943:
   * shared/lw/config.ts `autoVarianceTarget`). A number is used as given, warned about when out of reach.
   */
  readonly varianceTarget?: number | "auto"
  /** Most epochs per layer (`maxEpochs`). Default 200 (the thesis); a layer stops earlier when its losses converge. */
  readonly epochs?: number
  /** Learning rate. Default 0.01 (the thesis). */
  readonly lr?: number
  /** "sgd" (default, with momentum) or "adam". */
  readonly optimizer?: "sgd" | "adam"
  /** SGD momentum. Default 0.9 (config.ts says why: without it a residual block's last conv falls short). */
  readonly momentum?: number
  /** Seeds each layer's starting draw (from the seed and the layer's name). Default 0. */
  readonly seed?: number
  /**
   * Names of the conv/dense layers to learn (learned in forward order; a nested model's by path, `block/conv`).
   * Default: all of them but the classifier.
   */
  readonly layers?: readonly string[]
  /** Learn a clone and return it, leaving `model` as it was. Default false: learn `model` in place. */
  readonly copy?: boolean
  /** Have lwi select this tfjs backend first (shared/backend/select.ts). Default: the backend tfjs has active. */
  readonly backend?: BackendName
  /** Intra-op threads for `backend` (where the backend honours it). */
  readonly threads?: number
  /** Any other LwConfig field (scope, convergence, init, ...), checked against the config's Schema. */
  readonly config?: Partial<LwConfig>
  /** Called after each layer, learned or skipped. */
  readonly onLayer?: (progress: LayerProgress) => void
  /** Receives one line per layer (what it did, its statistics or why it was skipped). Default: no output. */
  readonly log?: (line: string) => void
}

/** The data-valued options, checked at the edge ("+": "reject" — a misspelt option is an error, not ignored). */
const optionsDefinition = {
  "preset?": type.enumerated(...(Object.keys(lwPresets) as LwPresetName[])),
  "meanTarget?": "number",
  "varianceTarget?": "number >= 0 | 'auto'",
  "epochs?": "number.integer >= 1",
  "lr?": "number > 0",
  "optimizer?": "'sgd' | 'adam'",
  "momentum?": "0 <= number < 1",
  "seed?": "number.integer",
  "layers?": "string[]",
  "copy?": "boolean",
  "backend?": "'tensorflow' | 'torch' | 'wasm' | 'cpu'",
  "threads?": "number.integer >= 1",
  "config?": "object",
  "onLayer?": "Function",
  "log?": "Function",
  "+": "reject"
} as const
const OptionsType = type(optionsDefinition)
const optionNames = Object.keys(optionsDefinition).filter((k) => k !== "+").map((k) => k.replace(/\?$/, ""))

export type LayerStatus = "learned" | "unreachable" | "diverged" | "skipped"

export interface LayerOutcome {
  readonly layer: string
  readonly className: string
  readonly status: LayerStatus
  /** skipped: why; unreachable: which target was missed and by how much; diverged: where. */
  readonly reason: string | undefined
  /**
   * What a learned layer aimed at — the variance target resolved for its activation ("auto" → a number), whether
   * its activation can reach it (`feasibility`), whether it did (`reached`); undefined when skipped.
   */
  readonly target: LayerResult["target"] | undefined
  readonly epochs: number
  readonly stop: StopReason | undefined
  readonly seconds: number
  /** Whole-tensor statistics on the batch at the final weights (undefined when skipped). */
  readonly final: LayerStats | undefined
  readonly finalLoss: LayerResult["finalLoss"] | undefined
  /** The losses epoch by epoch. */
  readonly curve: readonly EpochRecord[]
}

export interface LearnInitReport {
  /** The learned model: `model` itself, or its clone with `copy: true`. */
  readonly model: tf.LayersModel
  /** Every layer with weights (nested ones by path), in forward order: learned, or skipped with why. */
  readonly layers: readonly LayerOutcome[]
  readonly config: LwConfig
  readonly backend: string
  readonly seconds: number
  readonly diverged: { readonly layer: string; readonly epoch: number } | undefined
}

/** A batch as a tf.Tensor, or plain values with their shape (batch on axis 0). */
export type Batch = tf.Tensor | { readonly data: Float32Array | ArrayLike<number>; readonly shape: readonly number[] }

const bad = (field: string, value: unknown, expected: string) =>
  new BadConfig({ field, value: typeof value === "string" ? value : JSON.stringify(value) ?? String(value), expected, source: "learnInit" })

/** The options' LwConfig: the preset, the named overrides, then `config`; checked against LwConfigSchema. */
const resolveConfig = (o: LearnInitOptions): LwConfig => {
  const named: Partial<LwConfig> = {
    ...(o.meanTarget === undefined ? {} : { meanTarget: o.meanTarget }),
    ...(o.varianceTarget === undefined ? {} : { varianceTarget: o.varianceTarget }),
    ...(o.epochs === undefined ? {} : { maxEpochs: o.epochs }),
    ...(o.lr === undefined ? {} : { lr: o.lr }),
    ...(o.optimizer === undefined ? {} : { optimizer: o.optimizer }),
    ...(o.momentum === undefined ? {} : { momentum: o.momentum })
  }
  const merged = { ...lwPresets[o.preset ?? "lw"], ...named, ...o.config }
  try {
    return Schema.decodeUnknownSync(LwConfigSchema, { onExcessProperty: "error" })(merged)
  } catch (e) {
    // The Schema's message: "Expected …\n  at ["convergence"]["window"]".
    const [problem = "invalid", at = ""] = (e instanceof Error ? e.message : String(e)).split("\n")
    const path = [...at.matchAll(/\["([^"]*)"\]/g)].map((m) => m[1]!)
    const value = path.reduce<unknown>((v, k) => (v as Record<string, unknown> | undefined)?.[k], merged)
    throw bad(["config", ...path].join("."), value, `${problem.replace(/^Expected /, "")} (LwConfig, shared/lw/config.ts)`)
  }
}

/** The batch as a float32 tensor the model accepts (and whether we made it, so we dispose it). */
const toTensor = (model: tf.LayersModel, batch: Batch): { x: tf.Tensor; owned: boolean } => {
  if (model.inputs.length !== 1) throw bad("model", model.name, `a model with one input (it has ${model.inputs.length})`)
  const want = model.inputs[0]!.shape
  let x: tf.Tensor
  let owned = false
  if (batch instanceof tf.Tensor) x = batch
  else if (typeof batch === "object" && batch !== null && "data" in batch && "shape" in batch) {
    const size = batch.shape.reduce((a, b) => a * b, 1)
    if (batch.data.length !== size) {
      throw bad("batch.data", `${batch.data.length} values`, `${size} values for batch.shape [${batch.shape.join(", ")}]`)
    }
    x = tf.tensor(batch.data as Float32Array, [...batch.shape], "float32")
    owned = true
  } else {
    throw bad("batch", typeof batch, "a tf.Tensor from the same @tensorflow/tfjs lwi uses, or { data, shape }")
  }
  const fits = x.rank === want.length && want.every((d, i) => i === 0 || d === null || d === x.shape[i])
  const problem = !fits
    ? `shape [null, ${want.slice(1).join(", ")}] (the model's input; batch on axis 0)`
    : x.shape[0]! < 2
      ? "at least 2 samples (a variance needs two)"
      : x.dtype !== "float32"
        ? "float32 values"
        : undefined
  if (problem !== undefined) {
    if (owned) x.dispose()
    throw bad("batch", `shape [${x.shape.join(", ")}] ${x.dtype}`, problem)
  }
  return { x, owned }
}

/** A clone with the same layer names and weights (topology through JSON, as tfjs saves it). */
const cloneModel = async (model: tf.LayersModel): Promise<tf.LayersModel> => {
  let clone: tf.LayersModel
  try {
    const topology = model.toJSON(undefined, false) as tf.io.ModelJSON["modelTopology"]
    clone = await tf.models.modelFromJSON({ modelTopology: topology } as tf.io.ModelJSON)
  } catch (e) {
    throw new ModelNotCopyable({ model: model.name, problem: e instanceof Error ? e.message.split("\n")[0]! : String(e) })
  }
  clone.setWeights(model.getWeights())
  return clone
}

const fmt = (x: number) => (Number.isFinite(x) ? x.toFixed(3) : String(x))

/** The statistic a term reads. */
const stat = (r: LayerResult, site: "output" | "activation", what: "Mean" | "Var") => r.final[`${site}${what}` as keyof LayerStats]

/** Did the layer meet each target that is on (its resolved target)? undefined when it did, else the misses, in words. */
const missed = (r: LayerResult, config: LwConfig): string | undefined => {
  const { threshold } = config.convergence
  const t = r.target
  const misses: string[] = []
  if (t.meanAt !== "off" && !(r.finalLoss.meanLoss < threshold)) {
    misses.push(`${t.meanAt} mean ${fmt(stat(r, t.meanAt, "Mean"))}, target ${t.meanTarget}`)
  }
  if (t.varianceAt !== "off" && !(r.finalLoss.varLoss < threshold)) {
    misses.push(`${t.varianceAt} variance ${fmt(stat(r, t.varianceAt, "Var"))}, target ${t.varianceTarget}`)
  }
  const infeasible = t.feasibility.status === "infeasible" ? [`out of reach: ${t.feasibility.reason}`] : []
  if (misses.length === 0 && infeasible.length === 0) return undefined
  return [...(misses.length === 0 ? [] : [`${misses.join("; ")} (loss above ${threshold})`]), ...infeasible].join("; ")
}

const outcomeOf = (layer: string, className: string, r: LayerResult, seconds: number, config: LwConfig): LayerOutcome => {
  const miss = missed(r, config)
  const status: LayerStatus = r.diverged !== undefined ? "diverged" : r.target.reached && miss === undefined ? "learned" : "unreachable"
  return {
    layer,
    className,
    status,
    reason: r.diverged !== undefined ? `loss not finite at epoch ${r.diverged.epoch}; its weights were not written` : miss,
    target: r.target,
    epochs: r.epochs,
    stop: r.stop,
    seconds,
    final: r.final,
    finalLoss: r.finalLoss,
    curve: r.curve
  }
}

const skipped = (layer: string, className: string, reason: string): LayerOutcome => ({
  layer, className, status: "skipped", reason, target: undefined, epochs: 0, stop: undefined, seconds: 0, final: undefined, finalLoss: undefined, curve: []
})

/** One line per layer, what `log` receives: for a learned layer, each term's statistic beside its resolved target. */
export const describeOutcome = (o: LayerOutcome): string => {
  const head = `lw: ${o.layer} (${o.className})`
  if (o.status === "skipped") return `${head} skipped: ${o.reason}`
  if (o.status === "diverged") return `${head} diverged: ${o.reason}`
  const f = o.final!
  const t = o.target!
  const terms = [
    ...(t.meanAt === "off" ? [] : [`${t.meanAt} mean ${fmt(f[`${t.meanAt}Mean`])} (target ${t.meanTarget})`]),
    ...(t.varianceAt === "off" ? [] : [`${t.varianceAt} variance ${fmt(f[`${t.varianceAt}Var`])} (target ${t.varianceTarget}${t.auto ? ", auto" : ""})`])
  ]
  const time = `${o.epochs} epochs (${o.stop}), ${o.seconds.toFixed(2)} s`
  return o.status === "learned" ? `${head} learned: ${terms.join(", ")}; ${time}` : `${head} target not reached: ${o.reason}; ${time}`
}

/**
 * LW on `model` with `batch` (see the module comment). Rejects with BadConfig (an option or the batch),
 * BackendUnavailable (`backend`), ModelNotCopyable (`copy`) or UnsupportedLayer (a layer LW cannot express; with
 * copy: false the layers before it keep their learned weights).
 */
export const learnInit = async (model: tf.LayersModel, batch: Batch, options: LearnInitOptions = {}): Promise<LearnInitReport> => {
  const checked = OptionsType(options)
  if (checked instanceof type.errors) {
    const e = checked[0]!
    const field = e.path.join(".") || "options"
    throw bad(field, e.path.length > 0 ? (options as Record<string, unknown>)[String(e.path[0])] : options,
      e.problem.startsWith("must be removed") ? `no such option; learnInit takes ${optionNames.join(", ")}` : e.problem.replace(/^must be /, ""))
  }
  if (!(model instanceof tf.LayersModel)) {
    throw bad("model", typeof model, "a tf.LayersModel built with the same @tensorflow/tfjs lwi uses (one copy in node_modules)")
  }
  const config = resolveConfig(options)
  const started = performance.now()
  if (options.backend !== undefined) {
    await selectBackend({ prefer: options.backend, ...(options.threads === undefined ? {} : { threads: options.threads }), ...(options.log ? { log: options.log } : {}) })
  }
  const { x, owned } = toTensor(model, batch)
  try {
    const target = options.copy === true ? await cloneModel(model) : model
    const view = openLwView(target)
    try {
      const flat = view.flat.model
      const all = learnableLayersOf(flat).map((l) => l.name)
      const defaults = new Set(lwLayerNames(flat))
      for (const name of options.layers ?? []) {
        if (!all.includes(name)) throw bad("layers", name, `names of conv/dense layers of "${target.name}": ${all.join(", ")}`)
      }
      const chosen = new Set(options.layers ?? defaults)
      const why = new Map(lwSkipped(flat).map((s) => [s.layer, s.reason]))
      const order = forwardOrder(flat).filter((l) => l.weights.length > 0)
      const outcomes: LayerOutcome[] = []
      let diverged: LearnInitReport["diverged"]
      const emit = (o: LayerOutcome) => {
        outcomes.push(o)
        const warning = o.target === undefined ? undefined : targetWarning(o.layer, o.target)
        if (warning !== undefined) options.log?.(warning)
        options.log?.(describeOutcome(o))
        options.onLayer?.({ layer: o.layer, index: outcomes.length - 1, total: order.length, status: o.status, epochs: o.epochs, stop: o.stop, seconds: o.seconds })
      }
      for (const layer of order) {
        const [name, className] = [layer.name, layer.getClassName()]
        if (!all.includes(name)) emit(skipped(name, className, why.get(name)!))
        else if (diverged !== undefined) emit(skipped(name, className, `LW stopped at "${diverged.layer}", which diverged`))
        else if (!chosen.has(name)) emit(skipped(name, className, defaults.has(name) ? "not in options.layers" : why.get(name)!))
        else {
          const t0 = performance.now()
          const result = learnOneLayer(target, name, x, config, options.seed ?? 0, view)
          if (result.diverged !== undefined) diverged = { layer: name, epoch: result.diverged.epoch }
          emit(outcomeOf(name, className, result, (performance.now() - t0) / 1000, config))
        }
      }
      return { model: target, layers: outcomes, config, backend: tf.getBackend(), seconds: (performance.now() - started) / 1000, diverged }
    } finally {
      view.flat.dispose()
    }
  } finally {
    if (owned) x.dispose()
  }
}
