import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import { join } from "node:path"
import { loadCifar10, loadCifar100, loadCifarBatches, CIFAR10_FORMAT } from "../../shared/data/index.ts"
import { cifarBytes, cifarPixel, expectTagged, makeTempDir, write } from "./fixtures.ts"

let tmp: Awaited<ReturnType<typeof makeTempDir>>
beforeAll(async () => {
  tmp = await makeTempDir()
})
afterAll(() => tmp.cleanup())

/** Checks every value of set against the cifarBytes pattern, with `offset` = index of the first record. */
const expectPattern = (images: Uint8Array | Float32Array, n: number, offset = 0): void => {
  let bad = 0
  for (let i = 0; i < n; i++)
    for (let y = 0; y < 32; y++)
      for (let x = 0; x < 32; x++)
        for (let c = 0; c < 3; c++) if (images[((i * 32 + y) * 32 + x) * 3 + c] !== cifarPixel(i + offset, y, x, c)) bad++
  expect(bad).toBe(0)
}

describe("CIFAR-10 binary batches", () => {
  test("train = data_batch_1..5 concatenated, test = test_batch, planes interleaved to NHWC", async () => {
    const dir = join(tmp.dir, "cifar-10-batches-bin")
    // Batch b holds 2 records; record i of the whole set has label i mod 10 and pixel pattern index i.
    for (let b = 1; b <= 5; b++) {
      const recs = [0, 1].map((k) => 2 * (b - 1) + k)
      const bytes = cifarBytes(recs.map((i) => [i % 10]))
      // cifarBytes numbers records from 0; rebuild with the global index so the pattern runs across files.
      for (const [k, i] of recs.entries())
        for (let c = 0; c < 3; c++)
          for (let p = 0; p < 1024; p++) bytes[k * 3073 + 1 + c * 1024 + p] = cifarPixel(i, Math.floor(p / 32), p % 32, c)
      await write(join(dir, `data_batch_${b}.bin`), bytes)
    }
    await write(join(dir, "test_batch.bin"), cifarBytes([[3], [9], [0]]))
    await write(join(dir, "batches.meta.txt"), "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n")

    const train = await loadCifar10(dir, "train")
    expect([train.n, train.height, train.width, train.channels, train.classes]).toEqual([10, 32, 32, 3, 10])
    expect(Array.from(train.labels)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    expectPattern(train.images, 10)
    expect(train.classNames?.[9]).toBe("truck")

    const testSet = await loadCifar10(dir, "test")
    expect(Array.from(testSet.labels)).toEqual([3, 9, 0])
    expectPattern(testSet.images, 3)
  })

  test("a size that is not a multiple of 3073 is a BadDataFile naming the file", async () => {
    const f = await write(join(tmp.dir, "short.bin"), cifarBytes([[1], [2]]).subarray(0, 3073 + 100))
    const e = await expectTagged<{ problem: string }>(loadCifarBatches([f], CIFAR10_FORMAT), "BadDataFile", f)
    expect(e.problem).toContain("3073")
  })

  test("a CIFAR-100 file read as CIFAR-10 says so", async () => {
    const f = await write(join(tmp.dir, "c100-as-c10.bin"), cifarBytes([[1, 2], [3, 4], [5, 6]]))
    const e = await expectTagged<{ fix: string }>(loadCifarBatches([f], CIFAR10_FORMAT), "BadDataFile", f)
    expect(e.fix).toContain("CIFAR-100")
  })

  test("an empty file and an out-of-range label are BadDataFile", async () => {
    const empty = await write(join(tmp.dir, "empty.bin"), new Uint8Array(0))
    await expectTagged(loadCifarBatches([empty], CIFAR10_FORMAT), "BadDataFile", empty)
    const badLabel = await write(join(tmp.dir, "label.bin"), cifarBytes([[1], [10]]))
    await expectTagged(loadCifarBatches([badLabel], CIFAR10_FORMAT), "BadDataFile", badLabel)
  })

  test("a missing batch is a BadDataFile naming it", async () => {
    const dir = join(tmp.dir, "partial")
    await write(join(dir, "test_batch.bin"), cifarBytes([[1]]))
    await expectTagged(loadCifar10(dir, "train"), "BadDataFile", join(dir, "data_batch_1.bin"))
  })
})

describe("CIFAR-100 binary", () => {
  test("2 label bytes: fine or coarse labels, 3074-byte records", async () => {
    const dir = join(tmp.dir, "cifar-100-binary")
    await write(join(dir, "train.bin"), cifarBytes([[4, 99], [19, 0], [0, 57]]))
    await write(join(dir, "test.bin"), cifarBytes([[7, 7]]))
    await write(join(dir, "coarse_label_names.txt"), Array.from({ length: 20 }, (_, i) => `coarse${i}`).join("\n"))
    const fine = await loadCifar100(dir, "train")
    expect([fine.n, fine.classes]).toEqual([3, 100])
    expect(Array.from(fine.labels)).toEqual([99, 0, 57])
    expect(fine.classNames).toBeUndefined() // no fine_label_names.txt written
    expectPattern(fine.images, 3)
    const coarse = await loadCifar100(dir, "train", "coarse")
    expect([coarse.classes, ...coarse.labels]).toEqual([20, 4, 19, 0])
    expect(coarse.classNames?.[19]).toBe("coarse19")
    expect((await loadCifar100(dir, "test")).n).toBe(1)
  })

  test("a truncated CIFAR-100 file is a BadDataFile", async () => {
    const dir = join(tmp.dir, "c100-trunc")
    const f = await write(join(dir, "train.bin"), cifarBytes([[1, 2], [3, 4]]).subarray(0, 3074 * 2 - 1))
    await expectTagged(loadCifar100(dir, "train"), "BadDataFile", f)
  })
})
