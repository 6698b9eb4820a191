/**
 * File helpers shared by the loaders: read a data file (mapping I/O failures to BadDataFile), gunzip by content,
 * and write a file atomically (temp file in the same directory, then rename; the temp file is removed on failure).
 */
import { randomBytes } from "node:crypto"
import { mkdir, open, readFile, rename, rm, stat } from "node:fs/promises"
import { dirname } from "node:path"
import { gunzipSync } from "node:zlib"
import { BadDataFile } from "../errors.ts"

const errorCode = (e: unknown): string =>
  typeof e === "object" && e !== null && "code" in e ? String((e as { code: unknown }).code) : String(e)

export const isFile = async (path: string): Promise<boolean> => (await stat(path).catch(() => undefined))?.isFile() ?? false

export const isDirectory = async (path: string): Promise<boolean> =>
  (await stat(path).catch(() => undefined))?.isDirectory() ?? false

/** Reads a whole file. A missing or unreadable file is a BadDataFile naming it. */
export const readDataFile = async (file: string): Promise<Uint8Array> => {
  try {
    const buf = await readFile(file)
    return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength)
  } catch (e) {
    const code = errorCode(e)
    throw new BadDataFile({
      file,
      problem: code === "ENOENT" ? "file does not exist" : `cannot be read (${code})`,
      ...(code === "EACCES" ? { fix: "check the file's permissions" } : {})
    })
  }
}

export const isGzip = (bytes: Uint8Array): boolean => bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b

/**
 * Gunzips `bytes` when they start with the gzip magic (whatever the file name says), else returns them as they are.
 * One call over the whole buffer: zlib does the work in native code (~0.15 s for Fashion-MNIST's 47 MB).
 */
export const gunzipIfNeeded = (bytes: Uint8Array, file: string): Uint8Array => {
  if (!isGzip(bytes)) return bytes
  try {
    const out = gunzipSync(bytes)
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength)
  } catch (e) {
    throw new BadDataFile({
      file,
      problem: `gzip stream is corrupt or truncated (${e instanceof Error ? e.message : String(e)})`,
      fix: "delete the file and download it again"
    })
  }
}

/** A unique sibling path for a temp file; `*.tmp` is git-ignored. */
export const tempPathFor = (path: string): string => `${path}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`

/**
 * Writes `chunks` to `path` atomically: a reader sees either the old file (or none) or the complete new one, never
 * a half-written file. The data is fsync'ed before the rename. Creates the parent directory.
 */
export const writeFileAtomic = async (path: string, chunks: ReadonlyArray<Uint8Array>): Promise<void> => {
  await mkdir(dirname(path), { recursive: true })
  const tmp = tempPathFor(path)
  try {
    const fh = await open(tmp, "w")
    try {
      for (const c of chunks) {
        // A write may be short; loop until the chunk is all on disk.
        for (let off = 0; off < c.length; ) off += (await fh.write(c, off, c.length - off)).bytesWritten
      }
      await fh.sync()
    } finally {
      await fh.close()
    }
    await rename(tmp, path)
  } catch (e) {
    await rm(tmp, { force: true })
    throw e
  }
}
