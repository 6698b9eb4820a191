/**
 * wib-relu — the WIB-ReLU study (Olimov et al. 2021, "Weight initialization based-rectified linear unit activation
 * function to improve the performance of a convolutional neural network model"): the plain 4-conv CNN
 * (shared/models/cnn4.ts: 8/16/32/64 filters, global average pool, dense) with ReLU, LeakyReLU, PReLU, ELU and
 * WIB-ReLU, Kaiming-normal init, Adam, batch 256, on Fashion-MNIST; several seeds.
 *
 * WIB-ReLU is relu(x) − μ. Two versions train side by side: μ estimated per layer from the network's own
 * pre-activations at init on a batch of training images (shared/models/wib-shift.ts: the mean of relu(z), or with
 * `--wib-estimate gaussian` σ_z/√(2π)), and the fixed μ = 1/√(2π) (unit-variance pre-activations assumed). The
 * estimate lives in the weights artifact (a non-trainable `shift` weight), so the training step's key sees it.
 * Recorded per run: training and validation curves, and on the first seed every K steps each layer's activation mean
 * and variance and dead-unit share (shared/train/monitor.ts).
 *
 *   bun run pipelines/wib-relu.ts [--quick] [--epochs N] [--seeds N] [--lr 0.001] [--batch 256]
 *                                 [--wib-estimate measured|gaussian] [--dataset fashion-mnist|mnist|cifar10] [--data DIR]
 *                                 [--backend torch] [--threads 1]
 */
import * as tf from "@tensorflow/tfjs"
import { Effect } from "effect"
import { backendFlags, setupBackend } from "../shared/backend/setup.ts"
import { dataFlags } from "../shared/data/flags.ts"
import { seedList, seedsFlag } from "./lib/flags.ts"
import { runMain } from "../shared/engine/main.ts"
import { markdownTable } from "../shared/engine/report.ts"
import { type Figure, type Headline, definePipeline, step } from "../shared/engine/pipeline.ts"
import { WIB_RELU_SHIFT, type ActivationName } from "../shared/init/activations.ts"
import { defaultInitConfigs } from "../shared/init/initializers.ts"
import type { ModelSpec } from "../shared/models/spec.ts"
import type { WibShiftEstimator } from "../shared/models/wib-shift.ts"
import { deriveSeed } from "../shared/random.ts"
import { barChart, figure, lineChart } from "../shared/report/charts.ts"
import { type WibShiftLayer, estimateWibShift } from "../steps/estimate-wib-shift.ts"
import { initWeights } from "../steps/init-weights.ts"
import { sampleMinibatch } from "../steps/sample-minibatch.ts"
import type { TrainConfig } from "../steps/train.ts"
import { type TrainOutcome, prepareSplits, trainAndEvaluate } from "./lib/experiment.ts"
import { monitorFigures, trainingCurves } from "./lib/figures.ts"
import { meanSd } from "./lib/over-seeds.ts"
import { wibReluResults } from "./lib/results.ts"

// ---- the arms, and what a run returns ---------------------------------------------------------------------------

/** The activations compared, in report order; WIB-ReLU twice: μ estimated (`estimator`) and fixed at 1/√(2π). */
export const arms = (estimator: WibShiftEstimator) =>
  [
    { id: "ReLU", activation: "relu", shift: null },
    { id: "LeakyReLU", activation: "leakyRelu", shift: null },
    { id: "PReLU", activation: "prelu", shift: null },
    { id: "ELU", activation: "elu", shift: null },
    { id: `WIB-ReLU, μ ${estimator}`, activation: "wibRelu", shift: estimator },
    { id: "WIB-ReLU, μ fixed", activation: "wibRelu", shift: "fixed" }
  ] as const satisfies ReadonlyArray<{ id: string; activation: ActivationName; shift: WibShiftEstimator | null }>

export type Experiment = TrainOutcome & {
  readonly id: string
  readonly activation: ReturnType<typeof arms>[number]["activation"]
  /** WIB-ReLU's μ: how it was set; null for the other activations. */
  readonly wibShift: WibShiftEstimator | null
  readonly seed: number
}
type WibShiftRecord = { readonly estimator: WibShiftEstimator; readonly seed: number; readonly layers: ReadonlyArray<typeof WibShiftLayer.Type> }

export const wibRelu = definePipeline({
  name: "wib-relu",
  results: wibReluResults,
  description: "the 4-conv CNN with ReLU, LeakyReLU, PReLU, ELU, WIB-ReLU (estimated and fixed μ): curves, activation means, dead units",
  flags: {
    ...backendFlags,
    ...dataFlags,
    dataset: { kind: "enum", values: ["fashion-mnist", "mnist", "cifar10"], default: "fashion-mnist", doc: "dataset (cifar10 needs --data DIR)" },
    // 2: three seeds × six networks on all 55,000 images fit the ~25-minute budget on this shared machine (README).
    epochs: { kind: "int", default: 2, quick: 2, check: "1 <= number.integer <= 10000", doc: "training epochs of each network" },
    ...seedsFlag({ default: 3, quick: 1, doc: "seeds (init, batch order, μ batch): --seed, --seed+1, ..." }),
    // Adam with Kingma & Ba's defaults (β 0.9/0.999, ε 1e-8) and their lr 1e-3; the paper's own Adam settings are not quoted here.
    lr: { kind: "number", default: 0.001, check: "number > 0", doc: "Adam learning rate (constant)" },
    // 256: the paper's. --quick: 64, so that its thousand images make enough steps to move off chance.
    batch: { kind: "int", default: 256, quick: 64, check: "number.integer >= 1", doc: "batch size" },
    subset: { kind: "int", default: 0, quick: 1024, check: "number.integer >= 0", doc: "training samples (0 = all left after the validation split)" },
    testSubset: { kind: "int", default: 0, quick: 256, check: "number.integer >= 0", doc: "test samples (0 = all)" },
    validation: { kind: "int", default: 5000, quick: 256, check: "number.integer >= 1", doc: "validation samples carved out of the training split (curves)" },
    // One training batch: what "a data batch at init" means here.
    wibBatch: { kind: "int", default: 256, quick: 128, check: "number.integer >= 2", doc: "training images WIB-ReLU's μ is estimated on" },
    wibEstimate: { kind: "enum", values: ["measured", "gaussian"], default: "measured", doc: "μ per layer: mean of relu(z) on the batch, or σ_z/√(2π)" }
  },
  setup: setupBackend,
  run: (config) =>
    Effect.gen(function* () {
      const dataset = config.dataset as "fashion-mnist" | "mnist" | "cifar10"
      const rgb = dataset === "cifar10"
      const data = yield* prepareSplits({
        dataset,
        dataDir: config.data,
        trainSubset: config.subset,
        testSubset: config.testSubset,
        rgb,
        validation: config.validation,
        seed: config.seed
      })
      const inputShape = [data.train.height, data.train.width, data.train.channels] as const
      const backend = tf.getBackend()
      const estimator = config.wibEstimate as WibShiftEstimator
      const seeds = seedList(config)
      const experiments: Experiment[] = []
      const shifts: WibShiftRecord[] = []
      let wibSamples = 0
      for (const [k, seed] of seeds.entries()) {
        const wibBatch = yield* step(sampleMinibatch, {
          data: data.train,
          amount: { count: config.wibBatch },
          balanced: true,
          inputsOnly: true,
          seed: deriveSeed(seed, "wib-batch")
        })
        wibSamples = wibBatch.n
        const trainConfig: TrainConfig = {
          optimizer: { kind: "adam", momentum: 0, weightDecay: 0 },
          lr: config.lr,
          schedule: { kind: "constant" },
          epochs: config.epochs,
          batchSize: config.batch,
          seed
        }
        const split = { train: data.train, validation: data.validation!, test: data.test, lwBatch: wibBatch }
        for (const arm of arms(estimator)) {
          const model: ModelSpec = { arch: "cnn4", inputShape: [...inputShape], classes: data.train.classes, activation: arm.activation }
          // The same Kaiming-normal draw per seed for every activation: the conv/dense layers and their seeds are the same.
          const drawn = yield* step(initWeights, { model, init: defaultInitConfigs.kaimingNormal, seed })
          let initial = drawn
          if (arm.shift !== null) {
            const est = yield* step(estimateWibShift, { model, weights: drawn, batch: wibBatch, estimator: arm.shift, backend })
            initial = est.weights
            shifts.push({ estimator: arm.shift, seed, layers: est.layers })
          }
          // The monitor on the first seed only: its figures show one seed, and results.json stays small.
          const outcome = yield* trainAndEvaluate(model, initial, split, trainConfig, backend, k === 0 ? {} : { monitor: "off" })
          experiments.push({ id: arm.id, activation: arm.activation, wibShift: arm.shift, seed, ...outcome })
        }
      }
      return {
        setup: {
          dataset,
          source: data.sourceLine,
          architecture: `4-conv CNN (8/16/32/64 filters, stride 2, global average pool, dense ${data.train.classes}) on ${inputShape.join("×")}`,
          optimizer: `Adam (β 0.9/0.999, ε 1e-8), lr ${config.lr} constant, batch ${config.batch}, ${config.epochs} epochs`,
          init: "Kaiming normal (fan in, gain √2) for every activation; biases 0",
          trainSamples: data.train.n,
          validationSamples: data.validation!.n,
          testSamples: data.test.n,
          wibBatch: wibSamples,
          fixedShift: WIB_RELU_SHIFT,
          seeds
        },
        summary: summarize(experiments),
        wibDifference: wibDifference(experiments, estimator),
        wibShifts: shifts,
        experiments
      }
    }),
  report: (out) => report(out),
  figures: (out) => figures(out),
  headline: (out) => headline(out)
})

// ---- over seeds ---------------------------------------------------------------------------------------------------

const meanOf = (xs: ReadonlyArray<number>): number | null => meanSd(xs).mean
/** Sample standard deviation (n − 1); null below two values. */
const sdOf = (xs: ReadonlyArray<number>): number | null => meanSd(xs).sd
const present = <A>(xs: ReadonlyArray<A | null | undefined>): A[] => xs.filter((x): x is A => x !== null && x !== undefined)

/** Each monitored layer's activation mean, std and dead share at the first and the last sampled step. */
export const layerEnds = (monitor: Experiment["monitor"]) => {
  const steps = monitor.map((m) => m.step)
  const [first, last] = [Math.min(...steps), Math.max(...steps)]
  const at = (layer: string, step: number) => {
    const m = monitor.find((s) => s.layer === layer && s.step === step)
    const variance = m?.activationVar ?? null
    return { mean: m?.activationMean ?? null, std: variance === null ? null : Math.sqrt(variance), deadShare: m?.deadShare ?? null }
  }
  return [...new Set(monitor.map((m) => m.layer))].map((layer) => ({ layer, firstStep: first, lastStep: last, start: at(layer, first), end: at(layer, last) }))
}

/** Per arm over its seeds: test accuracy (mean, sd, range), losses; the first seed's per-layer statistics. */
export const summarize = (experiments: ReadonlyArray<Experiment>) =>
  [...new Set(experiments.map((e) => e.id))].map((id) => {
    const runs = experiments.filter((e) => e.id === id)
    const acc = runs.map((e) => e.testAccuracy)
    const first = runs[0]!
    return {
      id,
      activation: first.activation,
      wibShift: first.wibShift,
      seeds: runs.length,
      testAccuracy: meanOf(acc)!,
      testAccuracySd: sdOf(acc),
      testAccuracyMin: Math.min(...acc),
      testAccuracyMax: Math.max(...acc),
      testLoss: meanOf(present(runs.map((e) => e.testLoss))),
      finalTrainLoss: meanOf(present(runs.map((e) => e.finalTrainLoss))),
      finalValidationAccuracy: meanOf(present(runs.map((e) => e.history.at(-1)?.validationAccuracy))),
      diverged: runs.filter((e) => e.diverged).length,
      layers: first.monitor.length === 0 ? [] : layerEnds(first.monitor)
    }
  })

/** WIB-ReLU with the estimated μ minus the fixed one, seed by seed (same draw, batches and data). */
export const wibDifference = (experiments: ReadonlyArray<Experiment>, estimator: WibShiftEstimator) => {
  const arm = (shift: WibShiftEstimator, seed: number) => experiments.find((e) => e.wibShift === shift && e.seed === seed)
  const perSeed = [...new Set(experiments.map((e) => e.seed))].flatMap((seed) => {
    const [est, fixed] = [arm(estimator, seed), arm("fixed", seed)]
    return est && fixed ? [{ seed, testAccuracy: est.testAccuracy - fixed.testAccuracy }] : []
  })
  const d = perSeed.map((p) => p.testAccuracy)
  return { estimator, perSeed, testAccuracyMean: meanOf(d), testAccuracySd: sdOf(d) }
}

type Out = {
  readonly setup: { readonly dataset: string; readonly source: string; readonly architecture: string; readonly optimizer: string; readonly init: string; readonly trainSamples: number; readonly validationSamples: number; readonly testSamples: number; readonly wibBatch: number; readonly fixedShift: number; readonly seeds: ReadonlyArray<number> }
  readonly summary: ReturnType<typeof summarize>
  readonly wibDifference: ReturnType<typeof wibDifference>
  readonly wibShifts: ReadonlyArray<WibShiftRecord>
  readonly experiments: ReadonlyArray<Experiment>
}

// ---- report, figures, headline ---------------------------------------------------------------------------------

const pct = (v: number | null) => (v === null ? "–" : `${(100 * v).toFixed(2)} %`)
const pt = (v: number | null) => (v === null ? "–" : `${v >= 0 ? "+" : "−"}${(100 * Math.abs(v)).toFixed(2)} pt`)
const num = (v: number | null, digits = 3) => (v === null ? "–" : v.toFixed(digits))

const report = (out: Out): string => {
  const { setup, summary, wibDifference: diff } = out
  const firstSeed = setup.seeds[0]!
  const shiftsOf = (estimator: WibShiftEstimator) => out.wibShifts.find((w) => w.estimator === estimator && w.seed === firstSeed)
  const [est, fixed] = [shiftsOf(diff.estimator), shiftsOf("fixed")]
  const monitored = summary.filter((a) => a.layers.length > 0)
  return [
    "## Setup",
    "",
    `${setup.architecture}; ${setup.dataset} from ${setup.source}: ${setup.trainSamples} training, ${setup.validationSamples} validation ` +
      `(curves only), ${setup.testSamples} test images. ${setup.init}. ${setup.optimizer}. Seeds ${setup.seeds.join(", ")}: each seed ` +
      "draws its own weights (shared by every activation), batch order and μ batch.",
    "",
    "## Test accuracy over seeds",
    "",
    markdownTable(
      ["activation", "seeds", "test accuracy (mean)", "sd", "min – max", "test loss", "final train loss", "final validation accuracy", "diverged"],
      summary.map((a) => [a.id, a.seeds, pct(a.testAccuracy), a.testAccuracySd === null ? "–" : `${(100 * a.testAccuracySd).toFixed(2)} pt`, `${pct(a.testAccuracyMin)} – ${pct(a.testAccuracyMax)}`, num(a.testLoss, 4), num(a.finalTrainLoss, 4), pct(a.finalValidationAccuracy), a.diverged])
    ),
    "",
    `WIB-ReLU with μ ${diff.estimator} minus μ fixed, seed by seed: ${diff.perSeed.map((p) => `${pt(p.testAccuracy)} (seed ${p.seed})`).join(", ") || "–"}; ` +
      `mean ${pt(diff.testAccuracyMean)}${diff.testAccuracySd === null ? "" : ` ± ${(100 * diff.testAccuracySd).toFixed(2)} pt (sd)`}.`,
    "",
    `## WIB-ReLU's μ per layer (seed ${firstSeed}, ${setup.wibBatch} training images at init)`,
    "",
    `z is the layer's pre-activation. The fixed μ is 1/√(2π) = ${setup.fixedShift.toFixed(4)} (z ~ N(0, 1) assumed); the estimated one is ` +
      `${diff.estimator === "measured" ? "the mean of relu(z) on the batch" : "σ_z/√(2π)"}, layer by layer in forward order. ` +
      "Output mean: the WIB-ReLU output's mean on the batch at init with that μ.",
    "",
    est && fixed
      ? markdownTable(
          ["layer", "σ_z", "mean relu(z)", "σ_z/√(2π)", "μ estimated", "output mean (estimated μ)", "output mean (fixed μ)"],
          est.layers.map((l, i) => [l.layer, num(l.preActivationStd), num(l.measured, 4), num(l.gaussian, 4), num(l.shift, 4), num(l.outputMean, 4), num(fixed.layers[i]?.outputMean ?? null, 4)])
        )
      : "(no WIB-ReLU estimate in this run)",
    "",
    `## Per-layer activations at the first and last monitored step (seed ${firstSeed})`,
    "",
    "On that step's training batch: the activation's mean and std, and the share of dead units (std over the batch below 1e-6).",
    "",
    monitored.length === 0
      ? "(no monitor samples)"
      : markdownTable(
          ["activation", "layer", "mean (start → end)", "std (start → end)", "dead (start → end)"],
          monitored.flatMap((a) => a.layers.map((l) => [a.id, l.layer, `${num(l.start.mean)} → ${num(l.end.mean)}`, `${num(l.start.std)} → ${num(l.end.std)}`, `${pct(l.start.deadShare)} → ${pct(l.end.deadShare)}`]))
        )
  ].join("\n")
}

const figures = (out: Out): Figure[] => {
  const firstSeed = out.setup.seeds[0]!
  const first = out.experiments.filter((e) => e.seed === firstSeed)
  const accuracy = figure(
    {
      id: "test-accuracy-seeds",
      title: "Test accuracy per activation and seed",
      caption: `Each network's accuracy on the test split after ${out.experiments[0]?.epochs ?? 0} epoch(s); one bar per seed.`
    },
    barChart(
      out.experiments.map((e) => ({ category: e.id, value: 100 * e.testAccuracy, group: `seed ${e.seed}` })),
      { value: { title: "test accuracy (%)", format: ".2f" }, category: { title: "activation" }, group: { title: "seed" } }
    )
  )
  const wib = out.wibShifts.filter((w) => w.seed === firstSeed)
  const layerOrder = wib[0]?.layers.map((l) => l.layer) ?? []
  const shiftFigure = figure(
    {
      id: "wib-shift",
      title: "WIB-ReLU's μ per layer, and the output mean it leaves at init",
      caption:
        `Seed ${firstSeed}, on ${out.setup.wibBatch} training images at init. Top: μ, fixed (1/√(2π)) and estimated, and σ_z/√(2π) ` +
        "(the Gaussian formula at the measured spread) beside the measured mean of relu(z). Bottom: the WIB-ReLU output's mean with each μ."
    },
    lineChart(
      wib.flatMap((w) =>
        w.layers.flatMap((l) => [
          { x: l.layer, y: l.shift, series: `μ ${w.estimator}` },
          ...(w.estimator === "fixed" ? [] : [{ x: l.layer, y: l.gaussian, series: "σ_z/√(2π)" }, { x: l.layer, y: l.measured, series: "mean relu(z)" }])
        ])
      ),
      { x: { title: "layer", order: layerOrder }, y: { title: "μ" }, series: { title: "value" } }
    ),
    lineChart(
      wib.flatMap((w) => w.layers.map((l) => ({ x: l.layer, y: l.outputMean, series: `μ ${w.estimator}` }))),
      { x: { title: "layer", order: layerOrder }, y: { title: "output mean at init" }, series: { title: "μ" } }
    )
  )
  return [
    accuracy,
    ...(wib.length > 0 ? [shiftFigure] : []),
    ...trainingCurves(first).map((f) => ({ ...f, caption: `Seed ${firstSeed}. ${f.caption}` })),
    ...monitorFigures(first, ["activationMean", "activationVar", "deadShare"]).map((f) => ({ ...f, caption: `Seed ${firstSeed}. ${f.caption}` }))
  ]
}

const headline = (out: Out): Headline[] => [
  ...out.summary.map((a) => ({ label: `${a.id}: test accuracy, mean of ${a.seeds} seed(s)`, value: 100 * a.testAccuracy, unit: "%" })),
  {
    label: `WIB-ReLU μ ${out.wibDifference.estimator} − μ fixed: test accuracy`,
    value: out.wibDifference.testAccuracyMean === null ? null : 100 * out.wibDifference.testAccuracyMean,
    unit: "pt"
  }
]

if (import.meta.main) runMain(wibRelu)
