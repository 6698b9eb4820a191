/** lwi's one atomic write (shared/atomic-write.ts): complete or absent, never half-written, no temp file left. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import { chmod, mkdir, mkdtemp, readdir, readFile, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { tempPathFor, writeFileAtomic } from "../shared/atomic-write.ts"

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "lwi-atomic-"))
})
afterAll(() => rm(dir, { recursive: true, force: true }))

describe("writeFileAtomic", () => {
  test("writes a string, bytes, or chunks in order; replaces an existing file; creates the parent folder", async () => {
    const file = join(dir, "a", "b", "out.bin")
    await writeFileAtomic(file, "first")
    expect(await readFile(file, "utf8")).toBe("first")
    await writeFileAtomic(file, Uint8Array.of(1, 2, 3))
    expect([...(await readFile(file))]).toEqual([1, 2, 3])
    await writeFileAtomic(file, [Uint8Array.of(9), new Uint8Array(0), Uint8Array.of(8, 7)])
    expect([...(await readFile(file))]).toEqual([9, 8, 7])
    expect(await readdir(join(dir, "a", "b"))).toEqual(["out.bin"])
  })

  test("a failed write leaves the old file intact and no temp file", async () => {
    const sub = join(dir, "locked")
    await mkdir(sub)
    const file = join(sub, "keep.txt")
    await writeFileAtomic(file, "old")
    if (process.getuid?.() === 0) {
      // root ignores permissions: make the rename fail instead, by writing over a directory.
      await mkdir(join(sub, "is-a-dir"))
      await expect(writeFileAtomic(join(sub, "is-a-dir"), "new")).rejects.toMatchObject({ code: expect.stringMatching(/EISDIR|ENOTEMPTY|EEXIST|EPERM/) })
    } else {
      await chmod(sub, 0o500)
      await expect(writeFileAtomic(file, "new")).rejects.toMatchObject({ code: "EACCES" })
      await chmod(sub, 0o700)
    }
    expect(await readFile(file, "utf8")).toBe("old")
    expect((await readdir(sub)).filter((f) => f.endsWith(".tmp"))).toEqual([])
  })

  test("temp names are siblings, unique, and carry the pid", () => {
    const a = tempPathFor("/x/y/z.json")
    const b = tempPathFor("/x/y/z.json")
    expect(a).not.toBe(b)
    expect(a).toMatch(new RegExp(`^/x/y/z\\.json\\.${process.pid}\\.[0-9a-f]{12}\\.tmp$`))
  })
})
