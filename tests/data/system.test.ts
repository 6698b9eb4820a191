/**
 * Full Fashion-MNIST as the pipelines find it (LWI_DATA, ./data, or Debian's dataset-fashion-mnist in
 * /usr/share/datasets/fashion-mnist), which CI requires: the headline figures are on it. Without it this test fails
 * saying how to install it; it is skipped only under LWI_ALLOW_MISSING=fashion-mnist.
 */
import { expect } from "bun:test"
import { createHash } from "node:crypto"
import { existsSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { gunzipSync } from "node:zlib"
import { computeStats, DATASET_STATS, labelHistogram, loadDataset, SOURCES, toFloat } from "../../shared/data/index.ts"
import { fashionMnistDir, requiring } from "../requirements.ts"

const test = await requiring("fashion-mnist")

test("full Fashion-MNIST: 60000/10000, 6000 per class, 0..255, fast, canonical content", async () => {
  const dir = await fashionMnistDir()
  const started = performance.now()
  const { set: train, located } = await loadDataset("fashion-mnist", "train", { dataDir: dir, download: false })
  const trainMs = performance.now() - started
  const { set: testSet } = await loadDataset("fashion-mnist", "test", { dataDir: dir, download: false })
  expect(located).toEqual({ name: "fashion-mnist", dir, source: "given" })
  expect([train.n, train.height, train.width, train.channels, train.classes]).toEqual([60000, 28, 28, 1, 10])
  expect(testSet.n).toBe(10000)
  expect(labelHistogram(train)).toEqual(new Array(10).fill(6000))
  expect(labelHistogram(testSet)).toEqual(new Array(10).fill(1000))
  let min = 255
  let max = 0
  for (const v of train.images) {
    if (v < min) min = v
    if (v > max) max = v
  }
  expect([min, max]).toEqual([0, 255])
  expect(trainMs).toBeLessThan(5000)
  console.log(`full Fashion-MNIST train split loaded in ${trainMs.toFixed(0)} ms`)

  // The documented normalization constants are what the train split measures.
  const { mean, std } = computeStats(train)
  expect(mean[0]!).toBeCloseTo(DATASET_STATS["fashion-mnist"].mean[0], 3)
  expect(std[0]!).toBeCloseTo(DATASET_STATS["fashion-mnist"].std[0], 3)
  expect(toFloat(train).images.length).toBe(60000 * 784)
  console.log(`measured train mean ${mean[0]!.toFixed(5)}, std ${std[0]!.toFixed(5)}`)

  // Debian re-gzips the files (so the .gz digests differ) but the content is the canonical one; so must any copy's.
  for (const f of SOURCES["fashion-mnist"].files) {
    const raw = readFileSync(join(dir, f.name.replace(/\.gz$/, "") + (existsSync(join(dir, f.name)) ? ".gz" : "")))
    const content = raw[0] === 0x1f && raw[1] === 0x8b ? gunzipSync(raw) : raw
    expect(`${f.name} ${createHash("sha256").update(content).digest("hex")}`).toBe(`${f.name} ${f.contentSha256}`)
  }
}, 60_000)
