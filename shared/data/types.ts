/**
 * The one in-memory dataset shape every loader returns and every helper in `shared/data` takes.
 *
 * Layout is NHWC, row-major, no padding: the value of sample `i`, row `y`, column `x`, channel `c` is
 *   images[((i * height + y) * width + x) * channels + c]
 * which is exactly what `tf.tensor4d(images, [n, height, width, channels])` expects.
 *
 * - `Uint8Array` images hold raw bytes 0..255 (what the loaders return: 1 byte per value keeps 60k MNIST at 47 MB).
 * - `Float32Array` images hold values already converted (see `toFloat` / `normalize` in `normalize.ts`).
 * - `labels[i]` is the class index of sample i, in [0, classes). `classNames[k]`, when known, names class k.
 *
 * Non-image data uses the same shape: the 2-D circles are n samples of height 1, width 2, 1 channel, so their
 * flattened input is [x, y] and every split/sample helper applies unchanged.
 */
export interface ImageSet {
  readonly images: Uint8Array | Float32Array
  readonly labels: Uint8Array
  readonly n: number
  readonly height: number
  readonly width: number
  readonly channels: number
  readonly classes: number
  readonly classNames?: ReadonlyArray<string>
}

/** An ImageSet without labels: what a sampler returns when asked for inputs only. */
export type Inputs = Omit<ImageSet, "labels" | "classNames">

export type Split = "train" | "test"

/**
 * How many samples to take: an exact count, or a fraction of the set (rounded to the nearest integer).
 * Explicit on purpose — `1` would be ambiguous between "one sample" and "all of them".
 */
export type Amount = { readonly count: number } | { readonly fraction: number }

/** Values per sample (height × width × channels). */
export const sampleSize = (s: Pick<ImageSet, "height" | "width" | "channels">): number =>
  s.height * s.width * s.channels

/** Per-class counts, length `classes`. */
export const labelHistogram = (s: Pick<ImageSet, "labels" | "classes">): number[] => {
  const h = new Array<number>(s.classes).fill(0)
  for (const l of s.labels) h[l] = (h[l] ?? 0) + 1
  return h
}
