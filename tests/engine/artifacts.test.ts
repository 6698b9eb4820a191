/**
 * Arrays stored by content, each large one a blob of its own named by a small container: round trip, dedupe
 * between states that share arrays, verification through the container, and deletion that never takes a blob another
 * entry names — against both stores; then gc over a disk cache whose entries share arrays.
 */
import { afterAll, describe, expect, test } from "bun:test"
import { Effect, Layer } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { type ArtifactRef, getArrays, putArrays, putBytes } from "../../shared/engine/artifacts.ts"
import { BLOB_MIN_BYTES, type NamedArray, containerBlobs, encodeArrays } from "../../shared/engine/arrays.ts"
import { cacheStatus, collectGarbage } from "../../shared/engine/gc.ts"
import { Store, type StoreShape, makeDiskStore, makeMemoryStore } from "../../shared/engine/store.ts"

const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), "lwi-artifacts-"))
afterAll(() => fs.rmSync(tmpRoot, { recursive: true, force: true }))

const big = (seed: number): NamedArray => ({
  dtype: "float32",
  shape: [128, 160],
  data: Float32Array.from({ length: 128 * 160 }, (_, i) => Math.sin(i * 0.01 + seed))
})
const small = (seed: number): NamedArray => ({ dtype: "float32", shape: [4], data: Float32Array.of(seed, 1, 2, 3) })
/** A "model state": three big kernels and their biases. */
const state = (seeds: [number, number, number]) => ({
  "c1/kernel": big(seeds[0]),
  "c1/bias": small(seeds[0]),
  "c2/kernel": big(seeds[1]),
  "c2/bias": small(seeds[1]),
  "c3/kernel": big(seeds[2]),
  "c3/bias": small(seeds[2])
})

interface Harness {
  readonly store: StoreShape
  readonly blobs: () => ReadonlySet<string>
  /** Removes a blob behind the store's back (another process, a disk error). */
  readonly lose: (hash: string) => void
}
let n = 0
const implementations: Record<string, () => Harness> = {
  disk: () => {
    const root = path.join(tmpRoot, `s${n++}`)
    const dir = path.join(root, "blobs")
    return {
      // A new store object per look: its per-process memory of verified blobs must not hide a loss.
      store: makeDiskStore(root),
      blobs: () => new Set(fs.existsSync(dir) ? fs.readdirSync(dir).flatMap((d) => fs.readdirSync(path.join(dir, d))) : []),
      lose: (h) => fs.rmSync(path.join(dir, h.slice(0, 2), h))
    }
  },
  memory: () => {
    const store = makeMemoryStore()
    return { store, blobs: () => new Set(store.blobs.keys()), lose: (h) => void store.blobs.delete(h) }
  }
}

for (const [name, make] of Object.entries(implementations)) {
  describe(`arrays in the store: ${name}`, () => {
    const withStore = (h: Harness) => <A, E>(e: Effect.Effect<A, E, Store>) => Effect.runPromise(Effect.provide(e, Layer.succeed(Store, h.store)))

    test("a state round-trips; its big arrays are blobs of their own, its small ones inline in the container", async () => {
      const h = make()
      const run = withStore(h)
      const ref = await run(putArrays(state([1, 2, 3]), "weights"))
      const back = await run(getArrays(ref))
      expect(Object.keys(back)).toEqual(Object.keys(state([1, 2, 3])).sort())
      for (const [k, a] of Object.entries(state([1, 2, 3]))) {
        expect(back[k]!.shape).toEqual([...a.shape])
        expect(Array.from(back[k]!.data)).toEqual(Array.from(a.data))
      }
      const container = await run(Store.use((s) => s.getBlob(ref.artifact)))
      expect(containerBlobs(container)).toHaveLength(3)
      expect(container.length).toBeLessThan(BLOB_MIN_BYTES)
      expect(h.blobs().size).toBe(4)
    })

    test("a state that changes one array writes that array and a container, nothing else", async () => {
      const h = make()
      const run = withStore(h)
      await run(putArrays(state([1, 2, 3])))
      const before = h.blobs()
      const ref = await run(putArrays(state([1, 7, 3])))
      const added = [...h.blobs()].filter((b) => !before.has(b))
      expect(added).toHaveLength(2)
      expect(added).toContain(ref.artifact)
    })

    test("a container whose array is gone fails verification and reading; old all-inline containers still read", async () => {
      const h = make()
      const run = withStore(h)
      const ref = await run(putArrays(state([1, 2, 3])))
      const container = await run(Store.use((s) => s.getBlob(ref.artifact)))
      h.lose(containerBlobs(container)[1]!)
      const fresh = name === "disk" ? { ...h, store: makeDiskStore(h.store.location) } : h
      expect(await withStore(fresh)(fresh.store.verifyBlob(ref.artifact))).toBe(false)
      const exit = await withStore(fresh)(Effect.exit(getArrays(ref)))
      expect(exit._tag).toBe("Failure")
      // The format before arrays went apart: one container with everything inline.
      const old: ArtifactRef = await run(putBytes("weights", encodeArrays(state([4, 5, 6]))))
      expect(await run(h.store.verifyBlob(old.artifact))).toBe(true)
      expect(Array.from((await run(getArrays(old)))["c2/kernel"]!.data).slice(0, 3)).toEqual(Array.from(big(5).data).slice(0, 3))
    })

    test("deleteBlob takes a container and its own arrays, never an array another entry names", async () => {
      const h = make()
      const run = withStore(h)
      const superseded = await run(putArrays(state([1, 2, 3])))
      const kept = await run(putArrays(state([1, 2, 9])))
      await run(h.store.putEntry("steps", "k", { step: "s", output: { weights: kept } }))
      const names = async (ref: ArtifactRef) => containerBlobs(await run(h.store.getBlob(ref.artifact)))
      const [oldOwn, keptOwn] = [(await names(superseded))[2]!, (await names(kept))[2]!]
      const shared = (await names(kept)).slice(0, 2)
      if (name === "disk") await new Promise((r) => setTimeout(r, 5)) // deleteBlob spares blobs touched while it looks
      await run(h.store.deleteBlob(superseded.artifact))
      const left = h.blobs()
      expect(left.has(superseded.artifact)).toBe(false)
      expect(left.has(oldOwn)).toBe(false)
      for (const b of [kept.artifact, keptOwn, ...shared]) expect(left.has(b)).toBe(true)
      expect(await run(h.store.verifyBlob(kept.artifact))).toBe(true)
      // A container an entry names stays whole.
      await run(h.store.deleteBlob(kept.artifact))
      expect(h.blobs().size).toBe(left.size)
    })
  })
}

describe("gc over shared arrays", () => {
  test("an array two entries share stays while one of them is kept; the dropped entry's own arrays go", async () => {
    const root = path.join(tmpRoot, "gc")
    const runsDir = path.join(tmpRoot, "gc-runs")
    const store = makeDiskStore(root)
    const run = <A, E>(e: Effect.Effect<A, E, Store>) => Effect.runPromise(Effect.provide(e, Layer.succeed(Store, store)))
    const a = await run(putArrays(state([1, 2, 3])))
    const b = await run(putArrays(state([1, 2, 8])))
    await run(store.putEntry("steps", "a".repeat(64), { step: "lw", output: { state: a } }))
    await run(store.putEntry("steps", "b".repeat(64), { step: "lw", output: { state: b } }))
    fs.mkdirSync(path.join(runsDir, "r"), { recursive: true })
    const record = { name: "lw", key: "b".repeat(64), cached: false, seconds: 1, resumed: false }
    fs.writeFileSync(path.join(runsDir, "r", "results.json"), JSON.stringify({ pipeline: "p", startedAt: "2026-01-01T00:00:00.000Z", cache: root, steps: [record] }))
    const status = await Effect.runPromise(cacheStatus(root, [runsDir]))
    expect(status.unreferencedBlobs.count).toBe(0)
    expect(status.missingBlobs).toBe(0)
    const blobsOf = async (ref: ArtifactRef) => [ref.artifact, ...containerBlobs(await Effect.runPromise(store.getBlob(ref.artifact)))]
    const [aBlobs, bBlobs] = [await blobsOf(a), await blobsOf(b)]
    const result = await Effect.runPromise(collectGarbage(root, { keep: "runs", runsDirs: [runsDir], graceMinutes: 0 }))
    expect(result.deleted.steps.count).toBe(1)
    const exists = (h: string) => fs.existsSync(path.join(root, "blobs", h.slice(0, 2), h))
    for (const h of bBlobs) expect(exists(h)).toBe(true)
    const aOnly = aBlobs.filter((h) => !bBlobs.includes(h))
    expect(aOnly).toHaveLength(2) // a's container and its third kernel
    for (const h of aOnly) expect(exists(h)).toBe(false)
    expect(await Effect.runPromise(makeDiskStore(root).verifyBlob(b.artifact))).toBe(true)
  })
})
