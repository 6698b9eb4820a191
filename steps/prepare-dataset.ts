/**
 * Loads a dataset (Fashion-MNIST, MNIST, CIFAR-10/100, Imagenette-layout folders) from where `locateDataset` finds it
 * and prepares it for training: an optional seeded, class-balanced validation split carved out of the training split,
 * an optional class-balanced training subset of what remains, optional resize and grayscale → 3 channels (for
 * ResNet), normalization by per-dataset mean/std (or the training split's own: never the validation's). The three
 * splits are disjoint: `train` is what a model may learn from, `validation` is for choosing (evidence, defaults), `test`
 * scores final accuracy only. Every split is a content-hashed artifact, so downstream steps cache on it. The source
 * files' fingerprint is part of the input: new files, new key.
 */
import { Effect, Schema } from "effect"
import { DATASET_NAMES } from "../shared/data/datasets.ts"
import { loadDataset } from "../shared/data/load.ts"
import { DATASET_STATS, computeStats, normalize } from "../shared/data/normalize.ts"
import { resolveAmount, splitSet, subset } from "../shared/data/select.ts"
import { grayscaleToRgb, resize } from "../shared/data/transform.ts"
import type { ImageSet } from "../shared/data/types.ts"
import { defineStep } from "../shared/engine/step.ts"
import { BadConfig, attempt } from "../shared/errors.ts"
import { deriveSeed } from "../shared/random.ts"
import { DatasetRef, PositiveInt, putDataset } from "../shared/schemas.ts"

export const Amount = Schema.Union([
  Schema.Struct({ count: PositiveInt }),
  Schema.Struct({ fraction: Schema.Number.check(Schema.isGreaterThan(0), Schema.isLessThanOrEqualTo(1)) })
])

export const prepareDataset = defineStep({
  name: "prepare-dataset",
  code: import.meta.url,
  input: Schema.Struct({
    dataset: Schema.Literals(DATASET_NAMES),
    /** The folder `locateDataset` found, and a fingerprint of its files (see shared/data/fingerprint.ts). */
    source: Schema.Struct({ dir: Schema.String, fingerprint: Schema.String }),
    /**
     * Training subset (class-balanced), e.g. { count: 6000 } or { fraction: 0.1 }, drawn from what the validation
     * split leaves; omitted = all of it.
     */
    trainSubset: Schema.optional(Amount),
    testSubset: Schema.optional(Amount),
    /**
     * Validation split (class-balanced), carved out of the whole training split before the subset is drawn, so
     * `trainSubset` keeps its size; a fraction is of the whole training split. Omitted = none.
     */
    validation: Schema.optional(Amount),
    resize: Schema.optional(Schema.Struct({ height: PositiveInt, width: PositiveInt })),
    /** Repeat a single channel three times (ResNet's stem expects RGB). */
    rgb: Schema.Boolean,
    /** "standard": the usual per-dataset constants; "computed": mean/std of this training split; "none": [0, 1]. */
    normalization: Schema.Literals(["standard", "computed", "none"]),
    seed: Schema.Int
  }),
  output: Schema.Struct({
    train: DatasetRef,
    validation: Schema.optional(DatasetRef),
    test: DatasetRef,
    stats: Schema.Struct({ mean: Schema.Array(Schema.Number), std: Schema.Array(Schema.Number) })
  }),
  run: (input) =>
    Effect.gen(function* () {
      const options = { dataDir: input.source.dir, download: false }
      const loaded = yield* attempt(async () => ({
        train: (await loadDataset(input.dataset, "train", options)).set,
        test: (await loadDataset(input.dataset, "test", options)).set
      }))
      const shape = (set: ImageSet) => {
        let s = set
        if (input.resize) s = resize(s, input.resize)
        if (input.rgb && s.channels === 1) s = grayscaleToRgb(s)
        return s
      }
      const prepared = yield* attempt(() => {
        if (input.validation) checkValidation(input.validation, loaded.train.n)
        // splitSet draws the validation part with its own child seed (deriveSeed(seed, "split/val")).
        const parts = input.validation ? splitSet(loaded.train, { val: input.validation, seed: input.seed, balanced: true }) : { train: loaded.train }
        let train = parts.train
        if (input.trainSubset) train = subset(train, { amount: input.trainSubset, seed: input.seed, balanced: true, field: "trainSubset (--subset)" })
        let test = loaded.test
        if (input.testSubset) {
          test = subset(test, { amount: input.testSubset, seed: deriveSeed(input.seed, "testSubset"), balanced: true, field: "testSubset (--test-subset)" })
        }
        return { train: shape(train), validation: parts.val && shape(parts.val), test: shape(test) }
      })
      const stats =
        input.normalization === "computed"
          ? computeStats(prepared.train)
          : input.normalization === "standard"
            ? standardStats(input.dataset, prepared.train.channels)
            : { mean: Array(prepared.train.channels).fill(0), std: Array(prepared.train.channels).fill(1) }
      const finish = (s: ImageSet) => normalize(s, stats)
      return {
        train: yield* putDataset(finish(prepared.train)),
        ...(prepared.validation ? { validation: yield* putDataset(finish(prepared.validation)) } : {}),
        test: yield* putDataset(finish(prepared.test)),
        stats: { mean: [...stats.mean], std: [...stats.std] }
      }
    })
})

/** A validation size that names its flag when it is wrong, and leaves samples to train on. */
const checkValidation = (amount: typeof Amount.Type, trainN: number) => {
  const field = "validation (--validation)"
  const count = resolveAmount(amount, trainN, field)
  if (count >= trainN) {
    throw new BadConfig({ field, value: String(count), expected: `fewer than the ${trainN} training samples (the rest is what models train on)` })
  }
}

/** The dataset's usual constants, repeated per channel when a gray set was made RGB. */
const standardStats = (name: (typeof DATASET_NAMES)[number], channels: number) => {
  const s = DATASET_STATS[name]
  const pick = (v: ReadonlyArray<number>) => (v.length === channels ? [...v] : Array(channels).fill(v[0]))
  return { mean: pick(s.mean), std: pick(s.std) }
}
