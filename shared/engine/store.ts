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
import { containerBlobs, containerHeaderLength } from "./arrays.ts"
import { canonicalJson, sha256Hex } from "./hash.ts"
import { artifactHashes, isHash } from "./refs.ts"

export type Table = "steps" | "checkpoints"

export interface StoreShape {
  /** Where the store lives, for messages. */
  readonly location: string
  readonly putBlob: (bytes: Uint8Array) => Effect.Effect<string, StoreError>
  /** The blob's bytes, verified against its hash; a corrupt blob is deleted and fails. */
  readonly getBlob: (hash: string) => Effect.Effect<Uint8Array, MissingArtifact | CorruptArtifact | StoreError>
  /**
   * Present and matching its hash (verified at most once per process), and so is every blob it names (a container's
   * arrays stored apart, shared/engine/arrays.ts): a hit whose arrays are gone is a miss, not a failed read later.
   */
  readonly verifyBlob: (hash: string) => Effect.Effect<boolean, StoreError>
  readonly getEntry: (table: Table, key: string) => Effect.Effect<unknown, CorruptArtifact | StoreError>
  readonly putEntry: (table: Table, key: string, value: unknown) => Effect.Effect<void, StoreError>
  readonly deleteEntry: (table: Table, key: string) => Effect.Effect<void, StoreError>
  /**
   * Removes a blob no longer needed (a checkpoint's superseded state), and the blobs it names, unless a step entry
   * or checkpoint names them, directly or through a container: blobs are shared by content. One reused by another
   * process while we looked (putBlob touches it) stays too.
   */
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

/** The blobs a stored blob names: a container's arrays stored apart; none for any other bytes. */
const childrenOf = containerBlobs

/**
 * The blobs a blob file names, from its header only (a container's first bytes; never its data); undefined when the
 * file is missing. gc follows these, as verifyBlob does.
 */
export const readBlobChildren = async (file: string): Promise<string[] | undefined> => {
  const handle = await fs.open(file, "r").catch((e: NodeJS.ErrnoException) => (e.code === "ENOENT" ? undefined : Promise.reject(e)))
  if (handle === undefined) return undefined
  try {
    const preamble = new Uint8Array(8)
    const { bytesRead } = await handle.read(preamble, 0, 8, 0)
    const headerLength = containerHeaderLength(preamble.subarray(0, bytesRead))
    if (headerLength === undefined) return []
    const head = new Uint8Array(8 + headerLength)
    const got = await handle.read(head, 0, head.length, 0)
    return childrenOf(head.subarray(0, got.bytesRead))
  } finally {
    await handle.close()
  }
}

/** Every blob the entries name, directly or through a container; `children` says what a blob names. */
const referencedBy = async (bodies: Iterable<unknown>, children: (hash: string) => Promise<ReadonlyArray<string>>) => {
  const out = new Set<string>()
  for (const body of bodies) {
    for (const h of artifactHashes(body)) {
      if (out.has(h)) continue
      out.add(h)
      for (const c of await children(h)) out.add(c)
    }
  }
  return out
}

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
  /** Blobs whose content this process has checked against their hash, with the blobs each names. */
  const verified = new Map<string, ReadonlyArray<string>>()
  const remember = (hash: string, data: Uint8Array) => void verified.set(hash, childrenOf(data))
  /** What a blob names (its header, read once per process: content never changes under a hash). */
  const named = new Map<string, ReadonlyArray<string>>()
  const namedBy = async (hash: string) => {
    const known = verified.get(hash) ?? named.get(hash)
    if (known !== undefined) return known
    const children = await readBlobChildren(blobPath(hash))
    if (children === undefined) return [] // missing now; it may be written again, so nothing is remembered
    named.set(hash, children)
    return children
  }
  /** Entries' references, re-read only when the entry file changed (size or mtime). */
  const entryRefs = new Map<string, { readonly stamp: string; readonly body: unknown }>()
  const entryBodies = async () => {
    const bodies: unknown[] = []
    for (const table of ["steps", "checkpoints"] as const) {
      for (const name of await listDir(path.join(root, table))) {
        if (!name.endsWith(".json")) continue
        const file = path.join(root, table, name)
        const st = await fs.stat(file).catch(() => undefined)
        if (!st) continue
        const stamp = `${st.size}:${st.mtimeMs}:${st.ino}`
        let known = entryRefs.get(file)
        if (known?.stamp !== stamp) {
          const text = await fs.readFile(file, "utf8").catch(() => undefined)
          let body: unknown
          try {
            body = text === undefined ? undefined : (JSON.parse(text) as { body?: unknown }).body
          } catch {
            body = undefined // unreadable: its readers discard it, so it keeps nothing
          }
          known = { stamp, body }
          entryRefs.set(file, known)
        }
        bodies.push(known.body)
      }
    }
    return bodies
  }
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
        remember(hash, data)
      }
      return data
    })
  const exists = (hash: string) => io("stat", blobPath(hash), () => fs.stat(blobPath(hash)).then(() => true, () => false))
  /** Present, matching, and so is every blob it names. A blob this process has checked is only looked for again. */
  const verifyBlob = (hash: string): Effect.Effect<boolean, StoreError> =>
    Effect.gen(function* () {
      if (!(verified.has(hash) && (yield* exists(hash)))) {
        verified.delete(hash)
        const ok = yield* getBlob(hash).pipe(
          Effect.as(true),
          Effect.catchTags({ MissingArtifact: () => Effect.succeed(false), CorruptArtifact: () => Effect.succeed(false) })
        )
        if (!ok) return false
      }
      for (const child of verified.get(hash) ?? []) if (!(yield* verifyBlob(child))) return false
      return true
    })
  return {
    location: root,
    putBlob: (bytes) =>
      Effect.gen(function* () {
        const hash = sha256Hex(bytes)
        // Already checked by this process (an LW step read the 39 layers it passes on): no need to read it again.
        const ok = verified.has(hash) ? { _tag: "Success" as const } : yield* Effect.exit(getBlob(hash))
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
        remember(hash, bytes)
        return hash
      }),
    getBlob,
    verifyBlob,
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
      !isHash(hash)
        ? Effect.void
        : io("drop blob", blobPath(hash), async () => {
            const started = Date.now()
            const candidates = [hash, ...(await namedBy(hash))]
            const keep = await referencedBy(await entryBodies(), namedBy)
            // The container before the blobs it names: a reader never finds a container whose arrays went first.
            for (const h of candidates) {
              if (keep.has(h)) continue
              const st = await fs.stat(blobPath(h)).catch(() => undefined)
              // Touched since we started looking: another process reused it (putBlob) and is about to name it.
              if (st === undefined || st.mtimeMs >= started) continue
              await fs.rm(blobPath(h), { force: true })
              verified.delete(h)
            }
          }),
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
    verifyBlob: function verify(hash): Effect.Effect<boolean> {
      return Effect.gen(function* () {
        const data = yield* getBlob(hash).pipe(Effect.orElseSucceed(() => undefined))
        if (data === undefined) return false
        for (const child of childrenOf(data)) if (!(yield* verify(child))) return false
        return true
      })
    },
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
    deleteBlob: (hash) =>
      Effect.promise(async () => {
        const named = async (h: string) => childrenOf(blobs.get(h) ?? new Uint8Array())
        const bodies = [...entries.values()].map((text) => (JSON.parse(text) as { body: unknown }).body)
        const keep = await referencedBy(bodies, named)
        for (const h of [hash, ...(await named(hash))]) if (!keep.has(h)) blobs.delete(h)
      }),
    sweepTemporaries: () => Effect.succeed({ files: 0, bytes: 0 }),
    claim: () => Effect.succeed(undefined)
  }
}

export const diskStoreLayer = (root: string) => Layer.sync(Store, () => makeDiskStore(root))
export const memoryStoreLayer = () => Layer.sync(Store, () => makeMemoryStore())
