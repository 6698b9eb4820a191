/**
 * Turning raw bytes into network inputs: scale to [0, 1], and standardise per channel with a mean and std.
 *
 * Stats are on the [0, 1] scale. `DATASET_STATS` holds the constants everyone uses, all computed over the train
 * split (population std over every pixel of every image, per channel). `computeStats` measures them from a set;
 * the Fashion-MNIST pair is checked against the real data in tests/data/system.test.ts.
 */
import { BadConfig } from "../errors.ts"
import type { ImageSet } from "./types.ts"

export interface ChannelStats {
  /** One value per channel (or one value for all channels). */
  readonly mean: ReadonlyArray<number>
  readonly std: ReadonlyArray<number>
}

export const DATASET_STATS = {
  /** PyTorch's MNIST example, train split. */
  mnist: { mean: [0.1307], std: [0.3081] },
  /** Fashion-MNIST train split (measured: mean 0.28604, std 0.35302). */
  "fashion-mnist": { mean: [0.286], std: [0.353] },
  /**
   * CIFAR-10 train split. The often-copied std [0.2023, 0.1994, 0.2010] is the mean of per-image stds, not the
   * dataset std; these are the dataset std.
   */
  cifar10: { mean: [0.4914, 0.4822, 0.4465], std: [0.247, 0.2435, 0.2616] },
  /** CIFAR-100 train split. */
  cifar100: { mean: [0.5071, 0.4865, 0.4409], std: [0.2673, 0.2564, 0.2762] },
  /** Imagenette is a subset of ImageNet: the ImageNet constants (torchvision's pretrained-model convention). */
  imagenette: { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] }
} as const satisfies Record<string, ChannelStats>

/** Uint8 sets are divided by 255; Float32 sets are taken as they are (already scaled). */
const scaleOf = (set: ImageSet): number => (set.images instanceof Uint8Array ? 1 / 255 : 1)

/** Raw bytes → Float32 in [0, 1]. A Float32 set is returned unchanged. */
export const toFloat = (set: ImageSet): ImageSet => {
  if (set.images instanceof Float32Array) return set
  const out = new Float32Array(set.images.length)
  const src = set.images
  for (let i = 0; i < src.length; i++) out[i] = src[i]! / 255
  return { ...set, images: out }
}

/** Per-channel mean and population std on the [0, 1] scale (float64 accumulation). */
export const computeStats = (set: ImageSet): { mean: number[]; std: number[] } => {
  const c = set.channels
  const sum = new Float64Array(c)
  const sq = new Float64Array(c)
  const src = set.images
  for (let i = 0; i < src.length; i++) {
    const v = src[i]!
    const k = i % c
    sum[k]! += v
    sq[k]! += v * v
  }
  const count = src.length / c
  const s = scaleOf(set)
  const mean = Array.from(sum, (x) => (x / count) * s)
  const std = Array.from(sq, (x, k) => Math.sqrt(Math.max(0, (x / count) * s * s - mean[k]! ** 2)))
  return { mean, std }
}

const perChannel = (values: ReadonlyArray<number>, channels: number, field: string): number[] => {
  if (values.length === channels) return [...values]
  if (values.length === 1) return new Array<number>(channels).fill(values[0]!)
  throw new BadConfig({ field, value: `[${values.join(", ")}]`, expected: `1 or ${channels} values (one per channel)` })
}

/** (x - mean[c]) / std[c] per channel, on the [0, 1] scale; returns a Float32 set. */
export const normalize = (set: ImageSet, stats: ChannelStats): ImageSet => {
  const c = set.channels
  const mean = perChannel(stats.mean, c, "normalize.mean")
  const std = perChannel(stats.std, c, "normalize.std")
  for (const s of std) {
    if (!(s > 0)) throw new BadConfig({ field: "normalize.std", value: String(s), expected: "every std > 0" })
  }
  const scale = scaleOf(set)
  const mul = std.map((s) => scale / s)
  const add = mean.map((m, k) => -m / std[k]!)
  const src = set.images
  const out = new Float32Array(src.length)
  const pixels = src.length / c
  for (let p = 0, i = 0; p < pixels; p++) {
    for (let k = 0; k < c; k++, i++) out[i] = src[i]! * mul[k]! + add[k]!
  }
  return { ...set, images: out }
}
