/**
 * Small dataset folders for the bad-input corpus: a valid Fashion-MNIST-layout folder, CIFAR-10 and Imagenette
 * folders, and ways to break one file of each. Built on the data tests' own fixture writers.
 */
import { cp, rm, writeFile } from "node:fs/promises"
import { join } from "node:path"
import sharp from "sharp"
import { cifarBytes, idxBytes, tinyImages, write, writeMnistDir } from "../data/fixtures.ts"

/** 28×28 like Fashion-MNIST, 10 balanced classes: enough for a --quick run with small subsets. */
export const MNIST_SIZE = { nTrain: 200, nTest: 100, h: 28, w: 28 } as const

export const writeGoodMnist = (dir: string) => writeMnistDir(dir, { ...MNIST_SIZE, gzip: false })

export const TRAIN_IMAGES = "train-images-idx3-ubyte"
export const TRAIN_LABELS = "train-labels-idx1-ubyte"

/** A copy of `good` with one file replaced by `bytes` (and its `.gz` twin, if any, removed). */
export const mnistWith = async (good: string, dir: string, file: string, bytes: Uint8Array): Promise<string> => {
  await cp(good, dir, { recursive: true })
  await rm(join(dir, `${file}.gz`), { force: true })
  await writeFile(join(dir, file), bytes)
  return dir
}

export const idxImages = (n: number, h = 28, w = 28) => idxBytes(0x803, [n, h, w], tinyImages(n, h, w))
export const idxLabels = (labels: ReadonlyArray<number>) => idxBytes(0x801, [labels.length], Uint8Array.from(labels))

/** CIFAR-10 batches: 5 train files of 10 records and a test file; `replace` swaps one file's bytes. */
export const writeCifar10 = async (dir: string, replace?: { file: string; bytes: Uint8Array }): Promise<string> => {
  const batch = cifarBytes(Array.from({ length: 10 }, (_, i) => [i % 10]))
  for (const f of [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`).concat("test_batch.bin")) {
    await write(join(dir, f), f === replace?.file ? replace.bytes : batch)
  }
  return dir
}

export const solidJpeg = (w: number, h: number, shade: number): Promise<Buffer> =>
  sharp({ create: { width: w, height: h, channels: 3, background: { r: shade, g: 255 - shade, b: 90 } } })
    .jpeg({ quality: 90 })
    .toBuffer()

/** Imagenette layout: 2 classes × 4 train / 2 val images; `bad` replaces the first train image's bytes. */
export const writeImagenette = async (dir: string, bad?: Uint8Array | "no-images"): Promise<string> => {
  for (const [c, cls] of ["n01440764", "n02102040"].entries()) {
    for (let k = 0; k < 4; k++) await write(join(dir, "train", cls, `img_${k}.JPEG`), await solidJpeg(40, 32, 60 * c + 20 * k))
    for (let k = 0; k < 2; k++) await write(join(dir, "val", cls, `v_${k}.JPEG`), await solidJpeg(36, 36, 50 * c + 30 * k))
  }
  if (bad === "no-images") {
    await write(join(dir, "train", "n03000684", "readme.txt"), "a class folder without images")
  } else if (bad) {
    await write(join(dir, "train", "n01440764", "img_0.JPEG"), bad)
  }
  return dir
}

/** A JPEG cut in the middle of its entropy-coded data. */
export const truncatedJpeg = async (): Promise<Uint8Array> => {
  const full = await solidJpeg(64, 48, 128)
  return new Uint8Array(full.subarray(0, Math.floor(full.length * 0.6)))
}

/** JPEG magic, then noise: a file that claims to be a JPEG and is not one. */
export const garbageJpeg = (): Uint8Array => Uint8Array.from({ length: 2048 }, (_, i) => (i < 3 ? [0xff, 0xd8, 0xff][i]! : (i * 131) % 251))
