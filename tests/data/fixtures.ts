/** Small real data files the data tests write for themselves, and a helper to check typed errors. */
import { expect } from "bun:test"
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { gzipSync } from "node:zlib"

/** A fresh temp dir and its cleanup. */
export const makeTempDir = async (prefix = "lwi-data-"): Promise<{ dir: string; cleanup: () => Promise<void> }> => {
  const dir = await mkdtemp(join(tmpdir(), prefix))
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) }
}

/** An IDX file's bytes: magic, big-endian dims, values. */
export const idxBytes = (magic: number, dims: ReadonlyArray<number>, values: Uint8Array): Uint8Array => {
  const out = new Uint8Array(4 + 4 * dims.length + values.length)
  const view = new DataView(out.buffer)
  view.setUint32(0, magic)
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d))
  out.set(values, 4 + 4 * dims.length)
  return out
}

export const write = async (path: string, bytes: Uint8Array | string): Promise<string> => {
  await mkdir(dirname(path), { recursive: true })
  await writeFile(path, bytes)
  return path
}

/** Deterministic little images: pixel (i, y, x) = (i * 31 + y * 7 + x * 3) mod 256. */
export const tinyImages = (n: number, h: number, w: number): Uint8Array =>
  Uint8Array.from({ length: n * h * w }, (_, k) => {
    const i = Math.floor(k / (h * w))
    const y = Math.floor((k % (h * w)) / w)
    const x = k % w
    return (i * 31 + y * 7 + x * 3) % 256
  })

/**
 * Writes an MNIST-layout folder (both splits) of tiny n×h×w sets, gzipped or raw.
 * Returns the values written so tests can compare exactly.
 */
export const writeMnistDir = async (
  dir: string,
  opts: { nTrain: number; nTest: number; h: number; w: number; gzip: boolean }
): Promise<{ train: { images: Uint8Array; labels: Uint8Array }; test: { images: Uint8Array; labels: Uint8Array } }> => {
  const out: Record<string, { images: Uint8Array; labels: Uint8Array }> = {}
  for (const [split, prefix, n] of [["train", "train", opts.nTrain], ["test", "t10k", opts.nTest]] as const) {
    const images = tinyImages(n, opts.h, opts.w)
    const labels = Uint8Array.from({ length: n }, (_, i) => (i * 3) % 10)
    const z = (b: Uint8Array) => (opts.gzip ? gzipSync(b) : b)
    const ext = opts.gzip ? ".gz" : ""
    await write(join(dir, `${prefix}-images-idx3-ubyte${ext}`), z(idxBytes(0x803, [n, opts.h, opts.w], images)))
    await write(join(dir, `${prefix}-labels-idx1-ubyte${ext}`), z(idxBytes(0x801, [n], labels)))
    out[split] = { images, labels }
  }
  return out as never
}

/**
 * CIFAR binary records, each filled so pixel (y, x) of channel c in record i is (i + c * 50 + y + x) mod 256.
 * `labelBytes` 1 (CIFAR-10: [label]) or 2 (CIFAR-100: [coarse, fine]).
 */
export const cifarBytes = (labels: ReadonlyArray<ReadonlyArray<number>>): Uint8Array => {
  const lb = labels[0]!.length
  const rec = lb + 3072
  const out = new Uint8Array(labels.length * rec)
  labels.forEach((ls, i) => {
    out.set(ls, i * rec)
    for (let c = 0; c < 3; c++)
      for (let y = 0; y < 32; y++)
        for (let x = 0; x < 32; x++) out[i * rec + lb + c * 1024 + y * 32 + x] = (i + c * 50 + y + x) % 256
  })
  return out
}

/** Expected NHWC value for the cifarBytes pattern. */
export const cifarPixel = (i: number, y: number, x: number, c: number): number => (i + c * 50 + y + x) % 256

/** Awaits `p`, expects it to throw a tagged error with `tag` whose message names `file`; returns the error. */
export const expectTagged = async <E = Record<string, unknown>>(
  p: Promise<unknown> | (() => unknown),
  tag: string,
  file?: string
): Promise<E> => {
  let error: unknown
  try {
    await (typeof p === "function" ? p() : p)
  } catch (e) {
    error = e
  }
  expect(error).toBeDefined()
  const e = error as { _tag?: string; message: string; file?: string }
  expect(e._tag).toBe(tag)
  if (file !== undefined) {
    expect(e.message).toContain(file)
    if (tag === "BadDataFile") expect(e.file).toBe(file)
  }
  return error as E
}
