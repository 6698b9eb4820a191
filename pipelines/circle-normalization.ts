/**
 * circle-normalization — why inputs are standardized: the same 2-6-3-2 ReLU MLP (Kaiming-normal weights,
 * U(±1/√fanIn) biases, AdamW lr 3e-4, full batch) on concentric circles in three versions of one point set —
 * raw (on a large scale), standardized (per-feature mean 0 / std 1, training statistics), scaled down (raw ÷ 100).
 * Same points, same initial weights, same seed in each version: only the input scale differs.
 *
 *   bun run pipelines/circle-normalization.ts [--quick] [--epochs N] [--seeds N] [--raw-scale S] [--scale-down D]
 */
import * as tf from "@tensorflow/tfjs"
import { Effect } from "effect"
import { backendFlags, setupBackend } from "../shared/backend/setup.ts"
import type { Figure, Headline } from "../shared/engine/pipeline.ts"
import { definePipeline, step } from "../shared/engine/pipeline.ts"
import { runMain } from "../shared/engine/main.ts"
import { markdownTable } from "../shared/engine/report.ts"
import { defaultInitConfigs } from "../shared/init/initializers.ts"
import type { ModelSpec } from "../shared/models/spec.ts"
import { deriveSeed } from "../shared/random.ts"
import { decisionMap, figure, lineChart } from "../shared/report/charts.ts"
import type { DatasetRef } from "../shared/schemas.ts"
import { decisionGrid } from "../steps/decision-grid.ts"
import { evaluate } from "../steps/evaluate.ts"
import { initBiases } from "../steps/init-biases.ts"
import { initWeights } from "../steps/init-weights.ts"
import { makeCircles } from "../steps/make-circles.ts"
import { type EpochRecord, type LayerSample, type TrainConfig, monitorFor, train } from "../steps/train.ts"
import { type FeatureTransform, transformFeatures } from "../steps/transform-features.ts"
import { initialLossFigure, monitorFigures } from "./lib/figures.ts"
import { seedList, seedsFlag } from "./lib/flags.ts"
import { circleNormalizationResults } from "./lib/results.ts"

/** The network of the study: 2 inputs, hidden ReLU layers of 6 and 3 units, 2 logits. */
export const circleModel: ModelSpec = { arch: "mlp", inputShape: [1, 2, 1], depth: 2, width: 6, widths: [6, 3], classes: 2, activation: "relu" }

export const versionIds = ["raw", "standardized", "scaled down"] as const
export type VersionId = (typeof versionIds)[number]

/** Validation accuracy whose first crossing is reported (`stepsTo`): the circles are separable, 95 % is "learned". */
export const accuracyTarget = 0.95

/** results.json keeps at most this many epoch records per run (every k-th epoch and the last): 3 × seeds × 3000 would be megabytes. */
export const maxHistory = 300

export const circleNormalization = definePipeline({
  name: "circle-normalization",
  results: circleNormalizationResults,
  description: "circles raw vs standardized vs scaled down × a 2-6-3-2 ReLU MLP (input normalization study)",
  flags: {
    // Full batch: one epoch is one AdamW step. At lr 3e-4 a weight moves ~3e-4 per step, so learning the circles
    // takes thousands of steps; 4000 is what fits this machine's budget (the README has the measurements).
    epochs: { kind: "int", default: 4000, quick: 40, check: "1 <= number.integer <= 100000", doc: "training steps (full batch: one per epoch)" },
    ...seedsFlag({ default: 3, quick: 1, doc: "seeds (data, init): --seed, --seed+1, ..." }),
    samples: { kind: "int", default: 1000, quick: 200, check: "number.integer >= 10", doc: "training points (one full batch)" },
    heldOut: { kind: "int", default: 500, quick: 100, check: "number.integer >= 10", doc: "validation points (the held-out curve), and as many test points" },
    // circles.ts draws radii 1 and 0.5, already about unit scale: ×10 makes the raw version the problem the study
    // is about (coordinates of order 10, as unnormalized measurements often are).
    rawScale: { kind: "number", default: 10, check: "number > 0", doc: "raw coordinates = circles (radius 1) × this" },
    rawOffset: { kind: "number", default: 0, doc: "added to both raw coordinates (a data mean away from 0)" },
    scaleDown: { kind: "number", default: 100, check: "number > 0", doc: "scaled-down version = raw ÷ this" },
    noise: { kind: "number", default: 0.1, check: "number >= 0", doc: "circles noise std (radius-1 units, before the raw scaling)" },
    lr: { kind: "number", default: 3e-4, check: "number > 0", doc: "AdamW learning rate" },
    // PyTorch's AdamW default: the study names the optimizer, not its decay.
    weightDecay: { kind: "number", default: 0.01, check: "number >= 0", doc: "AdamW decoupled weight decay" },
    ...backendFlags
  },
  setup: setupBackend,
  run: (config) =>
    Effect.gen(function* () {
      const backend = tf.getBackend()
      const experiments: Experiment[] = []
      const inputs: InputStats[] = []
      for (const seed of seedList(config)) {
        const circles = (n: number, split: string) =>
          step(makeCircles, { n, noise: config.noise, factor: 0.5, seed: split === "train" ? seed : deriveSeed(seed, `circles/${split}`) })
        const base = {
          train: yield* circles(config.samples, "train"),
          validation: yield* circles(config.heldOut, "validation"),
          test: yield* circles(config.heldOut, "test")
        }
        const raw = yield* mapSplits(base, { kind: "scale", factor: config.rawScale, offset: [config.rawOffset, config.rawOffset] })
        const versions: Record<VersionId, Splits> = {
          raw,
          // Every split standardized with the training split's statistics: nothing learned from held-out points.
          standardized: yield* mapSplits(data(raw), { kind: "standardize", reference: raw.train.data }),
          "scaled down": yield* mapSplits(data(raw), { kind: "scale", factor: 1 / config.scaleDown })
        }
        // One draw per seed, shared by the three versions: Kaiming-normal kernels, then U(±1/√fanIn) biases.
        const kernels = yield* step(initWeights, { model: circleModel, init: defaultInitConfigs.kaimingNormal, seed })
        const initial = yield* step(initBiases, { model: circleModel, weights: kernels, bias: { name: "heuristic" }, seed })
        const trainConfig: TrainConfig = {
          optimizer: { kind: "adamw", momentum: 0, weightDecay: config.weightDecay },
          lr: config.lr,
          schedule: { kind: "constant" },
          epochs: config.epochs,
          batchSize: config.samples,
          seed
        }
        for (const version of versionIds) {
          const splits = versions[version]
          inputs.push({ version, seed, scale: splits.train.scale, shift: splits.train.shift, mean: splits.train.mean, std: splits.train.std })
          const trained = yield* step(train, {
            model: circleModel,
            initial,
            data: splits.train.data,
            validation: splits.validation.data,
            config: trainConfig,
            monitor: monitorFor(config.epochs),
            backend
          })
          const test = yield* step(evaluate, { model: circleModel, weights: trained.weights, data: splits.test.data, backend })
          const grid = yield* step(decisionGrid, { model: circleModel, weights: trained.weights, data: splits.test.data, resolution: 40, points: 300, backend })
          const last = trained.history.at(-1)
          experiments.push({
            id: `${version} · seed ${seed}`,
            version,
            seed,
            testAccuracy: test.accuracy,
            testLoss: test.nonFinite || test.loss < 0 ? null : test.loss,
            diverged: trained.diverged !== null || test.nonFinite,
            divergedAt: trained.diverged ? `epoch ${trained.diverged.epoch + 1}, batch ${trained.diverged.batch}` : null,
            epochs: trained.history.length,
            finalTrainLoss: last?.trainLoss ?? null,
            finalValidationAccuracy: last?.validationAccuracy ?? null,
            stepsToTarget: stepsTo(trained.history, accuracyTarget),
            seconds: trained.seconds,
            history: thinHistory(trained.history, maxHistory),
            initial: trained.initial,
            monitor: trained.monitor,
            decisionGrid: grid
          })
        }
      }
      return { accuracyTarget, inputs, versions: summarize(experiments), experiments }
    }),
  report: (out) => report(out),
  figures: (out) => figures(out),
  headline: (out) => headline(out)
})

type Splits = Record<"train" | "validation" | "test", typeof transformFeatures.output.Type>
const data = (s: Splits) => ({ train: s.train.data, validation: s.validation.data, test: s.test.data })

/** Each split through the same per-feature map (steps/transform-features.ts). */
const mapSplits = (splits: Record<"train" | "validation" | "test", DatasetRef>, transform: FeatureTransform) =>
  Effect.gen(function* () {
    const train = yield* step(transformFeatures, { data: splits.train, transform })
    const validation = yield* step(transformFeatures, { data: splits.validation, transform })
    const test = yield* step(transformFeatures, { data: splits.test, transform })
    return { train, validation, test } satisfies Splits
  })

// ---------------------------------------------------------------------------------------------------------------
// Summaries: plain functions of the records (tested directly).

interface InputStats {
  readonly version: VersionId
  readonly seed: number
  readonly scale: ReadonlyArray<number>
  readonly shift: ReadonlyArray<number>
  readonly mean: ReadonlyArray<number>
  readonly std: ReadonlyArray<number>
}

interface Experiment {
  readonly id: string
  readonly version: VersionId
  readonly seed: number
  readonly testAccuracy: number
  readonly testLoss: number | null
  readonly diverged: boolean
  readonly divergedAt: string | null
  readonly epochs: number
  readonly finalTrainLoss: number | null
  readonly finalValidationAccuracy: number | null
  readonly stepsToTarget: number | null
  readonly seconds: number
  readonly history: ReadonlyArray<EpochRecord>
  readonly initial: { readonly loss: number | null; readonly accuracy: number; readonly expectedLoss: number }
  readonly monitor: ReadonlyArray<LayerSample>
  readonly decisionGrid: typeof decisionGrid.output.Type
}

/** Training steps (1-based: epoch + 1, one step per epoch at full batch) until validation accuracy first reaches `target`; null if never. */
export const stepsTo = (history: ReadonlyArray<Pick<EpochRecord, "epoch" | "validationAccuracy">>, target: number): number | null => {
  const hit = history.find((h) => h.validationAccuracy !== null && h.validationAccuracy >= target)
  return hit === undefined ? null : hit.epoch + 1
}

/** Every k-th record (k = ⌈n / max⌉, from the first) and always the last: at most max + 1 records, in order. */
export const thinHistory = <A>(history: ReadonlyArray<A>, max: number): A[] => {
  const k = Math.ceil(history.length / max)
  return history.filter((_, i) => i % k === 0 || i === history.length - 1)
}

/** Mean of the finite values; null when there are none. */
export const meanOf = (values: ReadonlyArray<number | null>): number | null => {
  const v = values.filter((x): x is number => x !== null && Number.isFinite(x))
  return v.length === 0 ? null : v.reduce((a, b) => a + b, 0) / v.length
}

/** Each layer's kernel-gradient norm at the first monitored step (before any update). */
export const initialGradNorms = (monitor: ReadonlyArray<LayerSample>): Record<string, number | null> => {
  const first = monitor[0]?.step
  return Object.fromEntries(monitor.filter((m) => m.step === first).map((m) => [m.layer, m.gradNorm]))
}

/** Per version, over seeds: initial loss, test accuracy, steps to the target, each layer's initial gradient norm (means). */
export const summarize = (experiments: ReadonlyArray<Experiment>) =>
  versionIds.map((version) => {
    const runs = experiments.filter((e) => e.version === version)
    const layers = [...new Set(runs.flatMap((e) => e.monitor.map((m) => m.layer)))]
    const norms = runs.map((e) => initialGradNorms(e.monitor))
    return {
      version,
      seeds: runs.length,
      initialLoss: meanOf(runs.map((e) => e.initial.loss)),
      testAccuracy: meanOf(runs.map((e) => e.testAccuracy)),
      testAccuracyMin: runs.length === 0 ? null : Math.min(...runs.map((e) => e.testAccuracy)),
      testAccuracyMax: runs.length === 0 ? null : Math.max(...runs.map((e) => e.testAccuracy)),
      finalTrainLoss: meanOf(runs.map((e) => e.finalTrainLoss)),
      reachedTarget: runs.filter((e) => e.stepsToTarget !== null).length,
      stepsToTarget: meanOf(runs.map((e) => e.stepsToTarget)),
      initialGradNorm: Object.fromEntries(layers.map((l) => [l, meanOf(norms.map((n) => n[l] ?? null))]))
    }
  })

type Out = {
  readonly accuracyTarget: number
  readonly inputs: ReadonlyArray<InputStats>
  readonly versions: ReturnType<typeof summarize>
  readonly experiments: ReadonlyArray<Experiment>
}

// ---------------------------------------------------------------------------------------------------------------
// Report, figures, headline.

const pct = (v: number | null) => (v === null ? "–" : `${(100 * v).toFixed(1)} %`)
const num = (v: number | null, digits = 3) => (v === null ? "–" : Math.abs(v) >= 1e4 || (v !== 0 && Math.abs(v) < 1e-3) ? v.toExponential(2) : v.toFixed(digits))

const report = (out: Out): string => {
  const lnC = out.experiments[0]?.initial.expectedLoss ?? Math.log(2)
  const layers = Object.keys(out.versions[0]?.initialGradNorm ?? {})
  const first = (v: VersionId) => out.inputs.find((i) => i.version === v)
  return [
    "## Input scale vs training",
    "",
    `Means over ${out.versions[0]?.seeds ?? 0} seed(s); each seed draws its own circles and initial weights, shared by the three versions. ` +
      `Initial loss: the full training batch before any update, against ln 2 = ${lnC.toFixed(3)} (an uninformative start). ` +
      `Steps to ${pct(out.accuracyTarget)}: the first full-batch step after which validation accuracy reached it (mean over the seeds that did).`,
    "",
    markdownTable(
      ["version", "train x mean / std (first seed)", "train y mean / std (first seed)", "initial loss", "final train loss", `reached ${pct(out.accuracyTarget)}`, "steps to it", "test accuracy (min–max)"],
      out.versions.map((v) => {
        const s = first(v.version)
        const feature = (f: number) => (s === undefined ? "–" : `${num(s.mean[f]!)} / ${num(s.std[f]!)}`)
        return [
          v.version,
          feature(0),
          feature(1),
          num(v.initialLoss),
          num(v.finalTrainLoss, 4),
          `${v.reachedTarget}/${v.seeds}`,
          v.stepsToTarget === null ? "–" : v.stepsToTarget.toFixed(0),
          `${pct(v.testAccuracy)} (${pct(v.testAccuracyMin)}–${pct(v.testAccuracyMax)})`
        ]
      })
    ),
    "",
    `Initial loss ÷ ln 2: ${out.versions.map((v) => `${v.version} ${v.initialLoss === null ? "–" : (v.initialLoss / lnC).toFixed(2)}×`).join(", ")}. ` +
      "With the same weights, a ReLU net's logits scale with its input (up to the biases): large inputs start confidently wrong " +
      "on about half the points; tiny ones leave logits set by the biases alone, the same for every point.",
    "",
    "## Kernel-gradient norm per layer at the first step",
    "",
    "The norm of the loss gradient with respect to each layer's kernel on the first full batch (mean over seeds): " +
      "the first layer's gradient scales with its input, the classifier's with the hidden activations (themselves proportional to the input scale under ReLU).",
    "",
    markdownTable(["version", ...layers], out.versions.map((v) => [v.version, ...layers.map((l) => num(v.initialGradNorm[l] ?? null, 4))])),
    "",
    "## Every run",
    "",
    markdownTable(
      ["run", "initial loss", "final train loss", "final validation accuracy", "test accuracy", "steps to target", "diverged", "train seconds"],
      out.experiments.map((e) => [
        e.id,
        num(e.initial.loss),
        num(e.finalTrainLoss, 4),
        pct(e.finalValidationAccuracy),
        pct(e.testAccuracy),
        e.stepsToTarget ?? "never",
        e.diverged ? `yes (${e.divergedAt})` : "no",
        e.seconds.toFixed(1)
      ])
    )
  ].join("\n")
}

/** Loss and accuracy per step, a panel per version, a line per seed, training solid and validation dashed. */
const curves = (experiments: ReadonlyArray<Experiment>): Figure => {
  const seeds = [...new Set(experiments.map((e) => String(e.seed)))]
  const rows = (metric: (h: EpochRecord) => readonly [number | null, number | null], scale: number) =>
    experiments.flatMap((e) =>
      e.history.flatMap((h) => {
        const [t, v] = metric(h)
        return [
          { x: h.epoch + 1, y: t === null ? null : scale * t, series: String(e.seed), dash: "training", facet: e.version },
          { x: h.epoch + 1, y: v === null ? null : scale * v, series: String(e.seed), dash: "validation", facet: e.version }
        ]
      })
    )
  const common = {
    x: { title: "step (full batch)" },
    series: { title: "seed", order: seeds },
    dash: { title: "split", order: ["training", "validation"] },
    facet: { title: "version", columns: 3, order: [...versionIds] },
    points: false,
    width: 220,
    height: 150
  }
  return figure(
    {
      id: "curves",
      title: "Loss and accuracy per version",
      caption:
        "Per full-batch step: cross-entropy (log scale) and accuracy on the training points (solid; before that step's update) " +
        "and on the held-out validation points after it (dashed). One panel per version, one colour per seed." +
        (experiments.some((e) => e.history.length < e.epochs) ? ` Long runs are drawn at every k-th step (at most ${maxHistory} per line).` : "")
    },
    lineChart(rows((h) => [h.trainLoss, h.validationLoss], 1), { ...common, y: { title: "loss (log)", log: true } }),
    lineChart(rows((h) => [h.trainAccuracy, h.validationAccuracy], 100), { ...common, y: { title: "accuracy (%)" } })
  )
}

/** The first seed's decision maps, a panel per version, each on its own axes (raw and scaled down differ by the --scale-down factor). */
const boundaries = (experiments: ReadonlyArray<Experiment>): Figure[] => {
  const seed = experiments[0]?.seed
  const shown = experiments.filter((e) => e.seed === seed)
  if (shown.length === 0) return []
  const half = (c: ReadonlyArray<number>) => (c.length > 1 ? (c[1]! - c[0]!) / 2 : 0.5)
  const chart = decisionMap(
    shown.map(({ version, decisionGrid: g }) => ({
      panel: version,
      cells: g.probability.map((p, i) => ({ x: g.xs[i % g.xs.length]!, y: g.ys[Math.floor(i / g.xs.length)]!, p })),
      half: { x: half(g.xs), y: half(g.ys) },
      points: g.points.map((p) => ({ x: p.x, y: p.y, label: p.label, positive: p.class === 1 }))
    })),
    { probability: "P(inner)", label: "class", columns: 3 }
  )
  const g = shown[0]!.decisionGrid
  return [
    figure(
      {
        id: "decision-boundaries",
        title: `Decision boundaries after training (seed ${seed})`,
        caption:
          `Each version's trained network: P(inner) on a ${g.xs.length} × ${g.ys.length} grid over its test points' extent ` +
          `(white at 0.5: the boundary), with ${g.points.length} test points. Each panel is in its version's own coordinates.`
      },
      { ...chart, spec: { ...chart.spec, resolve: { scale: { x: "independent", y: "independent" } } } }
    )
  ]
}

const figures = (out: Out): Figure[] => {
  // Panels ordered seed by seed, version by version: with 3 columns, a row per seed and a column per version.
  const ordered = [...out.experiments].sort((a, b) => a.seed - b.seed || versionIds.indexOf(a.version) - versionIds.indexOf(b.version))
  return [
    ...initialLossFigure(ordered),
    curves(ordered),
    ...monitorFigures(ordered).filter((f) => f.id === "monitor-gradient-norm"),
    ...boundaries(ordered)
  ]
}

const headline = (out: Out): Headline[] =>
  out.versions.flatMap((v) => [
    { label: `${v.version} initial loss (ln 2 = 0.693)`, value: v.initialLoss },
    { label: `${v.version} test accuracy`, value: v.testAccuracy === null ? null : 100 * v.testAccuracy, unit: "%" }
  ])

if (import.meta.main) runMain(circleNormalization)
