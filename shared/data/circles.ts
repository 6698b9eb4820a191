/**
 * Synthetic 2-D concentric circles (two classes), as in scikit-learn's `make_circles`.
 *
 * Class 0 lies on the outer circle (radius 1), class 1 on the inner one (radius `factor`). Angles are evenly
 * spaced (n/2 points per circle, the odd one goes to the inner circle), Gaussian noise of std `noise` is added to
 * each coordinate, then the samples are shuffled. Everything is driven by `seed`: same options, same set.
 *
 * Returned as an ImageSet of n samples × height 1 × width 2 × 1 channel (Float32), so `images[2i]`, `images[2i+1]`
 * are x, y of sample i.
 */
import { BadConfig } from "../errors.ts"
import { createRng, permutation } from "./random.ts"
import type { ImageSet } from "./types.ts"

export interface CirclesOptions {
  /** Total number of points. */
  readonly n: number
  /** Std of the Gaussian noise added to each coordinate. Default 0.05: the circles stay separable by eye. */
  readonly noise?: number
  /** Inner radius / outer radius, in (0, 1). Default 0.5: a margin as wide as the inner radius. */
  readonly factor?: number
  readonly seed: number
}

export const CIRCLE_CLASS_NAMES = ["outer", "inner"] as const

export const makeCircles = (opts: CirclesOptions): ImageSet => {
  const { n, seed } = opts
  const noise = opts.noise ?? 0.05
  const factor = opts.factor ?? 0.5
  if (!Number.isSafeInteger(n) || n < 2) {
    throw new BadConfig({ field: "circles.n", value: String(n), expected: "an integer >= 2" })
  }
  if (!(noise >= 0) || !Number.isFinite(noise)) {
    throw new BadConfig({ field: "circles.noise", value: String(noise), expected: "a finite number >= 0" })
  }
  if (!(factor > 0 && factor < 1)) {
    throw new BadConfig({ field: "circles.factor", value: String(factor), expected: "a number in (0, 1)" })
  }
  const rng = createRng(seed)
  const nOuter = Math.floor(n / 2)
  const nInner = n - nOuter
  const xs = new Float32Array(2 * n)
  const ys = new Uint8Array(n)
  const order = permutation(n, rng)
  for (let k = 0; k < n; k++) {
    const inner = k >= nOuter
    const count = inner ? nInner : nOuter
    const j = inner ? k - nOuter : k
    const r = inner ? factor : 1
    const angle = (2 * Math.PI * j) / count
    const i = order[k]!
    xs[2 * i] = r * Math.cos(angle) + noise * rng.normal()
    xs[2 * i + 1] = r * Math.sin(angle) + noise * rng.normal()
    ys[i] = inner ? 1 : 0
  }
  return { images: xs, labels: ys, n, height: 1, width: 2, channels: 1, classes: 2, classNames: CIRCLE_CLASS_NAMES }
}
