/** Report sections the LW pipelines share: the experiment table and the per-layer evidence. */
import { markdownTable } from "../../shared/engine/report.ts"
import type { TrainOutcome } from "./experiment.ts"

export type ExperimentRow = { readonly id: string } & TrainOutcome

export interface LayerStatsRow {
  readonly name: string
  readonly outputMean: number | null
  readonly outputVar: number | null
  readonly activationMean: number | null
  readonly activationVar: number | null
}

const num = (x: number | null, digits = 3) => (x === null ? "NaN/Inf" : x.toFixed(digits))

export const experimentTable = (rows: ReadonlyArray<ExperimentRow>) =>
  markdownTable(
    ["experiment", "test accuracy", "test loss", "diverged", "epochs", "train time"],
    rows.map((r) => [
      r.id,
      r.diverged ? `${(100 * r.testAccuracy).toFixed(2)} % (diverged)` : `${(100 * r.testAccuracy).toFixed(2)} %`,
      r.testLoss < 0 ? "NaN/Inf" : r.testLoss.toFixed(4),
      r.diverged ? `yes${r.divergedAt ? ` (${r.divergedAt})` : ""}` : "no",
      r.epochs,
      `${r.seconds.toFixed(1)} s`
    ])
  )

/** Per layer, on held-out data: output mean (target 0) and activation variance (target 1), plus the other two. */
export const layerStatsTable = (stats: ReadonlyArray<LayerStatsRow>) =>
  markdownTable(
    ["layer", "output mean (→ 0)", "activation variance (→ 1)", "output variance", "activation mean"],
    stats.map((s) => [s.name, num(s.outputMean), num(s.activationVar), num(s.outputVar), num(s.activationMean)])
  )
