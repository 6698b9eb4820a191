/**
 * The one atomic file write of lwi: a reader sees either the old file (or none) or the complete new one, never a
 * half-written file, and after it returns the new file survives a crash.
 *
 * How: write to a temp file in the same directory (so the rename never crosses a file system), fsync it, rename it
 * over the target, then fsync the directory so the rename itself is on disk. The temp file is removed on failure.
 * Temp names end in `.tmp` (git-ignored) and carry the pid and a random suffix, so concurrent writers never share one.
 */
import { randomBytes } from "node:crypto"
import { mkdir, open, rename, rm } from "node:fs/promises"
import { dirname } from "node:path"

export type AtomicData = string | Uint8Array | ReadonlyArray<Uint8Array>

/** A unique sibling path for a temp file beside `path`: `<path>.<pid>.<12 hex>.tmp`. */
export const tempPathFor = (path: string): string => `${path}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`

/**
 * fsyncs a directory so a rename inside it is durable. Some platforms and file systems (Windows, some network
 * mounts) cannot open or fsync a directory; there the rename is as durable as that system makes it, and nothing is
 * lost by skipping this step (the data itself was already fsync'ed).
 */
export const syncDirectory = async (dir: string): Promise<void> => {
  const fh = await open(dir, "r").catch(() => undefined)
  if (fh === undefined) return
  try {
    await fh.sync().catch(() => undefined)
  } finally {
    await fh.close()
  }
}

/**
 * Moves a finished temp file (already fsync'ed by its writer) over `path`, then fsyncs the directory. The one
 * rename step, for writers that stream into `tempPathFor(path)` themselves (downloads).
 */
export const commitTempFile = async (tmp: string, path: string): Promise<void> => {
  await rename(tmp, path)
  await syncDirectory(dirname(path))
}

/**
 * Writes `data` (a string as UTF-8, bytes, or a list of byte chunks written in order) to `path` atomically.
 * Creates the parent directory. Rejects with the underlying I/O error (its `code`, e.g. ENOSPC, EACCES, intact).
 */
export const writeFileAtomic = async (path: string, data: AtomicData): Promise<void> => {
  await mkdir(dirname(path), { recursive: true })
  const chunks = typeof data === "string" ? [new TextEncoder().encode(data)] : data instanceof Uint8Array ? [data] : data
  const tmp = tempPathFor(path)
  try {
    const fh = await open(tmp, "w")
    try {
      for (const c of chunks) {
        // A write may be short; loop until the chunk is all written.
        for (let off = 0; off < c.length; ) off += (await fh.write(c, off, c.length - off)).bytesWritten
      }
      await fh.sync()
    } finally {
      await fh.close()
    }
    await commitTempFile(tmp, path)
  } catch (e) {
    await rm(tmp, { force: true })
    throw e
  }
}
