import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import { execFileSync } from "node:child_process"
import { createHash } from "node:crypto"
import { once } from "node:events"
import { mkdir, readdir } from "node:fs/promises"
import { createServer, type AddressInfo, type Server } from "node:net"
import { join } from "node:path"
import { gzipSync } from "node:zlib"
import {
  DATASETS,
  DownloadFailed,
  downloadArchive,
  downloadFile,
  loadDataset,
  locateDataset,
  SOURCES,
  type FetchFn,
  type RemoteFile
} from "../../shared/data/index.ts"
import { locateSource } from "../../shared/data/flags.ts"
import { cifarBytes, expectTagged, idxBytes, makeTempDir, write, writeMnistDir } from "./fixtures.ts"

let tmp: Awaited<ReturnType<typeof makeTempDir>>
beforeAll(async () => {
  tmp = await makeTempDir()
})
afterAll(() => tmp.cleanup())

const offline: FetchFn = async (url) => {
  throw new Error(`getaddrinfo ENOTFOUND ${new URL(url).hostname}`)
}
const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex")
const md5 = (b: Uint8Array) => createHash("md5").update(b).digest("hex")
/** Every file under dir, recursively (relative paths). */
const tree = async (dir: string): Promise<string[]> => (await readdir(dir, { recursive: true }).catch(() => [])).map(String).sort()

describe("locateDataset search order", () => {
  test("--data DIR holding the files, or a <name> folder inside it", async () => {
    const direct = join(tmp.dir, "given-direct")
    await writeMnistDir(direct, { nTrain: 2, nTest: 1, h: 2, w: 2, gzip: true })
    expect(await locateDataset("fashion-mnist", { dataDir: direct, systemDirs: [], download: false })).toEqual({
      name: "fashion-mnist",
      dir: direct,
      source: "given"
    })
    const parent = join(tmp.dir, "given-parent")
    await writeMnistDir(join(parent, "mnist"), { nTrain: 2, nTest: 1, h: 2, w: 2, gzip: false })
    const found = await locateDataset("mnist", { dataDir: parent, systemDirs: [], download: false })
    expect(found).toEqual({ name: "mnist", dir: join(parent, "mnist"), source: "given" })
  })

  test("then ./data/<name>, then system folders; earlier wins", async () => {
    const project = join(tmp.dir, "project-data")
    const system = join(tmp.dir, "system-fmnist")
    await writeMnistDir(system, { nTrain: 2, nTest: 1, h: 2, w: 2, gzip: true })
    const opts = { projectDataDir: project, systemDirs: [system], download: false }
    expect(await locateDataset("fashion-mnist", opts)).toMatchObject({ dir: system, source: "system" })
    await writeMnistDir(join(project, "fashion-mnist"), { nTrain: 2, nTest: 1, h: 2, w: 2, gzip: true })
    expect(await locateDataset("fashion-mnist", opts)).toMatchObject({ dir: join(project, "fashion-mnist"), source: "project" })
    const given = join(tmp.dir, "given-wins")
    await writeMnistDir(given, { nTrain: 2, nTest: 1, h: 2, w: 2, gzip: true })
    expect(await locateDataset("fashion-mnist", { ...opts, dataDir: given })).toMatchObject({ dir: given, source: "given" })
  })

  test("an incomplete folder is passed over when searching ./data and system folders", async () => {
    const project = join(tmp.dir, "partial-project")
    await write(join(project, "mnist", "train-images-idx3-ubyte.gz"), gzipSync(idxBytes(0x803, [1, 1, 1], Uint8Array.of(1))))
    const system = join(tmp.dir, "partial-system")
    await writeMnistDir(system, { nTrain: 2, nTest: 1, h: 2, w: 2, gzip: true })
    expect(await locateDataset("mnist", { projectDataDir: project, systemDirs: [system], download: false })).toMatchObject({ dir: system, source: "system" })
  })

  test("extracted-archive folder names are recognised (cifar-10-batches-bin inside the folder)", async () => {
    const dir = join(tmp.dir, "c10")
    for (const f of ["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch"]) {
      await write(join(dir, "cifar10", "cifar-10-batches-bin", `${f}.bin`), cifarBytes([[1]]))
    }
    expect(await locateDataset("cifar10", { dataDir: dir, download: false })).toMatchObject({
      dir: join(dir, "cifar10", "cifar-10-batches-bin"),
      source: "given"
    })
  })

  test("an unknown name is a BadConfig listing the known ones", async () => {
    const e = await expectTagged<{ expected: string }>(locateDataset("svhn"), "BadConfig")
    expect(e.expected).toContain("fashion-mnist")
  })
})

describe("--data DIR is authoritative: a named folder without the dataset is an error, never a fallback", () => {
  /** A project folder and a system folder that both hold the dataset, and a fetch that records being called. */
  const elsewhere = async (tag: string) => {
    const project = join(tmp.dir, `${tag}-project`)
    const system = join(tmp.dir, `${tag}-system`)
    await writeMnistDir(join(project, "fashion-mnist"), { nTrain: 2, nTest: 1, h: 2, w: 2, gzip: true })
    await writeMnistDir(system, { nTrain: 2, nTest: 1, h: 2, w: 2, gzip: true })
    const fetched: string[] = []
    const fetch: FetchFn = async (url) => {
      fetched.push(url)
      throw new Error("offline")
    }
    return { opts: { projectDataDir: project, systemDirs: [system], fetch }, fetched }
  }

  test("an incomplete named folder: NoDatasetInDir naming the folder and each missing file, though ./data and a system folder hold it", async () => {
    const { opts, fetched } = await elsewhere("incomplete")
    const given = join(tmp.dir, "incomplete-given")
    await write(join(given, "train-images-idx3-ubyte.gz"), gzipSync(idxBytes(0x803, [1, 1, 1], Uint8Array.of(1))))
    const e = await expectTagged<{ dir: string; looked: string[]; expected: string[]; fix: string[]; message: string }>(
      locateDataset("fashion-mnist", { ...opts, dataDir: given }),
      "NoDatasetInDir"
    )
    expect(e.dir).toBe(given)
    expect(e.expected).toEqual([
      "train-images-idx3-ubyte[.gz]",
      "train-labels-idx1-ubyte[.gz]",
      "t10k-images-idx3-ubyte[.gz]",
      "t10k-labels-idx1-ubyte[.gz]"
    ])
    expect(e.looked).toEqual([
      `${given}: missing train-labels-idx1-ubyte[.gz], t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz]`,
      `${join(given, "fashion-mnist")}: does not exist`
    ])
    expect(e.message).toContain(`--data ${given} (or LWI_DATA) holds no "fashion-mnist" dataset`)
    expect(e.fix.join("\n")).toContain("unset LWI_DATA")
    expect(e.fix.join("\n")).toContain("apt-get install dataset-fashion-mnist")
    expect(fetched).toEqual([])
  })

  test("a named folder that does not exist, or is a file: said so; no download tried", async () => {
    const { opts, fetched } = await elsewhere("absent")
    const absent = join(tmp.dir, "no-such-folder")
    const e = await expectTagged<{ looked: string[] }>(locateDataset("fashion-mnist", { ...opts, dataDir: absent }), "NoDatasetInDir")
    expect(e.looked).toEqual([`${absent}: does not exist`, `${join(absent, "fashion-mnist")}: does not exist`])
    const aFile = join(tmp.dir, "a-file")
    await write(aFile, "x")
    const f = await expectTagged<{ looked: string[] }>(locateDataset("fashion-mnist", { ...opts, dataDir: aFile }), "NoDatasetInDir")
    expect(f.looked[0]).toBe(`${aFile}: is a file, not a folder`)
    expect(fetched).toEqual([])
  })

  test("the usual subfolders that exist are listed with what they lack", async () => {
    const given = join(tmp.dir, "sub-given")
    await write(join(given, "fashion-mnist", "raw", "t10k-labels-idx1-ubyte"), idxBytes(0x801, [1], Uint8Array.of(0)))
    const e = await expectTagged<{ looked: string[] }>(locateDataset("fashion-mnist", { dataDir: given, download: false }), "NoDatasetInDir")
    expect(e.looked).toEqual([
      `${given}: missing train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz]`,
      `${join(given, "fashion-mnist")}: missing train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz]`,
      `${join(given, "fashion-mnist", "raw")}: missing train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], t10k-images-idx3-ubyte[.gz]`
    ])
  })

  test("an empty path is a BadConfig, not the working directory", async () => {
    await expectTagged(locateDataset("fashion-mnist", { dataDir: "", download: false }), "BadConfig")
  })

  test("locateSource (what pipelines call) with an empty folder: NoDatasetInDir, with the default ./data and system folders in play", async () => {
    const empty = join(tmp.dir, "empty-for-pipelines")
    await mkdir(empty, { recursive: true })
    const lines: string[] = []
    await expectTagged(locateSource("fashion-mnist", empty, (l) => lines.push(l)), "NoDatasetInDir")
    expect(lines).toEqual([])
  })

})

describe("when the data is nowhere", () => {
  test("offline: MissingData lists every path searched, the download errors, and how to get it", async () => {
    const project = join(tmp.dir, "offline-project")
    const e = await expectTagged<{ searched: string[]; howToGet: string[]; message: string }>(
      locateDataset("fashion-mnist", {
        projectDataDir: project,
        systemDirs: ["/nonexistent/fashion-mnist"],
        fetch: offline
      }),
      "MissingData"
    )
    expect(e.searched).toEqual(
      expect.arrayContaining([
        join(project, "fashion-mnist"),
        "/nonexistent/fashion-mnist"
      ])
    )
    expect(e.searched.some((s) => s.includes("ENOTFOUND") && s.includes("fashion-mnist.s3-website"))).toBe(true)
    const how = e.howToGet.join("\n")
    expect(how).toContain("apt-get install dataset-fashion-mnist")
    expect(how).toContain("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/train-images-idx3-ubyte.gz")
    expect(how).toContain("--data DIR")
    expect(e.message).toContain("/nonexistent/fashion-mnist")
    // Nothing half-written was left behind.
    expect((await tree(project)).filter((f) => !f.endsWith("fashion-mnist"))).toEqual([])
  })

  test("MissingData for CIFAR-10 names its URL", async () => {
    const e = await expectTagged<{ howToGet: string[] }>(
      locateDataset("cifar10", { projectDataDir: join(tmp.dir, "p2"), fetch: offline }),
      "MissingData"
    )
    expect(e.howToGet.join("\n")).toContain("https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz")
  })

  test("a download whose bytes do not match the pinned digest is a BadDataFile and leaves no file", async () => {
    const project = join(tmp.dir, "bad-digest")
    const liar: FetchFn = async () => new Response(gzipSync(idxBytes(0x801, [1], Uint8Array.of(0))))
    const e = await expectTagged<{ problem: string; file: string }>(
      locateDataset("fashion-mnist", { projectDataDir: project, systemDirs: [], fetch: liar }),
      "BadDataFile"
    )
    expect(e.file).toStartWith("http")
    expect(e.problem).toContain(SOURCES["fashion-mnist"].files[0]!.sha256!)
    expect(await tree(project)).toEqual(["fashion-mnist"])
  })
})

describe("downloadFile / downloadArchive", () => {
  const payload = gzipSync(idxBytes(0x801, [3], Uint8Array.of(1, 2, 3)))
  const file = (urls: string[]): RemoteFile => ({ name: "x.gz", urls, sha256: sha256(payload), md5: md5(payload) })
  let server: ReturnType<typeof Bun.serve>
  let base: string
  let broken: Server
  let brokenUrl: string
  beforeAll(async () => {
    server = Bun.serve({
      port: 0,
      fetch: (req) => {
        const path = new URL(req.url).pathname
        if (path === "/good.gz") return new Response(payload)
        if (path === "/archive.tgz") return new Response(Bun.file(join(tmp.dir, "archive.tgz")))
        if (path === "/bad-layout.tgz") return new Response(Bun.file(join(tmp.dir, "bad-layout.tgz")))
        return new Response("nope", { status: 404 })
      }
    })
    base = `http://localhost:${server.port}`
    // A raw TCP server that promises 1000 bytes, sends 10, and hangs up: a transfer cut mid-stream.
    broken = createServer((socket) =>
      socket.once("data", () => {
        socket.write("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
        socket.end(payload.subarray(0, 10))
      })
    ).listen(0)
    await once(broken, "listening")
    brokenUrl = `http://localhost:${(broken.address() as AddressInfo).port}/broken`
  })
  afterAll(() => {
    server.stop(true)
    broken.close()
  })

  test("streams over real HTTP, verifies, falls back to the next mirror, leaves only the final file", async () => {
    const dir = join(tmp.dir, "dl-ok")
    const lines: string[] = []
    await downloadFile(file([`${base}/missing.gz`, `${base}/good.gz`]), join(dir, "x.gz"), { log: (l) => lines.push(l) })
    expect(new Uint8Array(await Bun.file(join(dir, "x.gz")).arrayBuffer())).toEqual(new Uint8Array(payload))
    expect(await tree(dir)).toEqual(["x.gz"])
    expect(lines.some((l) => l.startsWith("verified"))).toBe(true)
  })

  test("404s and mid-stream failures: DownloadFailed with every reason, no file", async () => {
    const dir = join(tmp.dir, "dl-fail")
    let error: unknown
    try {
      await downloadFile(file([`${base}/missing.gz`, brokenUrl]), join(dir, "x.gz"))
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(DownloadFailed)
    expect((error as DownloadFailed)._tag).toBe("DownloadFailed")
    const reasons = (error as DownloadFailed).reasons
    expect(reasons[0]).toContain("404")
    expect(reasons[1]).toContain(brokenUrl)
    expect(await tree(dir)).toEqual([])
  })

  test("a stalled server is given up on after the idle timeout", async () => {
    const stall: FetchFn = (_url, init) =>
      new Promise((_, reject) => init?.signal?.addEventListener("abort", () => reject(new Error("stalled: aborted"))))
    const started = performance.now()
    await expect(downloadFile(file(["http://stall.invalid/x"]), join(tmp.dir, "dl-stall", "x.gz"), { fetch: stall, idleTimeoutMs: 50 })).rejects.toBeInstanceOf(DownloadFailed)
    expect(performance.now() - started).toBeLessThan(2000)
  })

  test("archive: verified, extracted in a temp folder, layout checked, moved into place", async () => {
    const src = join(tmp.dir, "archive-src")
    for (const f of ["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch"]) {
      await write(join(src, "cifar-10-batches-bin", `${f}.bin`), cifarBytes([[Number(f.at(-1)) || 0], [9]]))
    }
    execFileSync("tar", ["-czf", join(tmp.dir, "archive.tgz"), "-C", src, "cifar-10-batches-bin"])
    const bytes = new Uint8Array(await Bun.file(join(tmp.dir, "archive.tgz")).arrayBuffer())
    const project = join(tmp.dir, "archive-project")
    const target = join(project, "cifar10")
    const archive = { topFolder: "cifar-10-batches-bin", file: { name: "c.tgz", urls: [`${base}/archive.tgz`], sha256: sha256(bytes) } }
    const check = async (d: string) => (await DATASETS.cifar10.find(d)) !== undefined
    await downloadArchive(archive, target, check)
    expect(await tree(project)).toEqual([
      "cifar10",
      "cifar10/cifar-10-batches-bin",
      ...["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch"].map((f) => `cifar10/cifar-10-batches-bin/${f}.bin`)
    ])
    // And it loads.
    const { set } = await loadDataset("cifar10", "train", { projectDataDir: project, download: false })
    expect(Array.from(set.labels)).toEqual([1, 9, 2, 9, 3, 9, 4, 9, 5, 9])
  })

  test("archive with the wrong layout: BadDataFile, nothing moved, no temp left", async () => {
    const src = join(tmp.dir, "bad-src")
    await write(join(src, "cifar-10-batches-bin", "readme.txt"), "no batches")
    execFileSync("tar", ["-czf", join(tmp.dir, "bad-layout.tgz"), "-C", src, "cifar-10-batches-bin"])
    const bytes = new Uint8Array(await Bun.file(join(tmp.dir, "bad-layout.tgz")).arrayBuffer())
    const project = join(tmp.dir, "bad-archive-project")
    const archive = { topFolder: "cifar-10-batches-bin", file: { name: "c.tgz", urls: [`${base}/bad-layout.tgz`], sha256: sha256(bytes) } }
    await expectTagged(downloadArchive(archive, join(project, "cifar10"), async (d) => (await DATASETS.cifar10.find(d)) !== undefined), "BadDataFile", `${base}/bad-layout.tgz`)
    expect(await tree(project)).toEqual([])
  })
})

describe("loadDataset", () => {
  test("locates then loads by name, with class names", async () => {
    const dir = join(tmp.dir, "ld")
    const written = await writeMnistDir(join(dir, "fashion-mnist"), { nTrain: 4, nTest: 2, h: 28, w: 28, gzip: true })
    const { set, located } = await loadDataset("fashion-mnist", "test", { dataDir: dir, download: false })
    expect(located.source).toBe("given")
    expect(Array.from(set.images)).toEqual(Array.from(written.test.images))
    expect(set.classNames?.[0]).toBe("T-shirt/top")
  })

  test("MNIST-family files that are not 28x28 are a BadDataFile", async () => {
    const dir = join(tmp.dir, "ld-small")
    await writeMnistDir(dir, { nTrain: 4, nTest: 2, h: 3, w: 3, gzip: true })
    await expectTagged(loadDataset("mnist", "train", { dataDir: dir, download: false }), "BadDataFile", join(dir, "train-images-idx3-ubyte.gz"))
  })
})
