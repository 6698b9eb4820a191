/**
 * Finding a dataset on this machine, downloading it when it is nowhere, and saying exactly what to do when even
 * that fails. Search order:
 *   1. `dataDir` (the caller resolves it from --data or LWI_DATA): the folder itself, then `<dataDir>/<name>`
 *   2. `<projectDataDir>/<name>` (default ./data/<name>)
 *   3. system folders (Debian's /usr/share/datasets/fashion-mnist, /usr/share/datasets/mnist)
 *   4. download from the canonical URLs, verified, into `<projectDataDir>/<name>`
 * If all fail: MissingData listing every path searched, every download error, and how to get the data by hand.
 */
import { join, resolve } from "node:path"
import { MissingData } from "../errors.ts"
import { datasetSpec, type DatasetName, type DatasetSpec } from "./datasets.ts"
import { DownloadFailed, downloadArchive, downloadFile, sourceUrls, type FetchFn } from "./download.ts"
import { isFile } from "./files.ts"

export interface LocateOptions {
  /** From --data DIR or LWI_DATA, resolved by the caller. Holds the dataset's files or a `<name>` folder. */
  readonly dataDir?: string
  /** The project's data folder; downloads go to `<projectDataDir>/<name>`. Default "./data". */
  readonly projectDataDir?: string
  /** Overrides the dataset's system folders (tests). */
  readonly systemDirs?: ReadonlyArray<string>
  /** Try downloading when the data is nowhere. Default true. */
  readonly download?: boolean
  /** Injected for tests; default the global fetch. */
  readonly fetch?: FetchFn
  /** Download timeout: give up when no byte arrives for this long. Default 30 s. */
  readonly idleTimeoutMs?: number
  readonly log?: (line: string) => void
}

export interface Located {
  readonly name: DatasetName
  /** The folder holding the dataset's files, ready for the loader. */
  readonly dir: string
  readonly source: "given" | "project" | "system" | "downloaded"
}

const download = async (spec: DatasetSpec, target: string, opts: LocateOptions): Promise<void> => {
  if (spec.source.kind === "files") {
    // Files already there are kept (the loader validates them); only the missing ones are fetched.
    for (const f of spec.source.files) {
      const dest = join(target, f.name)
      if (!(await isFile(dest))) await downloadFile(f, dest, opts)
    }
  } else {
    await downloadArchive(spec.source, target, async (d) => (await spec.find(d)) !== undefined, opts)
  }
}

/** Where the dataset `name` is, downloading it if needed. Throws MissingData (or BadDataFile for a bad download). */
export const locateDataset = async (name: string, opts: LocateOptions = {}): Promise<Located> => {
  const spec = datasetSpec(name)
  const projectDir = resolve(opts.projectDataDir ?? "data", spec.name)
  const candidates: { dir: string; source: Located["source"] }[] = [
    ...(opts.dataDir ? [opts.dataDir, join(opts.dataDir, spec.name)] : []).map((d) => ({ dir: resolve(d), source: "given" as const })),
    { dir: projectDir, source: "project" },
    ...(opts.systemDirs ?? spec.systemDirs).map((dir) => ({ dir, source: "system" as const }))
  ]
  const searched: string[] = []
  for (const c of candidates) {
    const dir = await spec.find(c.dir)
    if (dir) return { name: spec.name, dir, source: c.source }
    searched.push(c.dir)
  }
  const urls = sourceUrls(spec.source)
  if (opts.download ?? true) {
    try {
      opts.log?.(`${spec.title} not found locally; downloading into ${projectDir}`)
      await download(spec, projectDir, opts)
      const dir = await spec.find(projectDir)
      if (dir) return { name: spec.name, dir, source: "downloaded" }
      searched.push(`${projectDir} (after download: files still incomplete)`)
    } catch (e) {
      if (!(e instanceof DownloadFailed)) throw e
      searched.push(...e.reasons.map((r) => `download ${r}`))
    }
  } else {
    searched.push("download: not attempted (disabled)")
  }
  throw new MissingData({
    dataset: spec.name,
    searched,
    howToGet: [
      ...spec.howToGet,
      `download ${urls.join(" , ")} into ${projectDir}/${spec.source.kind === "archive" ? " and extract it there" : ""}`,
      `or put the files in any folder and pass --data DIR (or set LWI_DATA=DIR); DIR may hold the files or a "${spec.name}" folder`
    ]
  })
}
