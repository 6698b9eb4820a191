/**
 * A cheap fingerprint of a folder's files (relative path, size, modification time), so a step that reads data from
 * outside the store gets a new cache key when those files change, without hashing gigabytes of images.
 */
import { createHash } from "node:crypto"
import { readdir, stat } from "node:fs/promises"
import { join, relative } from "node:path"

export const fingerprintDir = async (dir: string): Promise<string> => {
  const hash = createHash("sha256")
  const walk = async (d: string): Promise<void> => {
    const entries = (await readdir(d, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))
    for (const e of entries) {
      const p = join(d, e.name)
      if (e.isDirectory()) await walk(p)
      else if (e.isFile()) {
        const s = await stat(p)
        hash.update(`${relative(dir, p)}\0${s.size}\0${Math.floor(s.mtimeMs)}\n`)
      }
    }
  }
  await walk(dir)
  return hash.digest("hex")
}
