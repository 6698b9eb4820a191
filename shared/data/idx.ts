/**
 * IDX files (MNIST, Fashion-MNIST), gzipped or raw.
 *
 * Format (big-endian): 2 zero bytes, a type byte (0x08 = unsigned byte, the only type these datasets use), a byte
 * with the number of dimensions, one uint32 per dimension, then the values row-major. So images have magic
 * 0x00000803 and dims [n, rows, cols]; labels have magic 0x00000801 and dims [n].
 * Parsing is a header check plus a typed-array view on the (gunzipped) buffer: no per-pixel work.
 */
import { join } from "node:path"
import { BadDataFile } from "../errors.ts"
import { gunzipIfNeeded, isFile, readDataFile } from "./files.ts"
import type { ImageSet, Split } from "./types.ts"

export const IDX_IMAGES_MAGIC = 0x00000803
export const IDX_LABELS_MAGIC = 0x00000801

const hex = (m: number): string => `0x${m.toString(16).padStart(8, "0")}`

export interface IdxArray {
  readonly dims: ReadonlyArray<number>
  /** The values, a view on the file's bytes (no copy). */
  readonly data: Uint8Array
}

/** Parses an IDX buffer of unsigned bytes with `rank` dimensions. `file` only names the source in errors. */
export const parseIdx = (bytes: Uint8Array, file: string, rank: 1 | 3): IdxArray => {
  const expected = rank === 3 ? IDX_IMAGES_MAGIC : IDX_LABELS_MAGIC
  const what = rank === 3 ? "an IDX image file" : "an IDX label file"
  if (bytes.length < 4) {
    throw new BadDataFile({
      file,
      problem: `only ${bytes.length} bytes, too short for an IDX header (truncated)`,
      fix: "delete the file and download it again"
    })
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const magic = view.getUint32(0)
  if (magic !== expected) {
    const swapped = magic === IDX_IMAGES_MAGIC || magic === IDX_LABELS_MAGIC
    throw new BadDataFile({
      file,
      problem: `magic number ${hex(magic)}, expected ${hex(expected)} (${what})`,
      fix: swapped
        ? "the image and label files look swapped"
        : "this is not an unsigned-byte IDX file; check the file name and re-download it"
    })
  }
  const headerLength = 4 + 4 * rank
  if (bytes.length < headerLength) {
    throw new BadDataFile({
      file,
      problem: `header cut short: ${bytes.length} bytes, need ${headerLength} (truncated)`,
      fix: "delete the file and download it again"
    })
  }
  const dims: number[] = []
  for (let d = 0; d < rank; d++) dims.push(view.getUint32(4 + 4 * d))
  if (dims.some((d) => d === 0)) {
    throw new BadDataFile({
      file,
      problem: `a dimension is zero: [${dims.join(", ")}] (the file holds no ${rank === 3 ? "images" : "labels"})`,
      fix: "delete the file and download it again"
    })
  }
  const count = dims.reduce((a, b) => a * b, 1)
  const actual = bytes.length - headerLength
  if (actual !== count) {
    throw new BadDataFile({
      file,
      problem:
        actual < count
          ? `truncated: header says [${dims.join(" x ")}] = ${count} values but only ${actual} bytes follow`
          : `${actual - count} unexpected bytes after the [${dims.join(" x ")}] values`,
      fix: "delete the file and download it again"
    })
  }
  return { dims, data: new Uint8Array(bytes.buffer, bytes.byteOffset + headerLength, count) }
}

/** Reads (and gunzips when needed) one IDX file. */
export const readIdxFile = async (file: string, rank: 1 | 3): Promise<IdxArray> =>
  parseIdx(gunzipIfNeeded(await readDataFile(file), file), file, rank)

export interface IdxPairOptions {
  /** Number of classes; every label must be below it. Default 10 (MNIST, Fashion-MNIST). */
  readonly classes?: number
  readonly classNames?: ReadonlyArray<string>
  /** When given, images of another size are a BadDataFile (MNIST and Fashion-MNIST are 28×28). */
  readonly expectSize?: { readonly height: number; readonly width: number }
}

/** Loads an image file and its label file into one ImageSet (NHWC, 1 channel, raw bytes). */
export const loadIdxPair = async (imagesFile: string, labelsFile: string, opts: IdxPairOptions = {}): Promise<ImageSet> => {
  // Images first, then labels: when both are bad, the images file is the one reported, every time.
  const images = await readIdxFile(imagesFile, 3)
  const labels = await readIdxFile(labelsFile, 1)
  const [n, height, width] = images.dims as [number, number, number]
  const want = opts.expectSize
  if (want && (height !== want.height || width !== want.width)) {
    throw new BadDataFile({
      file: imagesFile,
      problem: `images are ${height}x${width}, expected ${want.height}x${want.width}`,
      fix: "this file belongs to another dataset; check the folder"
    })
  }
  const nLabels = labels.dims[0]!
  if (nLabels !== n) {
    throw new BadDataFile({
      file: labelsFile,
      problem: `${nLabels} labels but ${imagesFile} holds ${n} images`,
      fix: "the two files come from different splits or versions; use the matching pair"
    })
  }
  const classes = opts.classes ?? 10
  const data = labels.data
  for (let i = 0; i < n; i++) {
    if (data[i]! >= classes) {
      throw new BadDataFile({
        file: labelsFile,
        problem: `label ${data[i]} at index ${i} is not below ${classes} classes`,
        fix: `check the file belongs to a ${classes}-class dataset, or delete it and download it again`
      })
    }
  }
  return {
    images: images.data,
    labels: data,
    n,
    height,
    width,
    channels: 1,
    classes,
    ...(opts.classNames ? { classNames: opts.classNames } : {})
  }
}

/** The canonical MNIST file names of a split, without `.gz`. */
export const mnistFileNames = (split: Split): { readonly images: string; readonly labels: string } => {
  const prefix = split === "train" ? "train" : "t10k"
  return { images: `${prefix}-images-idx3-ubyte`, labels: `${prefix}-labels-idx1-ubyte` }
}

/** `<dir>/<name>.gz` if it exists, else `<dir>/<name>` if it exists, else undefined. */
export const findIdxFile = async (dir: string, name: string): Promise<string | undefined> => {
  for (const candidate of [join(dir, `${name}.gz`), join(dir, name)]) {
    if (await isFile(candidate)) return candidate
  }
  return undefined
}

/**
 * Loads one split of an MNIST-layout directory (`train-images-idx3-ubyte[.gz]`, `t10k-labels-idx1-ubyte[.gz]`...).
 * A missing file is a BadDataFile naming the `.gz` path it looked for.
 */
export const loadMnistLike = async (dir: string, split: Split, opts: IdxPairOptions = {}): Promise<ImageSet> => {
  const names = mnistFileNames(split)
  const [images, labels] = await Promise.all([findIdxFile(dir, names.images), findIdxFile(dir, names.labels)])
  return loadIdxPair(images ?? join(dir, `${names.images}.gz`), labels ?? join(dir, `${names.labels}.gz`), opts)
}
