/** Report sections the LW pipelines share: where each figure comes from, the experiment table, the per-layer evidence. */
import { markdownTable } from "../../shared/engine/report.ts"
import type { DataSplits, TrainOutcome } from "./experiment.ts"

/** `lwSeconds`: the time LW took to learn the init (null when some layer's time was not recorded). */
export type ExperimentRow = { readonly id: string; readonly lwSeconds?: number | null } & TrainOutcome

export interface LayerStatsRow {
  readonly name: string
  readonly outputMean: number | null
  readonly outputVar: number | null
  readonly activationMean: number | null
  readonly activationVar: number | null
}

const num = (x: number | null, digits = 3) =>
  x === null ? "NaN/Inf" : Math.abs(x) >= 1e5 ? x.toExponential(2) : x.toFixed(digits)

export const experimentTable = (rows: ReadonlyArray<ExperimentRow>) =>
  markdownTable(
    ["experiment", "test accuracy", "test loss", "diverged", "epochs", "train time", "LW time (share of training)"],
    rows.map((r) => [
      r.id,
      r.diverged ? `${(100 * r.testAccuracy).toFixed(2)} % (diverged)` : `${(100 * r.testAccuracy).toFixed(2)} %`,
      r.testLoss === null ? "NaN/Inf" : r.testLoss.toFixed(4),
      r.diverged ? `yes${r.divergedAt ? ` (${r.divergedAt})` : ""}` : "no",
      r.epochs,
      `${r.seconds.toFixed(1)} s`,
      typeof r.lwSeconds === "number" ? `${r.lwSeconds.toFixed(1)} s (${((100 * r.lwSeconds) / r.seconds).toFixed(1)} %)` : "–"
    ])
  )

/** Which data each figure comes from (results.json `splits`), in one paragraph. */
export const splitsNote = (s: DataSplits): string =>
  [
    `Data: networks train on ${s.training.count} training images; LW learns each layer on ${s.lwBatch.count} of them.`,
    `The per-layer evidence is measured on ${s.evidence.count} validation images, carved out of the training split`,
    `before training: no network trains or learns LW on them. Test accuracy and loss are on ${s.accuracy.count} test`,
    "images, used for nothing else."
  ].join("\n")

/** The evidence section's heading: which statistics, when, and on which split. */
export const evidenceHeading = (s: DataSplits, what: string): string =>
  `## Evidence: ${what}, on ${s.evidence.count} held-out validation images (from the training split, never trained on)`

/** Per layer, on the validation split: output mean (target 0) and activation variance (target 1), plus the other two. */
export const layerStatsTable = (stats: ReadonlyArray<LayerStatsRow>) =>
  markdownTable(
    ["layer", "output mean (→ 0)", "activation variance (→ 1)", "output variance", "activation mean"],
    stats.map((s) => [s.name, num(s.outputMean), num(s.activationVar), num(s.outputVar), num(s.activationMean)])
  )

/**
 * What the per-layer statistics say, in words, from the numbers themselves: how far the validation activation variance
 * drifts from its target across depth, and what that means for the logits the network starts training from.
 */
export const layerStatsVerdict = (stats: ReadonlyArray<LayerStatsRow>): string => {
  const inner = stats.slice(0, -1) // the classifier keeps a standard init
  const vars = inner.map((s) => s.activationVar)
  if (vars.length === 0) return ""
  const overflow = inner.find((s) => s.activationVar === null)
  if (overflow !== undefined) {
    return `From ${overflow.name} on, the validation activations are NaN/Inf: the signal overflows float32 before training starts.`
  }
  const v = vars as number[]
  const worst = inner.reduce((a, s) => (Math.abs(Math.log(s.activationVar!)) > Math.abs(Math.log(a.activationVar!)) ? s : a))
  const within = v.filter((x) => Math.abs(x - 1) <= 0.25).length
  const logits = stats.at(-1)
  return [
    `Validation activation variance: ${num(v[0]!)} at the first layer, ${num(v.at(-1)!)} at the last before the classifier; ` +
      `${within} of ${v.length} layers within ±0.25 of the target 1; furthest: ${worst.name} (${num(worst.activationVar)}).`,
    logits && logits.outputVar !== null
      ? `The logits start with variance ${num(logits.outputVar)} (a well-scaled start is ≲ 1): ` +
        (logits.outputVar > 10
          ? "an initial loss far above −log(1/C), large gradients, and SGD steps big enough to diverge."
          : "a reasonable start for training.")
      : ""
  ].join("\n")
}

/** One section per experiment: its per-layer table and what the numbers say (report lines). */
export const layerStatsSections = (byExperiment: Readonly<Record<string, ReadonlyArray<LayerStatsRow>>>): string[] =>
  Object.entries(byExperiment).flatMap(([id, stats]) => [`### ${id}`, "", layerStatsTable(stats), "", layerStatsVerdict(stats), ""])
