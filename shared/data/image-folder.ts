/**
 * Image folders in the Imagenette / torchvision ImageFolder layout:
 *   <root>/<split>/<class>/<image>.JPEG     e.g. imagenette2-160/train/n01440764/ILSVRC2012_val_00000293.JPEG
 * Class k is the k-th class folder name in sorted order, taken over `<root>/train`, `<root>/val` and `<root>/<split>`
 * together so every split agrees on label numbers. Images (.jpeg .jpg .png .webp, any case) are decoded with sharp to RGB (or
 * gray) bytes and resized to `size`; without `size` every image must already have the size of the first one.
 *
 * With `cacheDir`, the decoded set is stored as one raw file (see set-cache.ts) keyed by the options and every
 * image's path, byte size and mtime; the next load with the same key is one read. A failed load writes nothing.
 */
import { availableParallelism } from "node:os"
import { readdir, stat } from "node:fs/promises"
import { extname, join, resolve } from "node:path"
import sharp from "sharp"
import { BadConfig, BadDataFile } from "../errors.ts"
import { isDirectory, readDataFile } from "./files.ts"
import { makeCodeHasher } from "../engine/code.ts"
import { canonicalJson, sha256Hex } from "../engine/hash.ts"
import { cacheFileFor, readSetCache, writeSetCache } from "./set-cache.ts"
import type { ImageSet } from "./types.ts"

const IMAGE_EXTENSIONS = new Set([".jpeg", ".jpg", ".png", ".webp"])

export type CacheEvent =
  | { readonly kind: "hit"; readonly file: string }
  | { readonly kind: "miss"; readonly file: string }
  | { readonly kind: "corrupt"; readonly file: string; readonly reason: string }
  | { readonly kind: "written"; readonly file: string }

export interface ImageFolderOptions {
  /** Sub-folder of the root: "train" or "val" for Imagenette. */
  readonly split: string
  /** Output size. Omitted: keep the images' own size, which must then be the same for all. */
  readonly size?: { readonly height: number; readonly width: number }
  /**
   * How to reach `size` when the aspect ratio differs. "cover" (default): scale so the image covers the target, then
   * centre-crop — no distortion, the usual ImageNet-style preprocessing. "fill": stretch to the exact size.
   */
  readonly fit?: "cover" | "fill"
  /** 3 (default): RGB, gray and CMYK images converted to sRGB. 1: converted to gray. */
  readonly channels?: 1 | 3
  /** Where to keep decoded sets; omitted means no cache. */
  readonly cacheDir?: string
  /** Images decoded at once. Default: the number of cores. */
  readonly concurrency?: number
  /** Told about every cache lookup and write (hit / miss / corrupt entry discarded / written). */
  readonly onCache?: (event: CacheEvent) => void
}

export interface ImageFolderListing {
  readonly classNames: ReadonlyArray<string>
  /** Files in class order, then file-name order. */
  readonly files: ReadonlyArray<{ readonly path: string; readonly label: number }>
}

const sortedNames = (names: string[]): string[] => names.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))

const subfolders = async (dir: string): Promise<string[]> =>
  sortedNames((await readdir(dir, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name))

/** Lists `<root>/<split>`: class names and image files with labels. Empty class folders are errors. */
export const listImageFolder = async (root: string, split: string): Promise<ImageFolderListing> => {
  const splitDir = join(root, split)
  if (!(await isDirectory(splitDir))) {
    throw new BadDataFile({
      file: splitDir,
      problem: "split folder does not exist",
      fix: `expected the layout ${root}/${split}/<class>/<image>.JPEG`
    })
  }
  // Class numbering comes from train ∪ val ∪ this split, so every split numbers the classes the same way.
  const classSet = new Set<string>()
  for (const dir of new Set([join(root, "train"), join(root, "val"), splitDir])) {
    if (await isDirectory(dir)) for (const c of await subfolders(dir)) classSet.add(c)
  }
  const classNames = sortedNames([...classSet])
  if (classNames.length === 0) {
    throw new BadDataFile({ file: splitDir, problem: "no class folders", fix: `put images in ${splitDir}/<class>/` })
  }
  if (classNames.length > 256) {
    throw new BadDataFile({ file: splitDir, problem: `${classNames.length} class folders; labels are bytes, at most 256` })
  }
  const files: { path: string; label: number }[] = []
  for (const [label, name] of classNames.entries()) {
    const dir = join(splitDir, name)
    if (!(await isDirectory(dir))) continue // a class only another split has
    const entries = (await readdir(dir, { withFileTypes: true }))
      .filter((e) => e.isFile() && IMAGE_EXTENSIONS.has(extname(e.name).toLowerCase()))
      .map((e) => e.name)
    if (entries.length === 0) {
      throw new BadDataFile({
        file: dir,
        problem: "class folder holds no images (.jpeg, .jpg, .png, .webp)",
        fix: "add its images or delete the folder"
      })
    }
    for (const f of sortedNames(entries)) files.push({ path: join(dir, f), label })
  }
  return { classNames, files }
}

interface Decoded {
  readonly data: Uint8Array
  readonly height: number
  readonly width: number
}

const decode = async (file: string, opts: ImageFolderOptions): Promise<Decoded> => {
  const bytes = await readDataFile(file)
  try {
    // failOn "truncated": a cut-off or corrupt image is an error; harmless libjpeg warnings are not.
    let img = sharp(bytes, { failOn: "truncated" }).rotate()
    if (opts.size) img = img.resize(opts.size.width, opts.size.height, { fit: opts.fit ?? "cover", position: "centre" })
    img = img.removeAlpha()
    img = (opts.channels ?? 3) === 1 ? img.greyscale() : img.toColourspace("srgb")
    const { data, info } = await img.raw().toBuffer({ resolveWithObject: true })
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), height: info.height, width: info.width }
  } catch (e) {
    throw new BadDataFile({
      file,
      problem: `cannot be decoded as an image (${e instanceof Error ? e.message.split("\n")[0] : String(e)})`,
      fix: "delete or replace the file"
    })
  }
}

/** Runs `work(0..count-1)` with at most `limit` in flight; stops starting new work after the first failure. */
const runPool = async (count: number, limit: number, work: (i: number) => Promise<void>): Promise<void> => {
  let next = 0
  const failure: { error?: unknown } = {}
  const worker = async (): Promise<void> => {
    while (!("error" in failure) && next < count) {
      const i = next++
      try {
        await work(i)
      } catch (e) {
        if (!("error" in failure)) failure.error = e
      }
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, count)) }, worker))
  if ("error" in failure) throw failure.error
}

const decodeAll = async (listing: ImageFolderListing, opts: ImageFolderOptions): Promise<ImageSet> => {
  const { files, classNames } = listing
  const channels = opts.channels ?? 3
  const first = await decode(files[0]!.path, opts)
  const { height, width } = first
  const size = height * width * channels
  const images = new Uint8Array(files.length * size)
  const labels = Uint8Array.from(files, (f) => f.label)
  const place = (i: number, d: Decoded): void => {
    if (d.height !== height || d.width !== width || d.data.length !== size) {
      throw new BadDataFile({
        file: files[i]!.path,
        problem: `is ${d.width}x${d.height} but ${files[0]!.path} is ${width}x${height}; without a size all images must match`,
        fix: "pass a size to resize every image to"
      })
    }
    images.set(d.data, i * size)
  }
  place(0, first)
  await runPool(files.length - 1, opts.concurrency ?? availableParallelism(), async (k) => place(k + 1, await decode(files[k + 1]!.path, opts)))
  return { images, labels, n: files.length, height, width, channels, classes: classNames.length, classNames }
}

const validate = (opts: ImageFolderOptions): void => {
  if (opts.size) {
    for (const [field, v] of [["height", opts.size.height], ["width", opts.size.width]] as const) {
      if (!Number.isSafeInteger(v) || v < 1) throw new BadConfig({ field: `size.${field}`, value: String(v), expected: "an integer >= 1" })
    }
  }
  if (opts.concurrency !== undefined && !(Number.isSafeInteger(opts.concurrency) && opts.concurrency >= 1)) {
    throw new BadConfig({ field: "concurrency", value: String(opts.concurrency), expected: "an integer >= 1" })
  }
}

/** Loads one split of an image folder as uint8 NHWC, through the cache when `cacheDir` is given. */
export const loadImageFolder = async (root: string, opts: ImageFolderOptions): Promise<ImageSet> => {
  validate(opts)
  const listing = await listImageFolder(root, opts.split)
  if (opts.cacheDir === undefined) return decodeAll(listing, opts)
  const stats = await Promise.all(listing.files.map((f) => stat(f.path)))
  // lwi's one canonical hash: NaN or a typed array in here is an error, never a key shared with `null`.
  const key = sha256Hex(canonicalJson({
    format: "lwi-image-folder",
    // The decoding code (this module, what it imports, sharp's version): an edit re-decodes, no version to bump.
    code: makeCodeHasher().fingerprint(import.meta.url).hash,
    root: resolve(root),
    split: opts.split,
    size: opts.size ?? null,
    fit: opts.fit ?? "cover",
    channels: opts.channels ?? 3,
    classNames: listing.classNames,
    files: listing.files.map((f, i) => [f.path, f.label, stats[i]!.size, stats[i]!.mtimeMs])
  }))
  const file = cacheFileFor(opts.cacheDir, key)
  const cached = await readSetCache(file, key)
  if (cached.kind === "hit") {
    opts.onCache?.({ kind: "hit", file })
    return cached.set
  }
  opts.onCache?.(cached.kind === "corrupt" ? { kind: "corrupt", file, reason: cached.reason } : { kind: "miss", file })
  const set = await decodeAll(listing, opts)
  await writeSetCache(file, key, set)
  opts.onCache?.({ kind: "written", file })
  return set
}
