/**
 * Schemas of the values that flow between steps: references to stored datasets and weights, and the typed configs
 * steps share. This is where the engine (artifacts) meets the ML code (ImageSet, weights) — both stay ignorant of it.
 */
import { Effect, Schema } from "effect"
import { ArtifactRef, getArrays, putArrays } from "./engine/artifacts.ts"
import type { NamedArray } from "./engine/arrays.ts"
import type { ImageSet } from "./data/types.ts"
import { CorruptArtifact } from "./errors.ts"

/** A dataset split stored as an artifact ({ images, labels }) plus the shape facts needed without reading it. */
export const DatasetRef = Schema.Struct({
  data: ArtifactRef,
  n: Schema.Int,
  height: Schema.Int,
  width: Schema.Int,
  channels: Schema.Int,
  classes: Schema.Int,
  classNames: Schema.optional(Schema.Array(Schema.String))
})
export type DatasetRef = typeof DatasetRef.Type

export const putDataset = (set: ImageSet) =>
  Effect.map(
    putArrays(
      {
        images: {
          dtype: set.images instanceof Float32Array ? "float32" : "uint8",
          shape: [set.n, set.height, set.width, set.channels],
          data: set.images
        },
        labels: { dtype: "uint8", shape: [set.labels.length], data: set.labels }
      },
      "dataset"
    ),
    (data): DatasetRef => ({
      data,
      n: set.n,
      height: set.height,
      width: set.width,
      channels: set.channels,
      classes: set.classes,
      ...(set.classNames ? { classNames: [...set.classNames] } : {})
    })
  )

export const getDataset = (ref: DatasetRef) =>
  Effect.flatMap(getArrays(ref.data), (arrays) => {
    const images = arrays.images?.data
    const labels = arrays.labels?.data
    if (!(images instanceof Float32Array || images instanceof Uint8Array) || !(labels instanceof Uint8Array)) {
      return Effect.fail(new CorruptArtifact({ path: ref.data.artifact, reason: "not a dataset (images, labels)" }))
    }
    const set: ImageSet = {
      images,
      labels,
      n: ref.n,
      height: ref.height,
      width: ref.width,
      channels: ref.channels,
      classes: ref.classes,
      ...(ref.classNames ? { classNames: ref.classNames } : {})
    }
    return Effect.succeed(set)
  })

/** Model weights stored as an artifact: one named array per weight tensor, in the model's weight order. */
export const WeightsRef = Schema.Struct({ weights: ArtifactRef, count: Schema.Int })
export type WeightsRef = typeof WeightsRef.Type

export const putWeights = (arrays: Readonly<Record<string, NamedArray>>) =>
  Effect.map(putArrays(arrays, "weights"), (weights): WeightsRef => ({ weights, count: Object.keys(arrays).length }))
export const getWeights = (ref: WeightsRef) => getArrays(ref.weights)

/** Divergence is an outcome, not an exception: where it happened. */
export const Divergence = Schema.Struct({ epoch: Schema.Int, batch: Schema.Int, loss: Schema.String })
export type Divergence = typeof Divergence.Type

export const Positive = Schema.Number.check(Schema.isGreaterThan(0))
export const NonNegative = Schema.Number.check(Schema.isGreaterThanOrEqualTo(0))
export const PositiveInt = Schema.Int.check(Schema.isGreaterThanOrEqualTo(1))
