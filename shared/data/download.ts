/**
 * Where each dataset can be downloaded from, with the digests of the canonical files, and a downloader that never
 * leaves a half-written or unverified file: bytes stream to a temp file, the digest is checked, then the file is
 * renamed into place (archives: extracted into a temp folder, checked for the expected layout, then renamed).
 *
 * Digests: SHA-256 of the files as the canonical servers publish them, cross-checked against several independent
 * projects' pins (torchvision, tensorflow-datasets, MLDatasets.jl); `contentSha256` is the digest of the
 * decompressed IDX file, which also holds for re-gzipped copies (Debian's dataset-fashion-mnist re-gzips the files,
 * so its .gz digests differ, but its decompressed content matches — checked in tests/data/system.test.ts).
 */
import { execFile } from "node:child_process"
import { createHash, randomBytes } from "node:crypto"
import { mkdir, open, rename, rm } from "node:fs/promises"
import { dirname, join } from "node:path"
import { promisify } from "node:util"
import { Data } from "effect"
import { BadDataFile } from "../errors.ts"
import { commitTempFile, syncDirectory, tempPathFor } from "../atomic-write.ts"

export type FetchFn = (url: string, init?: RequestInit) => Promise<Response>

export interface RemoteFile {
  /** File name in the dataset folder. */
  readonly name: string
  /** Tried in order; the first is the canonical one. */
  readonly urls: ReadonlyArray<string>
  /** SHA-256 of the file as served; undefined when not known for certain (then `md5` or the format check decides). */
  readonly sha256?: string
  readonly md5?: string
  /** SHA-256 of the decompressed content (IDX files). */
  readonly contentSha256?: string
}

export interface RemoteArchive {
  /** A .tar.gz; after extraction the dataset's layout check must pass. */
  readonly file: RemoteFile
  /** The folder the archive extracts to. */
  readonly topFolder: string
}

export type DownloadSource = { readonly kind: "files"; readonly files: ReadonlyArray<RemoteFile> } | ({ readonly kind: "archive" } & RemoteArchive)

const FASHION_MNIST_BASE = [
  "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
  "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/"
]
// yann.lecun.com is the original host but often refuses downloads; these two mirrors serve the identical files.
const MNIST_BASE = [
  "https://ossci-datasets.s3.amazonaws.com/mnist/",
  "https://storage.googleapis.com/cvdf-datasets/mnist/",
  "http://yann.lecun.com/exdb/mnist/"
]

const idxFiles = (
  bases: ReadonlyArray<string>,
  digests: Record<string, { sha256: string; md5: string; contentSha256: string }>
): RemoteFile[] => Object.entries(digests).map(([name, d]) => ({ name, urls: bases.map((b) => b + name), ...d }))

export const SOURCES = {
  "fashion-mnist": {
    kind: "files",
    files: idxFiles(FASHION_MNIST_BASE, {
      "train-images-idx3-ubyte.gz": {
        sha256: "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        md5: "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        contentSha256: "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"
      },
      "train-labels-idx1-ubyte.gz": {
        sha256: "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
        md5: "25c81989df183df01b3e8a0aad5dffbe",
        contentSha256: "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"
      },
      "t10k-images-idx3-ubyte.gz": {
        sha256: "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
        md5: "bef4ecab320f06d8554ea6380940ec79",
        contentSha256: "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"
      },
      "t10k-labels-idx1-ubyte.gz": {
        sha256: "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
        md5: "bb300cfdad3c16e7a12a480ee83cd310",
        contentSha256: "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"
      }
    })
  },
  mnist: {
    kind: "files",
    files: idxFiles(MNIST_BASE, {
      "train-images-idx3-ubyte.gz": {
        sha256: "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        md5: "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        contentSha256: "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"
      },
      "train-labels-idx1-ubyte.gz": {
        sha256: "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        md5: "d53e105ee54ea40749a09fcbcd1e9432",
        contentSha256: "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"
      },
      "t10k-images-idx3-ubyte.gz": {
        sha256: "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        md5: "9fb629c4189551a2d022fa330f9573f3",
        contentSha256: "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"
      },
      "t10k-labels-idx1-ubyte.gz": {
        sha256: "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
        md5: "ec29112dd5afa0611ce80d1b7f02629c",
        contentSha256: "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"
      }
    })
  },
  cifar10: {
    kind: "archive",
    topFolder: "cifar-10-batches-bin",
    file: {
      name: "cifar-10-binary.tar.gz",
      urls: ["https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"],
      sha256: "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd",
      md5: "c32a1d4ab5d03f1284b67883e8d87530"
    }
  },
  cifar100: {
    kind: "archive",
    topFolder: "cifar-100-binary",
    file: {
      name: "cifar-100-binary.tar.gz",
      urls: ["https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz"],
      sha256: "58a81ae192c23a4be8b1804d68e518ed807d710a4eb253b1f2a199162a40d8ec",
      md5: "03b5dce01913d631647c71ecec9e9cb8"
    }
  },
  imagenette: {
    kind: "archive",
    topFolder: "imagenette2-160",
    file: {
      name: "imagenette2-160.tgz",
      urls: ["https://s3.amazonaws.com/fast-ai-imageclas/imagenette2-160.tgz"],
      // SHA-256 unknown. The MD5 is torchvision's pin for this archive (datasets/imagenette.py); beyond it the
      // download is verified only by format (train/ and val/ class folders after extraction).
      md5: "e793b78cc4c9e9a4ccc0c1155377a412"
    }
  }
} as const satisfies Record<string, DownloadSource>

/** Every URL of a source, canonical first: what a MissingData message lists. */
export const sourceUrls = (source: DownloadSource): string[] =>
  source.kind === "files" ? source.files.flatMap((f) => f.urls.slice(0, 1)) : [...source.file.urls]

/**
 * A download that could not happen (network, HTTP status, stalled transfer), with one reason per URL tried.
 * Digest mismatches are BadDataFile instead. `locateDataset` turns this into MissingData.
 */
export class DownloadFailed extends Data.TaggedError("DownloadFailed")<{ readonly reasons: ReadonlyArray<string> }> {
  override get message() {
    return `download failed: ${this.reasons.join("; ")}`
  }
}

export interface DownloadOptions {
  /** Injected for tests; default the global fetch. */
  readonly fetch?: FetchFn
  /** Give up when no byte arrives for this long. Default 30 s. */
  readonly idleTimeoutMs?: number
  readonly log?: (line: string) => void
}

const hex = (h: ReturnType<typeof createHash>): string => h.digest("hex")

/** Streams one URL to `dest` (a temp path), returning its sha256 and md5. Throws on network/HTTP failure. */
const fetchTo = async (url: string, dest: string, opts: DownloadOptions): Promise<{ sha256: string; md5: string }> => {
  const controller = new AbortController()
  const idle = opts.idleTimeoutMs ?? 30_000
  let timer = setTimeout(() => controller.abort(), idle)
  const sha = createHash("sha256")
  const md5 = createHash("md5")
  try {
    const res = await (opts.fetch ?? fetch)(url, { signal: controller.signal })
    if (!res.ok || !res.body) throw new Error(`HTTP ${res.status} ${res.statusText}`.trim())
    const fh = await open(dest, "w")
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        clearTimeout(timer)
        timer = setTimeout(() => controller.abort(), idle)
        sha.update(chunk)
        md5.update(chunk)
        for (let off = 0; off < chunk.length; ) off += (await fh.write(chunk, off, chunk.length - off)).bytesWritten
      }
      await fh.sync()
    } finally {
      await fh.close()
    }
    return { sha256: hex(sha), md5: hex(md5) }
  } finally {
    clearTimeout(timer)
  }
}

/**
 * Downloads `file` to `dest`: each URL in turn until one gives bytes whose digests match. The file appears at
 * `dest` only complete and verified. All URLs unreachable → DownloadFailed; bytes that do not match → BadDataFile.
 */
export const downloadFile = async (file: RemoteFile, dest: string, opts: DownloadOptions = {}): Promise<void> => {
  await mkdir(dirname(dest), { recursive: true })
  const reasons: string[] = []
  let mismatch: BadDataFile | undefined
  for (const url of file.urls) {
    const tmp = tempPathFor(dest)
    try {
      opts.log?.(`downloading ${url}`)
      const got = await fetchTo(url, tmp, opts)
      const bad =
        file.sha256 !== undefined && got.sha256 !== file.sha256
          ? `SHA-256 ${got.sha256}, expected ${file.sha256}`
          : file.md5 !== undefined && got.md5 !== file.md5
            ? `MD5 ${got.md5}, expected ${file.md5}`
            : undefined
      if (bad) {
        mismatch ??= new BadDataFile({
          file: url,
          problem: `downloaded bytes do not match: ${bad}`,
          fix: "the transfer was corrupted or the server now serves a different file; retry, or fetch it by hand and check it"
        })
        reasons.push(`${url}: ${bad}`)
        continue
      }
      await commitTempFile(tmp, dest)
      opts.log?.(`verified ${dest}`)
      return
    } catch (e) {
      reasons.push(`${url}: ${e instanceof Error ? e.message : String(e)}`)
    } finally {
      await rm(tmp, { force: true })
    }
  }
  if (mismatch) throw mismatch
  throw new DownloadFailed({ reasons })
}

const run = promisify(execFile)

/**
 * Downloads and extracts an archive so that `<targetDir>/<topFolder>` appears complete or not at all:
 * the archive goes to a temp folder beside `targetDir`, is verified, extracted there, checked with `check`
 * (the dataset's layout test), and only then the top folder is renamed into `targetDir`.
 */
export const downloadArchive = async (
  archive: RemoteArchive,
  targetDir: string,
  check: (dir: string) => Promise<boolean>,
  opts: DownloadOptions = {}
): Promise<void> => {
  const work = join(dirname(targetDir), `.download-${randomBytes(6).toString("hex")}.tmp`)
  try {
    const archivePath = join(work, archive.file.name)
    await downloadFile(archive.file, archivePath, opts)
    const extracted = join(work, "x")
    await mkdir(extracted, { recursive: true })
    try {
      await run("tar", ["-xzf", archivePath, "-C", extracted])
    } catch (e) {
      throw new BadDataFile({ file: archive.file.urls[0]!, problem: `archive cannot be extracted (${e instanceof Error ? e.message.split("\n")[0] : String(e)})` })
    }
    const top = join(extracted, archive.topFolder)
    if (!(await check(top))) {
      throw new BadDataFile({
        file: archive.file.urls[0]!,
        problem: `archive does not hold the expected ${archive.topFolder}/ layout`,
        fix: "the server may serve a different version; fetch it by hand and pass --data"
      })
    }
    await mkdir(targetDir, { recursive: true })
    try {
      await rename(top, join(targetDir, archive.topFolder))
      await syncDirectory(targetDir)
    } catch (e) {
      throw new BadDataFile({
        file: join(targetDir, archive.topFolder),
        problem: `cannot move the extracted data into place (${e instanceof Error ? e.message : String(e)})`,
        fix: "it probably exists but is incomplete: delete it and retry"
      })
    }
  } finally {
    await rm(work, { recursive: true, force: true })
  }
}
