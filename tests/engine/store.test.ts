import { afterAll, describe, expect, test } from "bun:test"
import { Effect, Exit } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { type StoreShape, makeDiskStore, makeMemoryStore, writeFileAtomic } from "../../shared/engine/store.ts"
import { sha256Hex } from "../../shared/engine/hash.ts"

const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), "lwi-store-"))
afterAll(() => fs.rmSync(tmpRoot, { recursive: true, force: true }))
const run = <A, E>(e: Effect.Effect<A, E>) => Effect.runPromise(e)
const exitOf = <A, E>(e: Effect.Effect<A, E>) => Effect.runPromise(Effect.exit(e))
const failureTag = (exit: Exit.Exit<unknown, unknown>) =>
  Exit.isFailure(exit) ? (exit.cause.reasons[0] as { error?: { _tag?: string } })?.error?._tag : "success"

/** How each implementation lets a test damage what it stored (the one thing the contract cannot do itself). */
interface Harness {
  readonly store: StoreShape
  readonly corruptBlob: (hash: string) => void
  readonly corruptEntry: (table: "steps" | "checkpoints", key: string) => void
}

let n = 0
const implementations: Record<string, () => Harness> = {
  disk: () => {
    const root = path.join(tmpRoot, `s${n++}`)
    return {
      store: makeDiskStore(root),
      corruptBlob: (h) => {
        const f = path.join(root, "blobs", h.slice(0, 2), h)
        const b = fs.readFileSync(f)
        b[0] = b[0]! ^ 0xff
        fs.writeFileSync(f, b)
      },
      corruptEntry: (t, k) => {
        const f = path.join(root, t, `${k}.json`)
        fs.writeFileSync(f, fs.readFileSync(f, "utf8").slice(0, 20))
      }
    }
  },
  memory: () => {
    const store = makeMemoryStore()
    return {
      store,
      corruptBlob: (h) => {
        const blob = store.blobs.get(h)!
        blob[0] = blob[0]! ^ 0xff
      },
      corruptEntry: (t, k) => {
        const key = `${t}/${k}`
        store.entries.set(key, store.entries.get(key)!.replace(/"body":\{/, '"body":{"x":1,'))
      }
    }
  }
}

for (const [name, make] of Object.entries(implementations)) {
  describe(`Store contract: ${name}`, () => {
    test("a blob is stored under its SHA-256 and read back byte for byte", async () => {
      const { store } = make()
      const bytes = new Uint8Array([1, 2, 3, 250])
      const hash = await run(store.putBlob(bytes))
      expect(hash).toBe(sha256Hex(bytes))
      expect([...(await run(store.getBlob(hash)))]).toEqual([1, 2, 3, 250])
      expect(await run(store.verifyBlob(hash))).toBe(true)
    })

    test("an unknown blob is MissingArtifact", async () => {
      const { store } = make()
      expect(failureTag(await exitOf(store.getBlob("0".repeat(64))))).toBe("MissingArtifact")
      expect(await run(store.verifyBlob("0".repeat(64)))).toBe(false)
    })

    test("a corrupted blob fails as CorruptArtifact, is removed, and a new put restores it", async () => {
      const h = make()
      const fresh = () => (name === "disk" ? makeDiskStore(h.store.location) : h.store) // a new process forgets what it verified
      const bytes = new Uint8Array(1000).fill(7)
      const hash = await run(h.store.putBlob(bytes))
      h.corruptBlob(hash)
      const s = fresh()
      expect(failureTag(await exitOf(s.getBlob(hash)))).toBe("CorruptArtifact")
      expect(failureTag(await exitOf(s.getBlob(hash)))).toBe("MissingArtifact")
      await run(s.putBlob(bytes))
      expect((await run(s.getBlob(hash))).length).toBe(1000)
    })

    test("entries round-trip, are per table, and can be deleted", async () => {
      const { store } = make()
      await run(store.putEntry("steps", "k1", { a: [1, 2], b: "x" }))
      expect(await run(store.getEntry("steps", "k1"))).toEqual({ a: [1, 2], b: "x" })
      expect(await run(store.getEntry("checkpoints", "k1"))).toBeUndefined()
      await run(store.deleteEntry("steps", "k1"))
      expect(await run(store.getEntry("steps", "k1"))).toBeUndefined()
    })

    test("a damaged entry fails its checksum as CorruptArtifact and is then gone", async () => {
      const h = make()
      await run(h.store.putEntry("steps", "k2", { epochs: 3 }))
      h.corruptEntry("steps", "k2")
      expect(failureTag(await exitOf(h.store.getEntry("steps", "k2")))).toBe("CorruptArtifact")
      expect(await run(h.store.getEntry("steps", "k2"))).toBeUndefined()
    })
  })
}

describe("writeFileAtomic", () => {
  test("replaces the whole file and leaves no temp files", async () => {
    const dir = path.join(tmpRoot, "atomic")
    const file = path.join(dir, "a.json")
    await run(writeFileAtomic(file, "first"))
    await run(writeFileAtomic(file, "second"))
    expect(fs.readFileSync(file, "utf8")).toBe("second")
    expect(fs.readdirSync(dir)).toEqual(["a.json"])
  })

  test("a failed write leaves the previous file intact", async () => {
    const dir = path.join(tmpRoot, "atomic2")
    const file = path.join(dir, "a.json")
    await run(writeFileAtomic(file, "good"))
    // A directory in the way of the rename makes the write fail after the temp file was written.
    const blocked = path.join(dir, "b")
    fs.mkdirSync(path.join(blocked, "x"), { recursive: true })
    const exit = await exitOf(writeFileAtomic(blocked, "new"))
    expect(failureTag(exit)).toBe("StoreError")
    expect(fs.readFileSync(file, "utf8")).toBe("good")
    expect(fs.readdirSync(dir).filter((f) => f.endsWith(".tmp"))).toEqual([])
  })
})

describe("disk store: temp files of killed writers", () => {
  test("those of a dead PID older than the age limit are removed; a live writer's and a young one stay", async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "lwi-sweep-"))
    const exited = Bun.spawn(["true"])
    await exited.exited
    const dead = exited.pid
    const blobDir = path.join(root, "blobs", "ab")
    fs.mkdirSync(blobDir, { recursive: true })
    fs.mkdirSync(path.join(root, "steps"))
    const old = new Date(Date.now() - 3_600_000)
    const write = (file: string, age?: Date) => {
      fs.writeFileSync(file, "half")
      if (age) fs.utimesSync(file, age, age)
      return file
    }
    const deadOld = write(path.join(blobDir, `${"ab".repeat(32)}.${dead}.0a1b2c.tmp`), old)
    const deadOldEntry = write(path.join(root, "steps", `${"cd".repeat(32)}.json.${dead}.3d4e5f.tmp`), old)
    const deadYoung = write(path.join(blobDir, `${"ef".repeat(32)}.${dead}.061728.tmp`))
    const liveOld = write(path.join(blobDir, `${"12".repeat(32)}.${process.pid}.394a5b.tmp`), old)
    const swept = await Effect.runPromise(makeDiskStore(root).sweepTemporaries(600_000))
    expect(swept).toEqual({ files: 2, bytes: 8 })
    expect([deadOld, deadOldEntry, deadYoung, liveOld].map((f) => fs.existsSync(f))).toEqual([false, false, true, true])
  })
})
