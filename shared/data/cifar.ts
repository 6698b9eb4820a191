/**
 * CIFAR-10 / CIFAR-100 binary batches (the "binary version" from https://www.cs.toronto.edu/~kriz/cifar.html).
 *
 * A batch is a sequence of records: the label byte(s), then 3072 pixel bytes — 1024 red, 1024 green, 1024 blue,
 * each a 32×32 plane row-major (CHW). CIFAR-10 records have 1 label byte (1 + 3072 = 3073 bytes); CIFAR-100
 * records have 2 (coarse label, then fine label: 3074 bytes). Loaders return NHWC, so planes are interleaved here.
 */
import { join } from "node:path"
import { BadDataFile } from "../errors.ts"
import { isFile, readDataFile } from "./files.ts"
import type { ImageSet, Split } from "./types.ts"

export const CIFAR_SIDE = 32
export const CIFAR_PIXELS = 3 * CIFAR_SIDE * CIFAR_SIDE

export const CIFAR10_CLASS_NAMES = [
  "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"
] as const

export interface CifarFormat {
  /** 1 for CIFAR-10, 2 for CIFAR-100. */
  readonly labelBytes: 1 | 2
  /** Which label byte is the label: 0 for CIFAR-10 and CIFAR-100 coarse, 1 for CIFAR-100 fine. */
  readonly labelIndex: 0 | 1
  /** Labels must be below this (10, 20 coarse, 100 fine). */
  readonly classes: number
}

export const CIFAR10_FORMAT: CifarFormat = { labelBytes: 1, labelIndex: 0, classes: 10 }
export const CIFAR100_FINE_FORMAT: CifarFormat = { labelBytes: 2, labelIndex: 1, classes: 100 }
export const CIFAR100_COARSE_FORMAT: CifarFormat = { labelBytes: 2, labelIndex: 0, classes: 20 }

/** Parses one batch file's bytes into NHWC images and labels. `file` only names the source in errors. */
export const parseCifarBatch = (
  bytes: Uint8Array,
  file: string,
  format: CifarFormat
): { readonly images: Uint8Array; readonly labels: Uint8Array; readonly n: number } => {
  const record = format.labelBytes + CIFAR_PIXELS
  if (bytes.length === 0) {
    throw new BadDataFile({ file, problem: "file is empty", fix: "delete the file and download the dataset again" })
  }
  if (bytes.length % record !== 0) {
    const other = format.labelBytes === 1 ? "CIFAR-100 (2 label bytes)" : "CIFAR-10 (1 label byte)"
    throw new BadDataFile({
      file,
      problem: `size ${bytes.length} is not a multiple of the ${record}-byte record (${Math.floor(bytes.length / record)} whole records and ${bytes.length % record} bytes left over)`,
      fix:
        bytes.length % (record === 3073 ? 3074 : 3073) === 0
          ? `the size fits ${other}: check which dataset this file belongs to`
          : "the file is truncated or not a CIFAR binary batch; download it again"
    })
  }
  const n = bytes.length / record
  const plane = CIFAR_SIDE * CIFAR_SIDE
  const images = new Uint8Array(n * CIFAR_PIXELS)
  const labels = new Uint8Array(n)
  for (let i = 0; i < n; i++) {
    const at = i * record
    const label = bytes[at + format.labelIndex]!
    if (label >= format.classes) {
      throw new BadDataFile({
        file,
        problem: `record ${i} has label ${label}, not below ${format.classes} classes`,
        fix: "check the file is a CIFAR batch of the expected kind (CIFAR-10 vs CIFAR-100)"
      })
    }
    labels[i] = label
    const src = at + format.labelBytes
    const dst = i * CIFAR_PIXELS
    for (let p = 0; p < plane; p++) {
      const o = dst + 3 * p
      images[o] = bytes[src + p]!
      images[o + 1] = bytes[src + plane + p]!
      images[o + 2] = bytes[src + 2 * plane + p]!
    }
  }
  return { images, labels, n }
}

/** Loads and concatenates batch files, in the given order. */
export const loadCifarBatches = async (
  files: ReadonlyArray<string>,
  format: CifarFormat,
  classNames?: ReadonlyArray<string>
): Promise<ImageSet> => {
  // One file after the other: the first bad file in the list is the one reported, every time.
  const parts: ReturnType<typeof parseCifarBatch>[] = []
  for (const f of files) parts.push(parseCifarBatch(await readDataFile(f), f, format))
  const n = parts.reduce((a, p) => a + p.n, 0)
  const images = new Uint8Array(n * CIFAR_PIXELS)
  const labels = new Uint8Array(n)
  let at = 0
  for (const p of parts) {
    images.set(p.images, at * CIFAR_PIXELS)
    labels.set(p.labels, at)
    at += p.n
  }
  return {
    images,
    labels,
    n,
    height: CIFAR_SIDE,
    width: CIFAR_SIDE,
    channels: 3,
    classes: format.classes,
    ...(classNames && classNames.length === format.classes ? { classNames } : {})
  }
}

/** Non-empty trimmed lines of a text file, or undefined when the file is absent. */
const readNames = async (file: string): Promise<string[] | undefined> => {
  if (!(await isFile(file))) return undefined
  const text = new TextDecoder().decode(await readDataFile(file))
  return text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l.length > 0)
}

export const cifar10Files = (split: Split): string[] =>
  split === "train" ? [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`) : ["test_batch.bin"]

export const cifar100Files = (split: Split): string[] => [split === "train" ? "train.bin" : "test.bin"]

/** One split of a `cifar-10-batches-bin` directory. Class names from `batches.meta.txt`, else the standard list. */
export const loadCifar10 = async (dir: string, split: Split): Promise<ImageSet> => {
  const names = (await readNames(join(dir, "batches.meta.txt"))) ?? [...CIFAR10_CLASS_NAMES]
  return loadCifarBatches(cifar10Files(split).map((f) => join(dir, f)), CIFAR10_FORMAT, names)
}

/** One split of a `cifar-100-binary` directory, with fine (100) or coarse (20) labels. */
export const loadCifar100 = async (
  dir: string,
  split: Split,
  labels: "fine" | "coarse" = "fine"
): Promise<ImageSet> => {
  const format = labels === "fine" ? CIFAR100_FINE_FORMAT : CIFAR100_COARSE_FORMAT
  const names = await readNames(join(dir, `${labels}_label_names.txt`))
  return loadCifarBatches(cifar100Files(split).map((f) => join(dir, f)), format, names)
}
