/**
 * A decoded ImageSet stored as one raw binary file, so the second load of an image folder is a single read.
 *
 * File layout:
 *   bytes 0..7   "LWISET01"
 *   bytes 8..11  uint32 LE: length H of the JSON header
 *   H bytes      JSON: { key, n, height, width, channels, classes, classNames, payloadSha256 }
 *   n bytes      labels
 *   n*h*w*c      images, uint8, NHWC
 * The entry is trusted only if the magic, the key, the exact length and the payload's SHA-256 all match; anything
 * else is reported as a corrupt entry (a miss, the caller rebuilds it), never a crash and never used.
 * Entries are written atomically (temp file + rename), so a crash mid-write leaves no entry at all.
 */
import { createHash } from "node:crypto"
import { readFile } from "node:fs/promises"
import { join } from "node:path"
import { writeFileAtomic } from "../atomic-write.ts"
import type { ImageSet } from "./types.ts"

const MAGIC = "LWISET01"

interface Header {
  readonly key: string
  readonly n: number
  readonly height: number
  readonly width: number
  readonly channels: number
  readonly classes: number
  readonly classNames: ReadonlyArray<string>
  readonly payloadSha256: string
}

export type CacheRead =
  | { readonly kind: "hit"; readonly set: ImageSet }
  | { readonly kind: "absent" }
  | { readonly kind: "corrupt"; readonly reason: string }

export const cacheFileFor = (cacheDir: string, key: string): string => join(cacheDir, `imageset-${key}.bin`)

const payloadHash = (labels: Uint8Array, images: Uint8Array): string =>
  createHash("sha256").update(labels).update(images).digest("hex")

export const readSetCache = async (file: string, key: string): Promise<CacheRead> => {
  let bytes: Uint8Array
  try {
    const buf = await readFile(file)
    bytes = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength)
  } catch (e) {
    const code = typeof e === "object" && e !== null && "code" in e ? String(e.code) : String(e)
    return code === "ENOENT" ? { kind: "absent" } : { kind: "corrupt", reason: `cannot be read (${code})` }
  }
  if (bytes.length < 12 || new TextDecoder().decode(bytes.subarray(0, 8)) !== MAGIC) {
    return { kind: "corrupt", reason: "bad magic (not an lwi image-set cache file)" }
  }
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset).getUint32(8, true)
  if (12 + headerLength > bytes.length) return { kind: "corrupt", reason: "header cut short (truncated)" }
  let h: Header
  try {
    h = JSON.parse(new TextDecoder().decode(bytes.subarray(12, 12 + headerLength))) as Header
  } catch {
    return { kind: "corrupt", reason: "header is not valid JSON" }
  }
  if (h.key !== key) return { kind: "corrupt", reason: "key does not match its file name" }
  const start = 12 + headerLength
  const imageLength = h.n * h.height * h.width * h.channels
  if (bytes.length !== start + h.n + imageLength) {
    return { kind: "corrupt", reason: `length ${bytes.length}, expected ${start + h.n + imageLength} (truncated?)` }
  }
  const labels = bytes.subarray(start, start + h.n)
  const images = bytes.subarray(start + h.n)
  if (payloadHash(labels, images) !== h.payloadSha256) return { kind: "corrupt", reason: "payload checksum mismatch" }
  return {
    kind: "hit",
    set: {
      images,
      labels,
      n: h.n,
      height: h.height,
      width: h.width,
      channels: h.channels,
      classes: h.classes,
      classNames: h.classNames
    }
  }
}

/** Writes `set` (uint8 images only) under `key`, atomically. */
export const writeSetCache = async (file: string, key: string, set: ImageSet): Promise<void> => {
  if (!(set.images instanceof Uint8Array)) throw new TypeError("writeSetCache: only uint8 image sets are cached")
  const header: Header = {
    key,
    n: set.n,
    height: set.height,
    width: set.width,
    channels: set.channels,
    classes: set.classes,
    classNames: set.classNames ?? [],
    payloadSha256: payloadHash(set.labels, set.images)
  }
  const json = new TextEncoder().encode(JSON.stringify(header))
  const prefix = new Uint8Array(12)
  prefix.set(new TextEncoder().encode(MAGIC))
  new DataView(prefix.buffer).setUint32(8, json.length, true)
  await writeFileAtomic(file, [prefix, json, set.labels, set.images])
}
