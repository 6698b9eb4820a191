import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import { readFile } from "node:fs/promises"
import { join } from "node:path"
import { gzipSync } from "node:zlib"
import { loadIdxPair, loadMnistLike, parseIdx } from "../../shared/data/index.ts"
import { expectTagged, idxBytes, makeTempDir, tinyImages, write, writeMnistDir } from "./fixtures.ts"

let tmp: Awaited<ReturnType<typeof makeTempDir>>
beforeAll(async () => {
  tmp = await makeTempDir()
})
afterAll(() => tmp.cleanup())

describe("IDX loader", () => {
  for (const gzip of [true, false]) {
    test(`loads an MNIST-layout folder exactly (${gzip ? "gzipped" : "raw"})`, async () => {
      const dir = join(tmp.dir, gzip ? "gz" : "raw")
      const written = await writeMnistDir(dir, { nTrain: 7, nTest: 3, h: 5, w: 4, gzip })
      for (const split of ["train", "test"] as const) {
        const set = await loadMnistLike(dir, split, { classNames: ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"] })
        expect(set.n).toBe(split === "train" ? 7 : 3)
        expect([set.height, set.width, set.channels, set.classes]).toEqual([5, 4, 1, 10])
        expect(set.images).toBeInstanceOf(Uint8Array)
        expect(Array.from(set.images)).toEqual(Array.from(written[split].images))
        expect(Array.from(set.labels)).toEqual(Array.from(written[split].labels))
        expect(set.classNames?.[3]).toBe("d")
      }
    })
  }

  test("pixel (i, y, x) sits at NHWC offset (i*h + y)*w + x", async () => {
    const set = await loadMnistLike(join(tmp.dir, "gz"), "train")
    // tinyImages pattern: (i * 31 + y * 7 + x * 3) mod 256
    expect(set.images[(6 * 5 + 4) * 4 + 3]).toBe((6 * 31 + 4 * 7 + 3 * 3) % 256)
  })

  test("a .gz name holding raw bytes is read by content", async () => {
    const f = await write(join(tmp.dir, "sniff", "x.gz"), idxBytes(0x801, [2], Uint8Array.of(4, 5)))
    const labels = parseIdx(new Uint8Array(await readFile(f)), f, 1)
    expect(Array.from(labels.data)).toEqual([4, 5])
  })
})

describe("IDX corruption is a BadDataFile naming the file", () => {
  const images = idxBytes(0x803, [4, 3, 3], tinyImages(4, 3, 3))
  const labels = idxBytes(0x801, [4], Uint8Array.of(0, 1, 2, 3))

  test("wrong magic number", async () => {
    const img = await write(join(tmp.dir, "bad-magic", "img"), idxBytes(0x0c03, [4, 3, 3], tinyImages(4, 3, 3)))
    const lab = await write(join(tmp.dir, "bad-magic", "lab"), labels)
    const e = await expectTagged<{ problem: string }>(loadIdxPair(img, lab), "BadDataFile", img)
    expect(e.problem).toContain("0x00000c03")
    expect(e.problem).toContain("0x00000803")
  })

  test("swapped image and label files", async () => {
    const img = await write(join(tmp.dir, "swapped", "img"), labels)
    const lab = await write(join(tmp.dir, "swapped", "lab"), images)
    const e = await expectTagged<{ fix: string }>(loadIdxPair(img, lab), "BadDataFile", img)
    expect(e.fix).toContain("swapped")
  })

  test("truncated raw file", async () => {
    const img = await write(join(tmp.dir, "trunc", "img"), images.subarray(0, images.length - 5))
    const lab = await write(join(tmp.dir, "trunc", "lab"), labels)
    const e = await expectTagged<{ problem: string }>(loadIdxPair(img, lab), "BadDataFile", img)
    expect(e.problem).toContain("truncated")
  })

  test("truncated header", async () => {
    const lab = await write(join(tmp.dir, "trunc-header", "lab"), labels.subarray(0, 6))
    await expectTagged(loadIdxPair(await write(join(tmp.dir, "trunc-header", "img"), images), lab), "BadDataFile", lab)
  })

  test("truncated gzip stream", async () => {
    const gz = gzipSync(images)
    const img = await write(join(tmp.dir, "trunc-gz", "img.gz"), gz.subarray(0, gz.length - 20))
    const lab = await write(join(tmp.dir, "trunc-gz", "lab"), labels)
    const e = await expectTagged<{ problem: string }>(loadIdxPair(img, lab), "BadDataFile", img)
    expect(e.problem).toContain("gzip")
  })

  test("trailing bytes after the values", async () => {
    const img = await write(join(tmp.dir, "trailing", "img"), Uint8Array.from([...images, 1, 2]))
    const lab = await write(join(tmp.dir, "trailing", "lab"), labels)
    await expectTagged(loadIdxPair(img, lab), "BadDataFile", img)
  })

  test("image and label counts differ", async () => {
    const img = await write(join(tmp.dir, "count", "img"), images)
    const lab = await write(join(tmp.dir, "count", "lab"), idxBytes(0x801, [3], Uint8Array.of(0, 1, 2)))
    const e = await expectTagged<{ problem: string }>(loadIdxPair(img, lab), "BadDataFile", lab)
    expect(e.problem).toContain("3 labels")
    expect(e.problem).toContain("4 images")
  })

  test("a label outside the classes", async () => {
    const img = await write(join(tmp.dir, "label-range", "img"), images)
    const lab = await write(join(tmp.dir, "label-range", "lab"), idxBytes(0x801, [4], Uint8Array.of(0, 1, 12, 3)))
    await expectTagged(loadIdxPair(img, lab), "BadDataFile", lab)
  })

  test("wrong image dimensions where a size is required", async () => {
    const img = await write(join(tmp.dir, "dims", "img"), images)
    const lab = await write(join(tmp.dir, "dims", "lab"), labels)
    const e = await expectTagged<{ problem: string }>(loadIdxPair(img, lab, { expectSize: { height: 28, width: 28 } }), "BadDataFile", img)
    expect(e.problem).toContain("3x3")
    expect(e.problem).toContain("28x28")
  })

  test("a zero dimension", async () => {
    const img = await write(join(tmp.dir, "zero", "img"), idxBytes(0x803, [4, 0, 3], new Uint8Array(0)))
    await expectTagged(loadIdxPair(img, await write(join(tmp.dir, "zero", "lab"), labels)), "BadDataFile", img)
  })

  test("a missing file", async () => {
    const dir = join(tmp.dir, "half")
    await write(join(dir, "train-images-idx3-ubyte.gz"), gzipSync(images))
    await expectTagged(loadMnistLike(dir, "train"), "BadDataFile", join(dir, "train-labels-idx1-ubyte.gz"))
  })
})
