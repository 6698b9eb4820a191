/**
 * The figures the pipelines share, from what their experiments return (pipelines/lib/experiment.ts): training and
 * validation curves, LW's per-layer loss curves, per-layer statistics across depth at the start and during training,
 * the initial loss against ln C, test accuracy — and the headline numbers. Each takes plain rows and returns a
 * `Figure` (shared/report/charts.ts draws nothing itself: it builds Vega-Lite specs; shared/report/ renders them).
 */
import type { Figure, Headline } from "../../shared/engine/pipeline.ts"
import { type Chart, type LinePoint, barChart, decisionMap, dotChart, figure, lineChart } from "../../shared/report/charts.ts"
import type { EpochRecord, InitialRecord, LayerSample } from "../../steps/train.ts"
import type { LayerStatsRow } from "./report.ts"

/** What a figure needs of an experiment; every training field is optional (a pipeline may not record it). */
export interface ExperimentFigureRow {
  readonly id: string
  readonly testAccuracy: number
  readonly history?: ReadonlyArray<EpochRecord>
  readonly initial?: InitialRecord | null
  readonly monitor?: ReadonlyArray<LayerSample>
  readonly lwLayers?: ReadonlyArray<{ readonly layer: string; readonly curve?: ReadonlyArray<{ readonly meanLoss: number | null; readonly varLoss: number | null }> }>
}

/** A figure id from free text ("LW (no BN)" → "lw-no-bn"): letters, digits and dashes. */
export const figureSlug = (text: string): string =>
  text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-|-$/g, "") || "x"

const ids = (rows: ReadonlyArray<{ readonly id: string }>) => rows.map((r) => r.id)

/** Loss and accuracy per epoch, training (solid) and validation (dashed), every experiment on the same axes. */
export const trainingCurves = (experiments: ReadonlyArray<ExperimentFigureRow>): Figure[] => {
  const withHistory = experiments.filter((e) => (e.history?.length ?? 0) > 0)
  if (withHistory.length === 0) return []
  const rows = (metric: (h: EpochRecord) => readonly [number | null, number | null], scale = 1): LinePoint[] =>
    withHistory.flatMap((e) =>
      e.history!.flatMap((h) => {
        const [train, validation] = metric(h)
        return [
          { x: h.epoch + 1, y: train === null ? null : scale * train, series: e.id, dash: "training" },
          ...(h.validationLoss === null && h.validationAccuracy === null
            ? []
            : [{ x: h.epoch + 1, y: validation === null ? null : scale * validation, series: e.id, dash: "validation" }])
        ]
      })
    )
  const common = { x: { title: "epoch" }, series: { title: "experiment", order: ids(withHistory) }, dash: { title: "split", order: ["training", "validation"] } }
  const loss = lineChart(rows((h) => [h.trainLoss, h.validationLoss]), { ...common, y: { title: "loss (log)", log: true } })
  const accuracy = lineChart(rows((h) => [h.trainAccuracy, h.validationAccuracy], 100), { ...common, y: { title: "accuracy (%)" } })
  return [
    figure(
      {
        id: "training-curves",
        title: "Training and validation curves",
        caption:
          "Per epoch: mean cross-entropy loss (log scale) and accuracy, on the training split (solid; averaged over " +
          "the epoch's batches as they trained) and on the validation split after the epoch (dashed)."
      },
      loss,
      accuracy
    )
  ]
}

/** LW's per-epoch loss terms (mean and variance, log scale), one panel per learned layer; one figure per experiment. */
export const lwCurves = (experiments: ReadonlyArray<ExperimentFigureRow>): Figure[] =>
  uniqueIds(experiments.flatMap((e) => {
    const layers = (e.lwLayers ?? []).filter((l) => (l.curve?.length ?? 0) > 0)
    if (layers.length === 0) return []
    const points = layers.flatMap((l) =>
      l.curve!.flatMap((c, k) => [
        { x: k + 1, y: c.meanLoss, series: "mean term", facet: l.layer },
        { x: k + 1, y: c.varLoss, series: "variance term", facet: l.layer }
      ])
    )
    const columns = layers.length <= 4 ? layers.length : layers.length <= 9 ? 3 : 5
    return [
      figure(
        {
          id: `lw-curves-${figureSlug(e.id)}`,
          title: `LW loss per layer: ${e.id}`,
          caption:
            `${e.id}: for each of the ${layers.length} layers LW learned, in forward order, the mean term and the ` +
            "variance term of its loss per LW epoch (log scale), on the LW batch. Panels share their axes."
        },
        lineChart(points, {
          x: { title: "LW epoch" },
          y: { title: "loss term (log)", log: true },
          series: { title: "term", order: ["mean term", "variance term"] },
          facet: { title: "layer", columns, order: layers.map((l) => l.layer) },
          ...(layers.length > 9 ? { width: 130, height: 90 } : {}),
          points: false
        })
      )
    ]
  }))

/** Ids made from experiment names can meet ("a b" and "a-b"): the later ones get -2, -3, ... */
const uniqueIds = (figures: ReadonlyArray<Figure>): Figure[] => {
  const seen = new Map<string, number>()
  return figures.map((f) => {
    const n = (seen.get(f.id) ?? 0) + 1
    seen.set(f.id, n)
    return n === 1 ? f : { ...f, id: `${f.id}-${n}` }
  })
}

/**
 * Per layer in forward order, at the start of training (validation split): activation variance (log scale, target 1)
 * and output mean (target 0), one line per experiment.
 */
export const layerStatsAcrossDepth = (byExperiment: Readonly<Record<string, ReadonlyArray<LayerStatsRow>>>, what: string): Figure[] => {
  const entries = Object.entries(byExperiment).filter(([, rows]) => rows.length > 0)
  if (entries.length === 0) return []
  const order = [...new Set(entries.flatMap(([, rows]) => rows.map((r) => r.name)))]
  const points = (stat: (r: LayerStatsRow) => number | null) =>
    entries.flatMap(([id, rows]) => rows.map((r) => ({ x: r.name, y: stat(r), series: id })))
  const common = { x: { title: "layer (forward order)", order }, series: { title: "experiment", order: entries.map(([id]) => id) } }
  // Means within ±10 read on a linear axis; a blown-up start (means of 1e20) would flatten every other line to 0,
  // so then the axis shows |mean| on a log scale.
  const means = entries.flatMap(([, rows]) => rows.map((r) => r.outputMean)).filter((m): m is number => m !== null && Number.isFinite(m))
  const wide = means.some((m) => Math.abs(m) > 10)
  const meanChart = wide
    ? lineChart(points((r) => (r.outputMean === null ? null : Math.abs(r.outputMean))), { ...common, y: { title: "|output mean| (log)", log: true } })
    : lineChart(points((r) => r.outputMean), { ...common, y: { title: "output mean" } })
  return [
    figure(
      {
        id: "layer-stats-depth",
        title: "Per-layer statistics across depth at the start of training",
        caption:
          `${what} Top: each layer's activation variance (log scale; LW's target is 1). Bottom: each layer's output ` +
          `mean (LW's target is 0)${wide ? ", as its absolute value on a log scale since some reach beyond ±10" : ""}. ` +
          "One line per experiment; the last layer is the classifier (its logits)."
      },
      lineChart(points((r) => r.activationVar), { ...common, y: { title: "activation variance (log)", log: true } }),
      meanChart
    )
  ]
}

const monitorStats = [
  {
    key: "activationMean",
    id: "monitor-activation-mean",
    title: "Activation mean per layer during training",
    axis: "activation mean",
    log: false,
    what: "each layer's activation mean"
  },
  {
    key: "activationVar",
    id: "monitor-activation-variance",
    title: "Activation variance per layer during training",
    axis: "activation variance (log)",
    log: true,
    what: "each layer's activation variance"
  },
  {
    key: "deadShare",
    id: "monitor-dead-units",
    title: "Dead-unit share per layer during training",
    axis: "dead units (share)",
    log: false,
    what: "the share of each layer's units whose activation is constant over the batch (dead)"
  },
  {
    key: "gradNorm",
    id: "monitor-gradient-norm",
    title: "Gradient norm per layer during training",
    axis: "kernel gradient norm (log)",
    log: true,
    what: "the norm of the loss gradient w.r.t. each layer's kernel"
  }
] as const

/**
 * Drawing time grows with points (about 1 s per figure per theme at a full resnet-nobn run's 188 samples × 21 layers
 * × 5 experiments): a line of ~60 points shows the trend as well at a panel's 220 px.
 */
const maxMonitorPoints = 60

/** The sampled steps to draw: every k-th so that at most `maxMonitorPoints` remain, the last one always. */
const thinSteps = (steps: ReadonlyArray<number>): ReadonlySet<number> => {
  const distinct = [...new Set(steps)].sort((a, b) => a - b)
  const k = Math.ceil(distinct.length / maxMonitorPoints)
  return new Set(distinct.filter((_, i) => i % k === 0 || i === distinct.length - 1))
}

export type MonitorStat = (typeof monitorStats)[number]["key"]

/**
 * The training monitor's samples: one figure per statistic, a panel per experiment, a line per layer coloured by
 * depth. By default variance, dead units and gradient norm; `stats` picks others (the activation mean).
 */
export const monitorFigures = (
  experiments: ReadonlyArray<ExperimentFigureRow>,
  stats: ReadonlyArray<MonitorStat> = ["activationVar", "deadShare", "gradNorm"]
): Figure[] => {
  const monitored = experiments.filter((e) => (e.monitor?.length ?? 0) > 0)
  if (monitored.length === 0) return []
  return monitorStats.filter((s) => stats.includes(s.key)).map((s) => {
    const charts: Chart[] = []
    const points = monitored.flatMap((e) => {
      const layers = [...new Set(e.monitor!.map((m) => m.layer))]
      const kept = thinSteps(e.monitor!.map((m) => m.step))
      return e.monitor!.filter((m) => kept.has(m.step)).map((m) => ({ x: m.step, y: m[s.key], series: m.layer, depth: layers.indexOf(m.layer), facet: e.id }))
    })
    const thinned = monitored.some((e) => thinSteps(e.monitor!.map((m) => m.step)).size < new Set(e.monitor!.map((m) => m.step)).size)
    charts.push(
      lineChart(points, {
        x: { title: "training step" },
        y: { title: s.axis, log: s.log, ...(s.key === "deadShare" ? { domain: [0, 1] as const } : {}) },
        byDepth: { title: "layer depth (0 = first)" },
        facet: { title: "experiment", columns: Math.min(monitored.length, 3), order: ids(monitored) },
        points: false,
        width: 220,
        height: 140
      })
    )
    const first = monitored[0]!.monitor!
    const blank = monitored.filter((e) => e.monitor!.every((m) => m[s.key] === null || !Number.isFinite(m[s.key]!)))
    return figure(
      {
        id: s.id,
        title: s.title,
        caption:
          `Sampled during training on that step's training batch, before its update: ${s.what}${s.log ? " (log scale)" : ""}. ` +
          `One panel per experiment (shared axes), one line per conv/dense layer coloured by depth, from ${first[0]!.layer} (0) ` +
          "to the classifier." +
          (thinned ? ` At most ${maxMonitorPoints} sampled steps per line are drawn, evenly spaced (results.json has them all).` : "") +
          (blank.length > 0 ? ` No panel for ${blank.map((e) => e.id).join(", ")}: every value was NaN/Inf.` : "")
      },
      ...charts
    )
  })
}

/** The first batch's loss before any update, per experiment, against ln C (an uninformative start's loss). */
export const initialLossFigure = (experiments: ReadonlyArray<ExperimentFigureRow>): Figure[] => {
  const withInitial = experiments.filter((e) => e.initial != null)
  if (withInitial.length === 0) return []
  const lnC = withInitial[0]!.initial!.expectedLoss
  return [
    figure(
      {
        id: "initial-loss",
        title: "Initial loss against ln C",
        caption:
          `Each experiment's loss on its first training batch, before any update (log scale), against ln C = ${lnC.toFixed(3)}, ` +
          "the loss of a network that predicts every class equally: far above it, the logits start too large."
      },
      dotChart(
        withInitial.map((e) => ({ category: e.id, value: e.initial!.loss })),
        { value: { title: "initial loss (log)", log: true }, category: { title: "experiment" }, reference: { value: lnC, label: `ln C = ${lnC.toFixed(2)}` } }
      )
    )
  ]
}

export const testAccuracyFigure = (experiments: ReadonlyArray<ExperimentFigureRow>): Figure[] =>
  experiments.length === 0
    ? []
    : [
        figure(
          { id: "test-accuracy", title: "Test accuracy", caption: "Each experiment's accuracy on the test split after training." },
          barChart(
            experiments.map((e) => ({ category: e.id, value: 100 * e.testAccuracy })),
            { value: { title: "test accuracy (%)", domain: [0, 100], format: ".1f" }, category: { title: "experiment" } }
          )
        )
      ]

/** steps/decision-grid.ts's output. */
interface DecisionGridRow {
  readonly xs: ReadonlyArray<number>
  readonly ys: ReadonlyArray<number>
  readonly probability: ReadonlyArray<number | null>
  readonly points: ReadonlyArray<{ readonly x: number; readonly y: number; readonly label: string; readonly class: number }>
}

/** A 2-D classifier's decision map per experiment (steps/decision-grid.ts), the data's points on top. */
export const decisionBoundaries = (
  experiments: ReadonlyArray<{ readonly id: string; readonly decisionGrid: DecisionGridRow }>,
  probability: string
): Figure[] => {
  const halfStep = (centres: ReadonlyArray<number>) => (centres.length > 1 ? (centres[1]! - centres[0]!) / 2 : 0.5)
  const first = experiments[0]?.decisionGrid
  if (first === undefined) return []
  return [
    figure(
      {
        id: "decision-boundaries",
        title: "Decision boundaries after training",
        caption:
          `Each network's predicted ${probability} on a ${first.xs.length} × ${first.ys.length} grid over the data's extent ` +
          `(white at 0.5: the decision boundary), with ${first.points.length} of the data's points (class by shape and colour).`
      },
      decisionMap(
        experiments.map(({ id, decisionGrid: g }) => ({
          panel: id,
          cells: g.probability.map((p, i) => ({ x: g.xs[i % g.xs.length]!, y: g.ys[Math.floor(i / g.xs.length)]!, p })),
          half: { x: halfStep(g.xs), y: halfStep(g.ys) },
          points: g.points.map((p) => ({ x: p.x, y: p.y, label: p.label, positive: p.class === 1 }))
        })),
        { probability, label: "class", columns: Math.min(3, experiments.length) }
      )
    )
  ]
}

/** Every shared figure an LW pipeline's results support. */
export const experimentFigures = (
  experiments: ReadonlyArray<ExperimentFigureRow>,
  layerStats?: { readonly byExperiment: Readonly<Record<string, ReadonlyArray<LayerStatsRow>>>; readonly what: string }
): Figure[] => [
  ...testAccuracyFigure(experiments),
  ...trainingCurves(experiments),
  ...initialLossFigure(experiments),
  ...(layerStats ? layerStatsAcrossDepth(layerStats.byExperiment, layerStats.what) : []),
  ...monitorFigures(experiments),
  ...lwCurves(experiments)
]

/** The run index's numbers: each experiment's test accuracy. */
export const accuracyHeadline = (experiments: ReadonlyArray<{ readonly id: string; readonly testAccuracy: number; readonly diverged?: boolean }>): Headline[] =>
  experiments.map((e) => ({
    label: `${e.id} test accuracy${e.diverged ? " (diverged)" : ""}`,
    value: Number.isFinite(e.testAccuracy) ? 100 * e.testAccuracy : null,
    unit: "%"
  }))
