/**
 * Per-feature affine maps of a Float32 set (each of a sample's h·w·c values is a feature; circles: x and y):
 * `scale` (x·s + shift, the same for every feature) and `standardize` (mean 0 / std 1 per feature, the statistics
 * measured on a `reference` set — the training split, so the held-out splits get the training statistics).
 *
 * The maths are plain functions in shared/data/features.ts (tested directly).
 */
import { Effect, Schema } from "effect"
import { affineFeatures, featureStats, standardizer } from "../shared/data/features.ts"
import { sampleSize } from "../shared/data/types.ts"
import { defineStep } from "../shared/engine/step.ts"
import { BadConfig } from "../shared/errors.ts"
import { DatasetRef, getDataset, putDataset } from "../shared/schemas.ts"

export const FeatureTransform = Schema.Union([
  /** x·factor + offset[f] (offset: one value per feature, or absent for 0). */
  Schema.Struct({ kind: Schema.Literal("scale"), factor: Schema.Number, offset: Schema.optional(Schema.Array(Schema.Number)) }),
  /** (x − mean[f]) / std[f], the statistics measured on `reference`. */
  Schema.Struct({ kind: Schema.Literal("standardize"), reference: DatasetRef })
])
export type FeatureTransform = typeof FeatureTransform.Type

export const transformFeatures = defineStep({
  name: "transform-features",
  code: import.meta.url,
  input: Schema.Struct({ data: DatasetRef, transform: FeatureTransform }),
  output: Schema.Struct({
    data: DatasetRef,
    /** The affine map applied, per feature: x·scale + shift. */
    scale: Schema.Array(Schema.Number),
    shift: Schema.Array(Schema.Number),
    /** The result's own per-feature statistics. */
    mean: Schema.Array(Schema.Number),
    std: Schema.Array(Schema.Number)
  }),
  run: (input) =>
    Effect.gen(function* () {
      const set = yield* getDataset(input.data)
      if (!(set.images instanceof Float32Array)) {
        return yield* new BadConfig({ field: "transform-features data", value: "uint8 images", expected: "a Float32 set (e.g. make-circles)" })
      }
      const d = sampleSize(set)
      const t = input.transform
      let map: { scale: number[]; shift: number[] }
      if (t.kind === "scale") {
        if (t.offset !== undefined && t.offset.length !== d) {
          return yield* new BadConfig({ field: "transform-features offset", value: `${t.offset.length} values`, expected: `${d} (one per feature)` })
        }
        map = { scale: new Array<number>(d).fill(t.factor), shift: t.offset === undefined ? new Array<number>(d).fill(0) : [...t.offset] }
      } else {
        const reference = yield* getDataset(t.reference)
        if (sampleSize(reference) !== d) {
          return yield* new BadConfig({ field: "transform-features reference", value: `${sampleSize(reference)} features`, expected: `${d}, as the data` })
        }
        const stats = featureStats(reference)
        const flat = stats.std.findIndex((s) => !(s > 0))
        if (flat >= 0) {
          return yield* new BadConfig({ field: `transform-features reference feature ${flat}`, value: "std 0", expected: "a feature that varies" })
        }
        map = standardizer(stats)
      }
      const out = affineFeatures(set, map.scale, map.shift)
      const data = yield* putDataset(out)
      return { data, ...map, ...featureStats(out) }
    })
})
