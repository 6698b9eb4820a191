import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import { readdir, stat, truncate, utimes, writeFile } from "node:fs/promises"
import { join } from "node:path"
import sharp from "sharp"
import { listImageFolder, loadImageFolder, type CacheEvent } from "../../shared/data/index.ts"
import { expectTagged, makeTempDir, write } from "./fixtures.ts"

let tmp: Awaited<ReturnType<typeof makeTempDir>>
let root: string
beforeAll(async () => {
  tmp = await makeTempDir()
  root = join(tmp.dir, "imagenette-mini")
  await writeImagenette(root)
})
afterAll(() => tmp.cleanup())

/** Class colours: every image of a class is one solid colour, so any resize keeps it. */
const COLOURS: Record<string, [number, number, number]> = {
  n01440764: [200, 30, 30],
  n02102040: [30, 200, 30],
  n03000684: [30, 30, 200]
}

const solidJpeg = (w: number, h: number, [r, g, b]: [number, number, number]): Promise<Buffer> =>
  sharp({ create: { width: w, height: h, channels: 3, background: { r, g, b } } }).jpeg({ quality: 95 }).toBuffer()

/** train: 3 classes × 2 images of mixed sizes; val: 2 of the classes × 1 image. */
const writeImagenette = async (dir: string): Promise<void> => {
  const sizes: [number, number][] = [[40, 30], [30, 44]]
  for (const [cls, colour] of Object.entries(COLOURS)) {
    for (const [k, [w, h]] of sizes.entries()) await write(join(dir, "train", cls, `img_${k}.JPEG`), await solidJpeg(w, h, colour))
    if (cls !== "n02102040") await write(join(dir, "val", cls, "v.JPEG"), await solidJpeg(20, 20, colour))
  }
  await write(join(dir, "train", "n01440764", "notes.txt"), "not an image, ignored")
}

const pixel = (images: Uint8Array | Float32Array, size: number, i: number): number[] =>
  Array.from(images.subarray(i * size, i * size + 3))

describe("image folder (Imagenette layout)", () => {
  test("lists classes in sorted order and files per class", async () => {
    const listing = await listImageFolder(root, "train")
    expect(listing.classNames).toEqual(["n01440764", "n02102040", "n03000684"])
    expect(listing.files.map((f) => f.label)).toEqual([0, 0, 1, 1, 2, 2])
    expect(listing.files[0]!.path).toEndWith("n01440764/img_0.JPEG")
  })

  test("decodes and resizes every image to the given size, RGB, NHWC", async () => {
    const set = await loadImageFolder(root, { split: "train", size: { height: 16, width: 12 } })
    expect([set.n, set.height, set.width, set.channels, set.classes]).toEqual([6, 16, 12, 3, 3])
    expect(set.images.length).toBe(6 * 16 * 12 * 3)
    expect(Array.from(set.labels)).toEqual([0, 0, 1, 1, 2, 2])
    const size = 16 * 12 * 3
    for (let i = 0; i < 6; i++) {
      const want = COLOURS[set.classNames![set.labels[i]!]!]!
      // Solid colours survive JPEG to within a couple of levels; check the first and the last pixel.
      for (const at of [0, size - 3]) {
        const got = Array.from(set.images.subarray(i * size + at, i * size + at + 3))
        got.forEach((v, c) => expect(Math.abs(v - want[c]!)).toBeLessThanOrEqual(3))
      }
    }
  })

  test("a class only val has still gets the same number in train and val", async () => {
    const dir = join(tmp.dir, "val-extra")
    await write(join(dir, "train", "b", "1.jpg"), await solidJpeg(8, 8, [1, 2, 3]))
    await write(join(dir, "val", "a", "1.jpg"), await solidJpeg(8, 8, [1, 2, 3]))
    await write(join(dir, "val", "b", "1.jpg"), await solidJpeg(8, 8, [1, 2, 3]))
    const train = await loadImageFolder(dir, { split: "train" })
    const val = await loadImageFolder(dir, { split: "val" })
    expect(train.classNames).toEqual(["a", "b"])
    expect(val.classNames).toEqual(["a", "b"])
    expect(Array.from(train.labels)).toEqual([1])
    expect(Array.from(val.labels)).toEqual([0, 1])
  })

  test("the val split uses the train split's class numbering", async () => {
    const val = await loadImageFolder(root, { split: "val", size: { height: 8, width: 8 } })
    expect(val.classNames).toEqual(["n01440764", "n02102040", "n03000684"])
    expect(Array.from(val.labels)).toEqual([0, 2])
  })

  test("values equal sharp's own decode exactly (lossless PNGs, no resize)", async () => {
    const dir = join(tmp.dir, "png")
    const raws: Uint8Array[] = []
    for (const [k, cls] of ["a", "a", "b"].entries()) {
      const raw = Uint8Array.from({ length: 5 * 4 * 3 }, (_, j) => (j * 13 + k * 50) % 256)
      raws.push(raw)
      await write(join(dir, "train", cls, `${k}.png`), await sharp(raw, { raw: { width: 5, height: 4, channels: 3 } }).png().toBuffer())
    }
    const set = await loadImageFolder(dir, { split: "train" })
    expect([set.n, set.height, set.width]).toEqual([3, 4, 5])
    expect(Array.from(set.images)).toEqual(raws.flatMap((r) => Array.from(r)))
    expect(Array.from(set.labels)).toEqual([0, 0, 1])
  })

  test("gray images become 3 equal channels; channels: 1 gives gray", async () => {
    const dir = join(tmp.dir, "gray")
    const gray = await sharp(new Uint8Array(6 * 6).fill(77), { raw: { width: 6, height: 6, channels: 1 } }).jpeg().toBuffer()
    await write(join(dir, "train", "c", "g.jpg"), gray)
    const rgb = await loadImageFolder(dir, { split: "train" })
    expect(rgb.channels).toBe(3)
    const [r, g, b] = pixel(rgb.images, 6 * 6 * 3, 0)
    expect(r).toBe(g!)
    expect(g).toBe(b!)
    expect(Math.abs(r! - 77)).toBeLessThanOrEqual(2)
    const one = await loadImageFolder(dir, { split: "train", channels: 1 })
    expect([one.channels, one.images.length]).toEqual([1, 36])
  })
})

describe("decoded-set cache", () => {
  test("second load is a hit with identical data; a changed image is a miss", async () => {
    const cacheDir = join(tmp.dir, "cache-1")
    const events: CacheEvent[] = []
    const opts = { split: "train", size: { height: 10, width: 10 }, cacheDir, onCache: (e: CacheEvent) => events.push(e) }
    const first = await loadImageFolder(root, opts)
    expect(events.map((e) => e.kind)).toEqual(["miss", "written"])
    const files = await readdir(cacheDir)
    expect(files).toHaveLength(1)
    expect(files[0]).toMatch(/^imageset-[0-9a-f]{64}\.bin$/)

    const second = await loadImageFolder(root, opts)
    expect(events.map((e) => e.kind)).toEqual(["miss", "written", "hit"])
    expect(Array.from(second.images)).toEqual(Array.from(first.images))
    expect(Array.from(second.labels)).toEqual(Array.from(first.labels))
    expect(second.classNames).toEqual(first.classNames)

    // Other options are another entry.
    await loadImageFolder(root, { ...opts, size: { height: 6, width: 6 } })
    expect(events.at(-2)?.kind).toBe("miss")

    // Touching an image changes its mtime, so the key changes.
    const img = join(root, "train", "n02102040", "img_1.JPEG")
    await utimes(img, new Date(), new Date(Date.now() + 5000))
    await loadImageFolder(root, opts)
    expect(events.at(-2)?.kind).toBe("miss")
  })

  test("a hit decodes nothing: an image garbled behind the cache's back (same size and mtime) is not read", async () => {
    const dir = join(tmp.dir, "hit-no-decode")
    const img = await write(join(dir, "train", "a", "x.jpg"), await solidJpeg(12, 12, [50, 60, 70]))
    const mtime = new Date("2024-01-01T00:00:00Z") // whole seconds, so restoring it is exact
    await utimes(img, mtime, mtime)
    const { size } = await stat(img)
    const opts = { split: "train", cacheDir: join(tmp.dir, "cache-hit") }
    const first = await loadImageFolder(dir, opts)
    await writeFile(img, new Uint8Array(size).fill(0x42))
    await utimes(img, mtime, mtime)
    const second = await loadImageFolder(dir, opts)
    expect(Array.from(second.images)).toEqual(Array.from(first.images))
    // Without the cache the garbage is found.
    await expectTagged(loadImageFolder(dir, { split: "train" }), "BadDataFile", img)
  })

  test("a corrupt or truncated entry is discarded and rebuilt, never used", async () => {
    const cacheDir = join(tmp.dir, "cache-2")
    const events: CacheEvent[] = []
    const opts = { split: "val", size: { height: 4, width: 4 }, cacheDir, onCache: (e: CacheEvent) => events.push(e) }
    const good = await loadImageFolder(root, opts)
    const file = join(cacheDir, (await readdir(cacheDir))[0]!)

    // Flip the last byte: the payload checksum catches it.
    const bytes = new Uint8Array(await Bun.file(file).arrayBuffer())
    bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 0xff
    await writeFile(file, bytes)
    const rebuilt = await loadImageFolder(root, opts)
    expect(events.slice(-2)).toMatchObject([{ kind: "corrupt", reason: "payload checksum mismatch" }, { kind: "written" }])
    expect(Array.from(rebuilt.images)).toEqual(Array.from(good.images))

    await truncate(file, 30)
    await loadImageFolder(root, opts)
    expect(events.slice(-2).map((e) => e.kind)).toEqual(["corrupt", "written"])
    await loadImageFolder(root, opts)
    expect(events.at(-1)?.kind).toBe("hit")
  })
})

describe("bad image folders are BadDataFile naming the file, and write nothing to the cache", () => {
  const expectNoCache = async (cacheDir: string) =>
    expect(await readdir(cacheDir).catch(() => [] as string[])).toEqual([])

  test("an unreadable JPEG", async () => {
    const dir = join(tmp.dir, "bad-jpeg")
    await write(join(dir, "train", "a", "ok.JPEG"), await solidJpeg(8, 8, [1, 2, 3]))
    const bad = await write(join(dir, "train", "b", "broken.JPEG"), new TextEncoder().encode("this is not a jpeg"))
    const cacheDir = join(tmp.dir, "cache-bad-jpeg")
    const e = await expectTagged<{ problem: string }>(loadImageFolder(dir, { split: "train", size: { height: 8, width: 8 }, cacheDir }), "BadDataFile", bad)
    expect(e.problem).toContain("cannot be decoded")
    await expectNoCache(cacheDir)
  })

  test("a truncated JPEG", async () => {
    const dir = join(tmp.dir, "trunc-jpeg")
    const full = await solidJpeg(64, 64, [9, 9, 9])
    const bad = await write(join(dir, "train", "a", "cut.jpg"), full.subarray(0, Math.floor(full.length / 2)))
    const cacheDir = join(tmp.dir, "cache-trunc-jpeg")
    await expectTagged(loadImageFolder(dir, { split: "train", cacheDir }), "BadDataFile", bad)
    await expectNoCache(cacheDir)
  })

  test("an empty class folder", async () => {
    const dir = join(tmp.dir, "empty-class")
    await write(join(dir, "train", "a", "x.jpg"), await solidJpeg(8, 8, [1, 2, 3]))
    await write(join(dir, "train", "b", "readme.txt"), "no images here")
    const e = await expectTagged<{ problem: string; fix: string }>(loadImageFolder(dir, { split: "train" }), "BadDataFile", join(dir, "train", "b"))
    expect(e.problem).toContain("holds no images")
    expect(e.fix).toBe("add its images or delete the folder")
  })

  test("mixed sizes when no size is given", async () => {
    const dir = join(tmp.dir, "mixed")
    await write(join(dir, "train", "a", "1.png"), await sharp({ create: { width: 8, height: 8, channels: 3, background: "#123456" } }).png().toBuffer())
    const odd = await write(join(dir, "train", "a", "2.png"), await sharp({ create: { width: 9, height: 8, channels: 3, background: "#123456" } }).png().toBuffer())
    const cacheDir = join(tmp.dir, "cache-mixed")
    const e = await expectTagged<{ problem: string; fix: string }>(loadImageFolder(dir, { split: "train", cacheDir }), "BadDataFile", odd)
    expect(e.problem).toContain("9x8")
    expect(e.fix).toContain("size")
    await expectNoCache(cacheDir)
    // With a size the same folder loads.
    expect((await loadImageFolder(dir, { split: "train", size: { height: 8, width: 8 }, cacheDir })).n).toBe(2)
  })

  test("a missing split folder", async () => {
    await expectTagged(loadImageFolder(root, { split: "test" }), "BadDataFile", join(root, "test"))
  })

  test("a bad size is a BadConfig", async () => {
    await expectTagged(loadImageFolder(root, { split: "train", size: { height: 0, width: 4 } }), "BadConfig")
  })
})
