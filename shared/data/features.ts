/**
 * Per-feature statistics and affine maps of a Float32 set: each of a sample's h·w·c values is a feature (circles: x
 * and y). shared/data/normalize.ts works per channel, which for circles (1 channel) would treat x and y together.
 */
import type { ImageSet } from "./types.ts"
import { sampleSize } from "./types.ts"

export interface FeatureStats {
  readonly mean: number[]
  /** Population std (÷n). */
  readonly std: number[]
}

/** Per-feature mean and population std (float64 accumulation). */
export const featureStats = (set: Pick<ImageSet, "images" | "n" | "height" | "width" | "channels">): FeatureStats => {
  const d = sampleSize(set)
  const sum = new Float64Array(d)
  const sq = new Float64Array(d)
  for (let i = 0; i < set.n * d; i++) {
    const v = set.images[i]!
    sum[i % d]! += v
    sq[i % d]! += v * v
  }
  const mean = Array.from(sum, (s) => s / set.n)
  const std = Array.from(sq, (s, f) => Math.sqrt(Math.max(0, s / set.n - mean[f]! ** 2)))
  return { mean, std }
}

/** x·scale[f] + shift[f] per feature f, computed in float64, stored as Float32. */
export const affineFeatures = (set: ImageSet, scale: readonly number[], shift: readonly number[]): ImageSet => {
  const d = sampleSize(set)
  const out = new Float32Array(set.n * d)
  for (let i = 0; i < out.length; i++) out[i] = set.images[i]! * scale[i % d]! + shift[i % d]!
  return { ...set, images: out }
}

/** (x − mean[f]) / std[f]: the affine map that standardizes a set with statistics `stats`. */
export const standardizer = (stats: FeatureStats): { scale: number[]; shift: number[] } => ({
  scale: stats.std.map((s) => 1 / s),
  shift: stats.mean.map((m, f) => -m / stats.std[f]!)
})
