/** Flags the LW pipelines share, and the typed configs they become. */
import type { FlagDefs } from "../../shared/engine/flags.ts"
import { defaultInitConfigs, lwStart } from "../../shared/init/initializers.ts"
import type { LwConfig } from "../../shared/lw/config.ts"
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
    lr: { kind: "number", default: 0.01, check: "number > 0", doc: "learning rate of the full network" },
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

export const trainConfigFrom = (c: { epochs: number; lr: number; batch: number; seed: number }): TrainConfig => ({
  optimizer: { kind: "sgd", momentum: 0.9, weightDecay: 0 },
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
