/**
 * Figures over seeds: mean and sample standard deviation, in words ("89.78 ± 0.21 %"), and the per-row summary of a
 * pipeline whose rows are each trained once per seed (resnet-nobn, lenet-init-grid with `--seeds N`): results.json's
 * `overSeeds`, its report table and its figure. The study pipelines (enhanced-init, dropout-ensemble, wib-relu) use
 * the same `meanSd`.
 */
import type { Figure, Headline } from "../../shared/engine/pipeline.ts"
import { markdownTable } from "../../shared/engine/report.ts"
import { dotChart, figure } from "../../shared/report/charts.ts"
import type { TrainOutcome } from "./experiment.ts"

export interface MeanSd {
  readonly mean: number | null
  readonly sd: number | null
  readonly n: number
}

/** Mean and sample standard deviation of the finite values (sd null below two). */
export const meanSd = (values: ReadonlyArray<number | null | undefined>): MeanSd => {
  const xs = values.filter((v): v is number => v !== null && v !== undefined && Number.isFinite(v))
  if (xs.length === 0) return { mean: null, sd: null, n: 0 }
  const mean = xs.reduce((a, x) => a + x, 0) / xs.length
  const sd = xs.length < 2 ? null : Math.sqrt(xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (xs.length - 1))
  return { mean, sd, n: xs.length }
}

/** A fraction as a percentage with its sd: "89.78 ± 0.21 %" (sd omitted for one value); "–" where there is none. */
export const pctSd = (m: MeanSd) => (m.mean === null ? "–" : `${(100 * m.mean).toFixed(2)}${m.sd === null ? "" : ` ± ${(100 * m.sd).toFixed(2)}`} %`)

/** A number with its sd, to `digits` decimals: "0.284 ± 0.012". */
export const numSd = (m: MeanSd, digits: number) => (m.mean === null ? "–" : `${m.mean.toFixed(digits)}${m.sd === null ? "" : ` ± ${m.sd.toFixed(digits)}`}`)

// ---- rows trained once per seed ---------------------------------------------------------------------------------

/** One seed's training of one row: its scores, without the curves and monitor the first seed's record keeps. */
export type SeedRun = Omit<TrainOutcome, "history" | "monitor"> & { readonly seed: number; readonly lwSeconds?: number | null }

/** A row's training outcome as one seed's record (the curves and monitor samples left out: results.json stays small). */
export const seedRun = (seed: number, e: TrainOutcome & { readonly lwSeconds?: number | null }): SeedRun => ({
  seed,
  testAccuracy: e.testAccuracy,
  testLoss: e.testLoss,
  diverged: e.diverged,
  divergedAt: e.divergedAt,
  epochs: e.epochs,
  seconds: e.seconds,
  finalTrainLoss: e.finalTrainLoss,
  initial: e.initial,
  ...(e.lwSeconds === undefined ? {} : { lwSeconds: e.lwSeconds })
})

/**
 * Per row (the first seed's order), over every seed: test accuracy and loss as mean ± sd (every seed counts, a
 * diverged one too: its accuracy is what that start gave), how many diverged, and each seed's record; `extra` adds a
 * row's own fields (lenet-init-grid's activation and init).
 */
export const summarizeSeeds = <E extends TrainOutcome & { readonly id: string; readonly lwSeconds?: number | null }, X extends object = object>(
  bySeed: ReadonlyArray<{ readonly seed: number; readonly experiments: ReadonlyArray<E> }>,
  extra: (row: E) => X = () => ({}) as X
) =>
  (bySeed[0]?.experiments ?? []).map((row) => {
    const perSeed = bySeed.flatMap(({ seed, experiments }) => experiments.filter((e) => e.id === row.id).map((e) => seedRun(seed, e)))
    return {
      id: row.id,
      ...extra(row),
      testAccuracy: meanSd(perSeed.map((r) => r.testAccuracy)),
      testLoss: meanSd(perSeed.map((r) => r.testLoss)),
      diverged: perSeed.filter((r) => r.diverged).length,
      perSeed
    }
  })

export type SeedSummary = ReturnType<typeof summarizeSeeds>[number]

/** The report's table over seeds: mean ± sd, then each seed's test accuracy. */
export const seedsTable = (rows: ReadonlyArray<SeedSummary>, seeds: ReadonlyArray<number>) =>
  markdownTable(
    ["experiment", "test accuracy, mean ± sd", "test loss, mean ± sd", "diverged", ...seeds.map((s) => `seed ${s}`)],
    rows.map((r) => [
      r.id,
      pctSd(r.testAccuracy),
      numSd(r.testLoss, 4),
      `${r.diverged}/${r.perSeed.length}`,
      ...seeds.map((s) => {
        const run = r.perSeed.find((p) => p.seed === s)
        return run === undefined ? "–" : `${(100 * run.testAccuracy).toFixed(2)} %${run.diverged ? " (diverged)" : ""}`
      })
    ])
  )

/** Each row's test accuracy, one dot per seed: the spread the mean ± sd summarizes. */
export const seedsFigure = (rows: ReadonlyArray<SeedSummary>, seeds: ReadonlyArray<number>): Figure[] =>
  rows.length === 0
    ? []
    : [
        figure(
          {
            id: "test-accuracy-seeds",
            title: "Test accuracy per seed",
            caption:
              `Each experiment's test accuracy after training, one dot per seed (${seeds.join(", ")}); ` +
              "the report's table gives the mean ± sample sd."
          },
          dotChart(
            rows.flatMap((r) => r.perSeed.map((p) => ({ category: r.id, value: 100 * p.testAccuracy }))),
            { value: { title: "test accuracy (%)" }, category: { title: "experiment" } }
          )
        )
      ]

/** The run index's numbers over seeds: each row's mean test accuracy. */
export const seedsHeadline = (rows: ReadonlyArray<SeedSummary>): Headline[] =>
  rows.map((r) => ({
    label: `${r.id} test accuracy, mean of ${r.testAccuracy.n} seeds${r.diverged > 0 ? ` (${r.diverged} diverged)` : ""}`,
    value: r.testAccuracy.mean === null ? null : 100 * r.testAccuracy.mean,
    unit: "%"
  }))
