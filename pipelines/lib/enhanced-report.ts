/**
 * enhanced-init's summaries over seeds (the numbers results.json and the README quote), its report section, figures
 * and headline. Plain functions of the pipeline's runs (pipelines/enhanced-init.ts).
 */
import type { Figure, Headline } from "../../shared/engine/pipeline.ts"
import { markdownTable } from "../../shared/engine/report.ts"
import { varianceLaws } from "../../shared/init/enhanced.ts"
import type { InitConfig } from "../../shared/init/initializers.ts"
import { figure, lineChart } from "../../shared/report/charts.ts"
import type { TrainOutcome } from "./experiment.ts"
import { initialLossFigure, monitorFigures, testAccuracyFigure, trainingCurves } from "./figures.ts"
import { type MeanSd, meanSd, numSd, pctSd } from "./over-seeds.ts"

type Run = TrainOutcome & { readonly id: string; readonly init: string; readonly seed: number }
type Plan = ReadonlyArray<{ readonly id: string; readonly base: string | null }>

/** Per init over seeds (test accuracy, validation accuracy per epoch); per enhanced init its ratio to its base. */
export const summarize = (plan: Plan, runs: ReadonlyArray<Run>, ratioEpochs: number) => {
  const of = (id: string) => runs.filter((r) => r.init === id)
  const epochs = Math.max(0, ...runs.map((r) => r.history.length))
  const valAt = (r: Run, e: number) => r.history[e]?.validationAccuracy ?? null
  const summary = plan.map((p) => ({
    id: p.id,
    testAccuracy: meanSd(of(p.id).map((r) => (r.diverged ? null : r.testAccuracy))),
    diverged: of(p.id).filter((r) => r.diverged).length,
    validationAccuracy: Array.from({ length: epochs }, (_, e) => meanSd(of(p.id).map((r) => valAt(r, e))))
  }))
  const ratios = plan.flatMap((p) => {
    if (p.base === null) return []
    const enhanced = of(p.id)
    const base = of(p.base)
    const mine = summary.find((s) => s.id === p.id)!
    const theirs = summary.find((s) => s.id === p.base)!
    const perEpoch = Array.from({ length: Math.min(ratioEpochs, epochs) }, (_, e) => {
      const [a, b] = [mine.validationAccuracy[e]!.mean, theirs.validationAccuracy[e]!.mean]
      const paired = enhanced.map((r) => {
        const twin = base.find((t) => t.seed === r.seed)
        const [x, y] = [valAt(r, e), twin === undefined ? null : valAt(twin, e)]
        return x === null || y === null || y === 0 ? null : x / y
      })
      return { epoch: e + 1, ratioOfMeans: a === null || b === null || b === 0 ? null : a / b, paired: meanSd(paired) }
    })
    return [{ id: p.id, base: p.base, perEpoch }]
  })
  return { summary, ratios }
}

type Summary = ReturnType<typeof summarize>
interface Histogram {
  readonly id: string
  readonly layers: number
  readonly filters: number
  readonly mean: number
  readonly variance: number
  readonly bins: ReadonlyArray<{ readonly low: number; readonly high: number; readonly density: number }>
  readonly above: number
  readonly ks: number | null
}
interface Out extends Summary {
  readonly setup: {
    readonly dataset: string
    readonly model: string
    readonly trainSamples: number
    readonly validationSamples: number
    readonly testSamples: number
    readonly seeds: ReadonlyArray<number>
    readonly ratioEpochs: number
  }
  readonly inits: ReadonlyArray<{ readonly id: string; readonly init: InitConfig; readonly base: string | null }>
  readonly runs: ReadonlyArray<Run>
  readonly filterVariances: ReadonlyArray<Histogram>
}

const ratio = (m: MeanSd) => numSd(m, 3)

/** The law an init's filter variances follow, when it has one drawn per filter. */
const lawOf = (init: InitConfig) => (init.name === "enhanced" && (init.per ?? "filter") === "filter" ? init.law ?? "gamma" : undefined)

export const enhancedReport = (out: Out, config: { readonly epochs: number; readonly lr: number; readonly batch: number; readonly weightDecay: number }): string => {
  const { setup } = out
  const epochs = out.summary[0]?.validationAccuracy.length ?? 0
  return [
    "## Setup",
    "",
    `${setup.model} on ${setup.dataset}: ${setup.trainSamples} training, ${setup.validationSamples} validation (accuracy per epoch), ` +
      `${setup.testSamples} test images; ${config.epochs} epochs, SGD lr ${config.lr} momentum 0.9 weight decay ${config.weightDecay}, ` +
      `batch ${config.batch}; seeds ${setup.seeds.join(", ")} (a seed draws the init and orders the batches; every init of a seed sees the same batches). ` +
      "Every conv and the classifier take the init; BN starts at γ = 1, β = 0.",
    "",
    "## Accuracy over seeds (mean ± sample sd)",
    "",
    markdownTable(
      ["init", "test accuracy", "diverged", ...Array.from({ length: epochs }, (_, e) => `validation, epoch ${e + 1}`)],
      out.summary.map((s) => [s.id, pctSd(s.testAccuracy), `${s.diverged}/${setup.seeds.length}`, ...s.validationAccuracy.map(pctSd)])
    ),
    "",
    `## Enhanced / base validation accuracy over the first ${Math.min(setup.ratioEpochs, epochs)} epoch(s)`,
    "",
    "Ratio of the seeds' mean validation accuracies, and the mean ± sd of the per-seed ratios (same seed: same batches). " +
      "Above 1: the enhanced init is ahead.",
    "",
    markdownTable(
      ["enhanced", "base", ...out.ratios[0]!.perEpoch.map((p) => `epoch ${p.epoch}: ratio of means / per seed`)],
      out.ratios.map((r) => [r.id, r.base, ...r.perEpoch.map((p) => `${p.ratioOfMeans?.toFixed(3) ?? "–"} / ${ratio(p.paired)}`)])
    ),
    "",
    "## The initial draw's filter variances (first seed)",
    "",
    "Every conv filter's sample variance over its layer's σ² (the base init's per-weight variance), pooled over the conv " +
      "layers. χ²₁ (the gamma law) has mean 1 and variance 2; 3U² (the uniform law) mean 1 and variance 0.8; a base init " +
      "puts every filter near 1 (its sample noise only). KS: the Kolmogorov–Smirnov distance to the init's law.",
    "",
    markdownTable(
      ["init", "conv layers", "filters", "mean", "variance", "beyond 6", "KS to its law"],
      out.filterVariances.map((h) => [h.id, h.layers, h.filters, h.mean.toFixed(3), h.variance.toFixed(3), `${(100 * h.above).toFixed(1)} %`, h.ks?.toFixed(3) ?? "–"])
    ),
    "",
    "The enhanced-initialization paper's own accuracy figures are not quoted here (not known to this repository); the " +
      "variants follow its reference implementation (shared/init/enhanced.ts)."
  ].join("\n")
}

export const enhancedFigures = (out: Out): Figure[] => {
  const ids = out.summary.map((s) => s.id)
  const firstSeed = out.runs.filter((r) => r.seed === out.setup.seeds[0])
  const accuracy = out.summary.flatMap((s) =>
    s.validationAccuracy.map((m, e) => ({ x: e + 1, y: m.mean === null ? null : 100 * m.mean, series: s.id }))
  )
  const ratios = out.ratios.flatMap((r) => r.perEpoch.map((p) => ({ x: p.epoch, y: p.ratioOfMeans, series: r.id })))
  const histogramPoints = out.filterVariances.flatMap((h) => {
    const law = lawOf(out.inits.find((i) => i.id === h.id)!.init)
    return h.bins.flatMap((b) => {
      const x = (b.low + b.high) / 2
      return [
        { x, y: b.density, series: "draw", dash: "draw", facet: h.id },
        ...(law === undefined ? [] : [{ x, y: varianceLaws[law].density(x), series: law === "gamma" ? "χ²₁ law" : "3U² law", dash: "law", facet: h.id }])
      ]
    })
  })
  return [
    figure(
      {
        id: "validation-accuracy",
        title: "Validation accuracy per epoch, mean over seeds",
        caption: `Each init's validation accuracy after each epoch, the mean over seeds ${out.setup.seeds.join(", ")} (results.json has every run).`
      },
      lineChart(accuracy, { x: { title: "epoch" }, y: { title: "validation accuracy (%)" }, series: { title: "init", order: ids } })
    ),
    figure(
      {
        id: "enhanced-ratio",
        title: "Enhanced / base validation accuracy over the first epochs",
        caption: "Each enhanced init's mean validation accuracy over its base's (Kaiming normal or uniform), per epoch; above 1 the enhanced init is ahead."
      },
      lineChart(ratios, { x: { title: "epoch" }, y: { title: "enhanced / base" }, series: { title: "enhanced init", order: out.ratios.map((r) => r.id) } })
    ),
    figure(
      {
        id: "filter-variance-histograms",
        title: "Filter variances of the initial draw",
        caption:
          "Per init (first seed): the density of every conv filter's variance over its layer's σ², pooled over the conv layers " +
          "(filters beyond 6 are left out: the table gives their share); dashed, the law an enhanced-per-filter init draws " +
          "from. Per kh×kw slice, a filter averages its input channels' slices and concentrates near 1."
      },
      lineChart(histogramPoints, {
        x: { title: "filter variance / σ²" },
        y: { title: "density" },
        series: { title: "curve", order: ["draw", "χ²₁ law", "3U² law"] },
        dash: { title: "kind", order: ["draw", "law"] },
        facet: { title: "init", columns: Math.min(3, out.filterVariances.length), order: ids },
        points: false
      })
    ),
    ...testAccuracyFigure(out.runs),
    ...trainingCurves(firstSeed),
    ...initialLossFigure(out.runs),
    ...monitorFigures(firstSeed)
  ]
}

export const enhancedHeadline = (out: Out): Headline[] => [
  ...out.summary.map((s) => ({
    label: `${s.id}: test accuracy, mean of ${s.testAccuracy.n} seed(s)`,
    value: s.testAccuracy.mean === null ? null : 100 * s.testAccuracy.mean,
    unit: "%"
  })),
  ...out.ratios.map((r) => ({ label: `${r.id} / ${r.base}: validation accuracy after epoch 1`, value: r.perEpoch[0]?.ratioOfMeans ?? null }))
]
