/**
 * lw-evidence — the measurement behind LW's default start and optimizer (shared/lw/config.ts, README "Learned
 * initialization"): ResNet18 without BN learned by LW from the default start (Kaiming-normal, SGD momentum 0.9) and
 * from the thesis' (N(0, 0.1²), plain SGD), beside the Kaiming (RAE1) and N(0, 1) (RAE2) draws; for each, every
 * layer's output mean and activation variance on held-out validation images (carved out of the training split,
 * disjoint from the LW batch and from the test split, which this script never reads for a figure). With the same
 * flags the data, LW layers and evidence are the very cached steps `pipelines/resnet-nobn.ts` runs (and with
 * `--arch lenet5 --lw-batch 25 --validation 500`, those of `pipelines/lenet-ablation.ts`' LW row).
 *
 *   bun run scripts/lw-evidence.ts --backend torch --threads 1 [--quick] [--lw-batch 200] [--validation 200]
 *   bun run scripts/lw-evidence.ts --backend torch --threads 1 --arch lenet5 --lw-batch 25 --validation 500
 */
import * as tf from "@tensorflow/tfjs"
import { Effect } from "effect"
import { dataSplits, heuristicInit, initLayerStats, learnedInit, prepareData, validationFlags } from "../pipelines/lib/experiment.ts"
import { lwConfigFrom, lwFlags } from "../pipelines/lib/flags.ts"
import { evidenceHeading, type LayerStatsRow, layerStatsSections, splitsNote } from "../pipelines/lib/report.ts"
import { backendFlags, setupBackend } from "../shared/backend/setup.ts"
import { dataFlags } from "../shared/data/flags.ts"
import type { FlagDefs } from "../shared/engine/flags.ts"
import { runMain } from "../shared/engine/main.ts"
import { definePipeline, variants } from "../shared/engine/pipeline.ts"
import { Reporter } from "../shared/engine/reporter.ts"
import { markdownTable } from "../shared/engine/report.ts"
import { defaultInitConfigs } from "../shared/init/initializers.ts"
import { type LwConfig, lwPresets } from "../shared/lw/config.ts"
import type { ModelSpec } from "../shared/models/spec.ts"

const starts = [
  { id: "LW from the flags' start (default Kaiming-normal)", kind: "lw" },
  { id: "LW from the thesis start N(0, 0.1²)", kind: "lwThesis" },
  { id: "Kaiming-normal draw (RAE1)", kind: "kaiming" },
  { id: "N(0, 1) draw (RAE2)", kind: "normal" }
] as const

/** The optimizer LW ran with, for the report (`--lw-optimizer` applies to both LW rows). */
const optimizerOf = (c: LwConfig) => (c.optimizer === "adam" ? "Adam" : c.momentum > 0 ? `SGD momentum ${c.momentum}` : "plain SGD")

/** What the README quotes: the layers' activation-variance range and largest |output mean|, the logits' variance. */
const summarize = (stats: ReadonlyArray<LayerStatsRow>) => {
  const inner = stats.slice(0, -1) // the classifier keeps a standard init; its output variance is the logits'
  const vars = inner.map((s) => s.activationVar)
  const means = inner.map((s) => s.outputMean)
  const finite = (xs: ReadonlyArray<number | null>): xs is number[] => xs.every((x) => x !== null)
  return {
    activationVar: finite(vars) ? { first: vars[0]!, last: vars.at(-1)!, min: Math.min(...vars), max: Math.max(...vars) } : null,
    maxAbsOutputMean: finite(means) ? Math.max(...means.map(Math.abs)) : null,
    logitsVar: stats.at(-1)?.outputVar ?? null
  }
}
type Summary = ReturnType<typeof summarize>

/**
 * How far a learned layer's validation statistics are from those on the LW batch it was learned on (the largest
 * |difference| over the layers): the noise floor the convergence threshold is compared with (shared/lw/config.ts).
 */
const batchGap = (
  layers: ReadonlyArray<{ layer: string; onBatch: { activationVar: number | null; outputMean: number | null } }>,
  stats: ReadonlyArray<LayerStatsRow>
) => {
  const gap = (pick: (s: { activationVar: number | null; outputMean: number | null }) => number | null) => {
    const d = layers.map((l) => {
      const [a, b] = [pick(l.onBatch), pick(stats.find((s) => s.name === l.layer) ?? { activationVar: null, outputMean: null })]
      return a === null || b === null ? null : Math.abs(a - b)
    })
    return d.every((x) => x !== null) ? Math.max(...(d as number[])) : null
  }
  return { activationVar: gap((s) => s.activationVar), outputMean: gap((s) => s.outputMean) }
}

const fmt = (x: number | null | undefined) => (x === null || x === undefined ? "NaN/Inf" : Math.abs(x) >= 1e4 ? x.toExponential(2) : x.toFixed(3))

const summaryTable = (rows: ReadonlyArray<{ id: string; summary: Summary; batchGap: ReturnType<typeof batchGap> | null }>) =>
  markdownTable(
    ["start", "activation variance, first → last layer", "range over layers", "max |output mean|", "logits variance", "max |validation − LW batch| (variance, mean)"],
    rows.map(({ id, summary: s, batchGap: g }) => [
      id,
      s.activationVar ? `${fmt(s.activationVar.first)} → ${fmt(s.activationVar.last)}` : "NaN/Inf",
      s.activationVar ? `${fmt(s.activationVar.min)}–${fmt(s.activationVar.max)}` : "NaN/Inf",
      fmt(s.maxAbsOutputMean),
      fmt(s.logitsVar),
      g ? `${fmt(g.activationVar)}, ${fmt(g.outputMean)}` : "–"
    ])
  )

export const lwEvidence = definePipeline({
  name: "lw-evidence",
  description: "LW's per-layer evidence (ResNet18 without BN, or LeNet-5) from the default and the thesis start, on validation images",
  flags: {
    ...backendFlags,
    ...dataFlags,
    // resnet-nobn's data flags and defaults, so the prepared data and the LW layers are its cached steps.
    subset: { kind: "int", default: 0, quick: 256, check: "number.integer >= 0", doc: "training samples (0 = all), as resnet-nobn" },
    testSubset: { kind: "int", default: 0, quick: 200, check: "number.integer >= 0", doc: "test samples (0 = all; not used for any figure), as resnet-nobn" },
    ...lwFlags({ quickMaxEpochs: 10, lwBatch: 200, quickLwBatch: 32 }),
    ...validationFlags({ validation: 200, quickValidation: 100 }),
    arch: { kind: "enum", values: ["resnet18", "lenet5"], default: "resnet18", doc: "ResNet18 without BN (resnet-nobn) or LeNet-5 with ReLU (lenet-ablation)" },
    stem: { kind: "enum", values: ["imagenet", "small"], default: "imagenet", doc: "ResNet18 stem" }
  } as const satisfies FlagDefs,
  setup: setupBackend,
  run: (config) =>
    Effect.gen(function* () {
      const backend = tf.getBackend()
      const data = yield* prepareData({
        dataset: "fashion-mnist",
        dataDir: config.data,
        trainSubset: config.subset,
        testSubset: config.testSubset,
        rgb: false,
        lwBatch: config.lwBatch,
        validation: config.validation,
        seed: config.seed
      })
      const inputShape: [number, number, number] = [data.train.height, data.train.width, data.train.channels]
      const model: ModelSpec =
        config.arch === "lenet5"
          ? { arch: "lenet5", inputShape, classes: data.train.classes, activation: "relu" }
          : { arch: "resnet18", inputShape, classes: data.train.classes, batchNorm: false, stem: config.stem as "imagenet", activation: "relu" }
      const flagged = lwConfigFrom(lwPresets.lw, config)
      const measured = yield* variants(starts, (s) =>
        Effect.gen(function* () {
          if (s.kind === "lw" || s.kind === "lwThesis") {
            const { init, momentum } = lwPresets.lwThesis
            const lwConfig = s.kind === "lw" ? flagged : { ...flagged, init, momentum }
            const lw = yield* learnedInit(model, data, lwConfig, config.seed, backend)
            return { layerStats: lw.layerStats, lwSeconds: lw.seconds, optimizer: optimizerOf(lwConfig), batchGap: batchGap(lw.layers, lw.layerStats) }
          }
          const initial = yield* heuristicInit(model, s.kind === "kaiming" ? defaultInitConfigs.kaimingNormal : defaultInitConfigs.random, config.seed)
          return { layerStats: yield* initLayerStats(model, initial, data, backend), lwSeconds: null, optimizer: null, batchGap: null }
        })
      )
      const results = measured.map((m) => ({ ...m, id: m.optimizer ? `${m.id}, ${m.optimizer}` : m.id, summary: summarize(m.layerStats) }))
      const reporter = yield* Reporter
      for (const r of results) {
        reporter.line(`\n${r.id}  (per layer: activation variance, output mean)`)
        for (const s of r.layerStats) reporter.line(`  ${s.name.padEnd(22)} ${fmt(s.activationVar).padStart(10)} ${fmt(s.outputMean).padStart(10)}`)
      }
      reporter.line(`\n${summaryTable(results)}`)
      return { arch: config.arch, splits: dataSplits(data), starts: results }
    }),
  report: ({ arch, splits, starts: rows }) =>
    [
      `## LW's per-layer evidence on validation images: ${arch === "lenet5" ? "LeNet-5 (ReLU)" : "ResNet18 without BN"}`,
      "",
      splitsNote(splits),
      "",
      summaryTable(rows),
      "",
      evidenceHeading(splits, "every layer after LW or at the draw"),
      "",
      ...layerStatsSections(Object.fromEntries(rows.map((r) => [r.id, r.layerStats])))
    ].join("\n")
})

if (import.meta.main) runMain(lwEvidence)
