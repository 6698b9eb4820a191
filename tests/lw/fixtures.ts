/** Small real-looking data the LW tests write themselves: smooth blob images, standardized like MNIST. */
import * as tf from "@tensorflow/tfjs"
import { createRng } from "../../shared/init/random.ts"

/**
 * `n` images [h, w, c]: each the sum of 3 Gaussian blobs (random centre, width, amplitude) plus a little noise,
 * then standardized over the whole batch to mean 0, variance 1 (what dataset normalization does). Deterministic.
 */
export const blobBatch = (n: number, h: number, w: number, c: number, seed: number): tf.Tensor4D => {
  const rng = createRng(seed)
  const data = new Float32Array(n * h * w * c)
  for (let i = 0; i < n; i++) {
    const blobs = Array.from({ length: 3 }, () => ({
      y: rng.next() * h,
      x: rng.next() * w,
      s: 1 + rng.next() * (Math.min(h, w) / 4),
      a: Array.from({ length: c }, () => 0.5 + rng.next())
    }))
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        for (let k = 0; k < c; k++) {
          let v = 0.05 * rng.normal()
          for (const b of blobs) v += b.a[k]! * Math.exp(-((y - b.y) ** 2 + (x - b.x) ** 2) / (2 * b.s * b.s))
          data[((i * h + y) * w + x) * c + k] = v
        }
      }
    }
  }
  let mean = 0
  for (const v of data) mean += v / data.length
  let sq = 0
  for (const v of data) sq += (v - mean) ** 2 / data.length
  const sd = Math.sqrt(sq)
  for (let i = 0; i < data.length; i++) data[i] = (data[i]! - mean) / sd
  return tf.tensor4d(data, [n, h, w, c])
}
