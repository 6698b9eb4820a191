/**
 * The store: content-addressed blobs (artifacts) plus two small key → JSON tables, `steps` (cached step outputs)
 * and `checkpoints` (progress inside a step). One interface, two implementations (disk, memory); the contract suite in
 * tests/engine/store.test.ts runs against both.
 *
 * Trust rules (after DVC's stage cache): every write goes to a temp file and is renamed into place, so a reader never
 * sees half a file; every read is verified (blobs against their hash, entries against their checksum) and a bad
 * entry is deleted and reported as `CorruptArtifact`, never returned.
 * @lwi-key-neutral — it stores and verifies bytes that others computed; it computes none (shared/engine/code.ts).
 */
import { Context, Effect, Layer, type Scope } from "effect"
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { writeFileAtomic as atomicWrite } from "../atomic-write.ts"
import { CorruptArtifact } from "../errors.ts"
import { type ClaimHeld, type ClaimOptions, acquireClaim, processAlive } from "./claim.ts"
import { MissingArtifact, StoreError, storeIo } from "./errors.ts"
import { canonicalJson, sha256Hex } from "./hash.ts"

export type Table = "steps" | "checkpoints"

export interface StoreShape {
  /** Where the store lives, for messages. */
  readonly location: string
  readonly putBlob: (bytes: Uint8Array) => Effect.Effect<string, StoreError>
  /** The blob's bytes, verified against its hash; a corrupt blob is deleted and fails. */
  readonly getBlob: (hash: string) => Effect.Effect<Uint8Array, MissingArtifact | CorruptArtifact | StoreError>
  /** Present and matching its hash (verified at most once per process). */
  readonly verifyBlob: (hash: string) => Effect.Effect<boolean, StoreError>
  readonly getEntry: (table: Table, key: string) => Effect.Effect<unknown, CorruptArtifact | StoreError>
  readonly putEntry: (table: Table, key: string, value: unknown) => Effect.Effect<void, StoreError>
  readonly deleteEntry: (table: Table, key: string) => Effect.Effect<void, StoreError>
  /** Removes a blob (a checkpoint's superseded state). Readers that still name it see a miss and recompute. */
  readonly deleteBlob: (hash: string) => Effect.Effect<void, StoreError>
  /**
   * Holds the claim on `key` for the rest of the scope, so that processes sharing this store compute each key once
   * (shared/engine/claim.ts). A store no other process can see (memory) has nothing to claim: `undefined`.
   */
  /**
   * Removes temp files (`<file>.<pid>.<hex>.tmp`) left half-written by processes that died mid-write: those whose
   * PID is not alive on this host and that are older than `minAgeMs` (a writer on another host sharing the cache
   * may have the same PID; no single write takes that long). Returns what was removed, for one line of report.
   */
  readonly sweepTemporaries: (minAgeMs: number) => Effect.Effect<{ readonly files: number; readonly bytes: number }, StoreError>
  readonly claim: (
    key: string,
    options: Pick<ClaimOptions, "onWait" | "onTakeover">
  ) => Effect.Effect<ClaimHeld | undefined, StoreError, Scope.Scope>
}

export class Store extends Context.Service<Store, StoreShape>()("lwi/engine/Store") {}

/** Entries carry a checksum of their canonical body so a truncated or edited file is caught. */
const wrap = (value: unknown) => JSON.stringify({ checksum: sha256Hex(canonicalJson(value)), body: value })
const unwrap = (where: string, text: string): Effect.Effect<unknown, CorruptArtifact> =>
  Effect.suspend(() => {
    let parsed: { checksum?: unknown; body?: unknown }
    try {
      parsed = JSON.parse(text)
    } catch (e) {
      return Effect.fail(new CorruptArtifact({ path: where, reason: `not JSON (${(e as Error).message})` }))
    }
    if (typeof parsed !== "object" || parsed === null || typeof parsed.checksum !== "string") {
      return Effect.fail(new CorruptArtifact({ path: where, reason: "no checksum" }))
    }
    if (sha256Hex(canonicalJson(parsed.body)) !== parsed.checksum) {
      return Effect.fail(new CorruptArtifact({ path: where, reason: "checksum mismatch" }))
    }
    return Effect.succeed(parsed.body)
  })

const isHash = (h: string) => /^[0-9a-f]{64}$/.test(h)

// ---------------------------------------------------------------------------------------------------------------
// Disk

const io = storeIo

/** Writes `data` to `file` atomically (the one atomic write of lwi: shared/atomic-write.ts), as an Effect. */
export const writeFileAtomic = (file: string, data: string | Uint8Array) => io("write", file, () => atomicWrite(file, data))

const readOrUndefined = (file: string) =>
  io("read", file, async () => {
    try {
      return await fs.readFile(file)
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined
      throw e
    }
  })

const listDir = (dir: string) => fs.readdir(dir).catch((e: NodeJS.ErrnoException) => (e.code === "ENOENT" ? [] : Promise.reject(e)))

const remove = (file: string) => io("delete", file, () => fs.rm(file, { force: true }))

export const makeDiskStore = (root: string): StoreShape => {
  const blobPath = (h: string) => path.join(root, "blobs", h.slice(0, 2), h)
  const entryPath = (t: Table, k: string) => path.join(root, t, `${k}.json`)
  const verified = new Set<string>()
  const getBlob = (hash: string) =>
    Effect.gen(function* () {
      if (!isHash(hash)) return yield* new MissingArtifact({ hash })
      const file = blobPath(hash)
      const bytes = yield* readOrUndefined(file)
      if (bytes === undefined) return yield* new MissingArtifact({ hash })
      const data = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)
      if (!verified.has(hash)) {
        if (sha256Hex(data) !== hash) {
          yield* remove(file)
          return yield* new CorruptArtifact({ path: file, reason: "content does not match its hash" })
        }
        verified.add(hash)
      }
      return data
    })
  return {
    location: root,
    putBlob: (bytes) =>
      Effect.gen(function* () {
        const hash = sha256Hex(bytes)
        const ok = yield* Effect.exit(getBlob(hash))
        if (ok._tag === "Success") {
          // Reused: it is new to this run, so `gc`'s grace period must see it as young. Gone meanwhile: write it.
          const now = new Date()
          const touched = yield* io("touch", blobPath(hash), () =>
            fs.utimes(blobPath(hash), now, now).then(
              () => true,
              (e: NodeJS.ErrnoException) => (e.code === "ENOENT" ? false : Promise.reject(e))
            )
          )
          if (touched) return hash
        }
        yield* writeFileAtomic(blobPath(hash), bytes)
        verified.add(hash)
        return hash
      }),
    getBlob,
    verifyBlob: (hash) =>
      getBlob(hash).pipe(
        Effect.as(true),
        Effect.catchTags({ MissingArtifact: () => Effect.succeed(false), CorruptArtifact: () => Effect.succeed(false) })
      ),
    getEntry: (table, key) =>
      Effect.gen(function* () {
        const file = entryPath(table, key)
        const bytes = yield* readOrUndefined(file)
        if (bytes === undefined) return undefined
        return yield* unwrap(file, bytes.toString("utf8")).pipe(Effect.tapError(() => remove(file)))
      }),
    putEntry: (table, key, value) => writeFileAtomic(entryPath(table, key), wrap(value)),
    deleteEntry: (table, key) => remove(entryPath(table, key)),
    deleteBlob: (hash) =>
      isHash(hash) ? Effect.andThen(remove(blobPath(hash)), Effect.sync(() => void verified.delete(hash))) : Effect.void,
    sweepTemporaries: (minAgeMs) =>
      io("sweep temp files in", root, async () => {
        let files = 0
        let bytes = 0
        const dirs = ["steps", "checkpoints", "runs", ...(await listDir(path.join(root, "blobs"))).map((d) => path.join("blobs", d))]
        for (const dir of dirs) {
          for (const name of await listDir(path.join(root, dir))) {
            const m = /\.(\d+)\.[0-9a-f]+\.tmp$/.exec(name)
            if (!m || processAlive(Number(m[1]))) continue
            const file = path.join(root, dir, name)
            const st = await fs.stat(file).catch(() => undefined)
            if (!st || Date.now() - st.mtimeMs < minAgeMs) continue
            await fs.rm(file, { force: true })
            files++
            bytes += st.size
          }
        }
        return { files, bytes }
      }),
    claim: (key, options) =>
      acquireClaim(path.join(root, "claims"), key, options).pipe(
        // Options are fixed here, so an invalid one is a bug, not a condition to handle.
        Effect.catchTag("InvalidClaimOption", (e) => Effect.die(e))
      )
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Memory (tests; also a model of what the disk store must do)

export const makeMemoryStore = (): StoreShape & { readonly blobs: Map<string, Uint8Array>; readonly entries: Map<string, string> } => {
  const blobs = new Map<string, Uint8Array>()
  const entries = new Map<string, string>()
  const getBlob = (hash: string) =>
    Effect.gen(function* () {
      const data = blobs.get(hash)
      if (data === undefined) return yield* new MissingArtifact({ hash })
      if (sha256Hex(data) !== hash) {
        blobs.delete(hash)
        return yield* new CorruptArtifact({ path: `memory:${hash}`, reason: "content does not match its hash" })
      }
      return data
    })
  return {
    location: "memory",
    blobs,
    entries,
    putBlob: (bytes) =>
      Effect.sync(() => {
        const hash = sha256Hex(bytes)
        blobs.set(hash, bytes.slice())
        return hash
      }),
    getBlob,
    verifyBlob: (hash) => getBlob(hash).pipe(Effect.as(true), Effect.orElseSucceed(() => false)),
    getEntry: (table, key) =>
      Effect.suspend(() => {
        const text = entries.get(`${table}/${key}`)
        if (text === undefined) return Effect.succeed(undefined)
        return unwrap(`memory:${table}/${key}`, text).pipe(
          Effect.tapError(() => Effect.sync(() => entries.delete(`${table}/${key}`)))
        )
      }),
    putEntry: (table, key, value) => Effect.sync(() => void entries.set(`${table}/${key}`, wrap(value))),
    deleteEntry: (table, key) => Effect.sync(() => void entries.delete(`${table}/${key}`)),
    deleteBlob: (hash) => Effect.sync(() => void blobs.delete(hash)),
    sweepTemporaries: () => Effect.succeed({ files: 0, bytes: 0 }),
    claim: () => Effect.succeed(undefined)
  }
}

export const diskStoreLayer = (root: string) => Layer.sync(Store, () => makeDiskStore(root))
export const memoryStoreLayer = () => Layer.sync(Store, () => makeMemoryStore())
