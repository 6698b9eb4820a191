/** Our bilinear resize against tfjs's resizeBilinear (halfPixelCenters) on the cpu backend, as a reference. */
import { expect, test } from "bun:test"
import * as tf from "@tensorflow/tfjs"
import { resize } from "../../shared/data/index.ts"

test("bilinear resize matches tf.image.resizeBilinear(halfPixelCenters = true)", async () => {
  await tf.setBackend("cpu")
  // Other suites share this process (and tfjs's global engine): count this test's tensors only.
  const tensorsBefore = tf.memory().numTensors
  const [n, h, w, c] = [2, 7, 5, 3]
  const values = Float32Array.from({ length: n * h * w * c }, (_, i) => Math.sin(i * 0.7) * 10)
  const set = { images: values, labels: new Uint8Array(n), n, height: h, width: w, channels: c, classes: 1 }
  for (const [oh, ow] of [[11, 13], [3, 2], [7, 9], [1, 1]] as const) {
    const ours = resize(set, { height: oh, width: ow }).images
    const ref = tf.tidy(() => tf.image.resizeBilinear(tf.tensor4d(values, [n, h, w, c]), [oh, ow], false, true).dataSync())
    expect(ours.length).toBe(ref.length)
    let maxDiff = 0
    for (let i = 0; i < ref.length; i++) maxDiff = Math.max(maxDiff, Math.abs(ours[i]! - ref[i]!))
    expect(maxDiff).toBeLessThan(1e-4)
  }
  expect(tf.memory().numTensors).toBe(tensorsBefore)
})

test("nearest resize matches tf.image.resizeNearestNeighbor(halfPixelCenters = true)", async () => {
  await tf.setBackend("cpu")
  // Other suites share this process (and tfjs's global engine): count this test's tensors only.
  const tensorsBefore = tf.memory().numTensors
  const [n, h, w, c] = [1, 5, 6, 2]
  const values = Float32Array.from({ length: n * h * w * c }, (_, i) => i)
  const set = { images: values, labels: new Uint8Array(n), n, height: h, width: w, channels: c, classes: 1 }
  for (const [oh, ow] of [[11, 13], [3, 2], [10, 12]] as const) {
    const ours = Array.from(resize(set, { height: oh, width: ow, method: "nearest" }).images)
    const ref = tf.tidy(() => tf.image.resizeNearestNeighbor(tf.tensor4d(values, [n, h, w, c]), [oh, ow], false, true).dataSync())
    expect(ours).toEqual(Array.from(ref))
  }
  expect(tf.memory().numTensors).toBe(tensorsBefore)
})
