/**
 * Claims: a lock per cache key, held by the process computing that key, so two runs on one cache compute each key
 * once. The claims directory may sit on a shared file system (NFS, several machines), so nothing here relies on
 * flock; the protocol follows proper-lockfile and DVC:
 *
 * - The claim for key K is the file `<dir>/<K>.claim`, created with O_EXCL and holding
 *   `{ pid, host, pidNamespace?, token, startedAt }`.
 * - While held, a heartbeat refreshes its mtime every `heartbeatMs`, from a thread of its own
 *   (shared/engine/heartbeat.worker.ts): a main thread blocked in a long synchronous kernel still beats.
 * - A process that finds the claim waits (polling every `pollMs`) until it disappears, and takes it over when its
 *   owner is gone: on this host (same host id and PID namespace), the PID no longer exists (at once); on another
 *   host, the heartbeat is older than `staleMs` by our clock, or has not moved for `staleMs` while we watched (which
 *   no clock skew can fool).
 * - The host id is the hostname, or `LWI_HOST_ID` when set: machines (or containers) that share a hostname must set
 *   distinct ones, or they judge each other's PIDs as their own. Containers on one kernel with separate PID
 *   namespaces are told apart by the namespace (`/proc/self/ns/pid`) even when they share a hostname.
 * - Takeovers are serialised by an atomic `mkdir <K>.takeover`; inside it the claim is re-read and removed only if it
 *   is still the stale one we judged.
 * - Every removal (takeover, release) is token-checked: the file is renamed aside (atomic), read, and put back with
 *   `link` (which never overwrites) if it turns out to belong to someone else.
 *
 * Reads go through an open handle (handle.stat), so NFS's close-to-open consistency gives a fresh mtime rather than
 * a cached attribute. Hosts' clocks must agree within `staleMs`: a host whose clock runs that far behind writes
 * heartbeats that look old (one running ahead is caught by the "has not moved" rule).
 *
 * Known limits: a process alive but stuck (deadlocked) keeps beating, so its key waits for it (as it would on one
 * host, where its PID lives); a recycled PID on the same host looks alive; a stale takeover directory (its holder died in the few milliseconds it holds it) is broken after
 * `staleMs` by rmdir, which two breakers at the same instant could both do.
 */
import { Effect, Option, Schema, Scope } from "effect"
import { randomBytes } from "node:crypto"
import { readFileSync, readlinkSync } from "node:fs"
import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import { Worker } from "node:worker_threads"
import { StoreError, storeIo } from "./errors.ts"

export const ClaimOwner = Schema.Struct({
  pid: Schema.Int.check(Schema.isGreaterThan(0)),
  host: Schema.String,
  /** The owner's PID namespace (Linux), so that containers sharing a hostname do not read each other's PIDs. */
  pidNamespace: Schema.optional(Schema.String),
  token: Schema.String,
  startedAt: Schema.Number
})
export type ClaimOwner = typeof ClaimOwner.Type

/** Why a claim was judged abandoned. */
export interface TakeoverReason {
  /** dead: its PID is gone on this host; stale: its heartbeat stopped; unreadable: a half-written file that aged. */
  readonly kind: "dead" | "stale" | "unreadable"
  readonly message: string
}

export interface ClaimOptions {
  /** How often the holder refreshes the claim's mtime. 2 s: fifteen beats fit in the default staleMs. */
  readonly heartbeatMs?: number
  /** A claim from another host whose heartbeat is this old is abandoned. 30 s: NFS attribute caches lag by seconds. */
  readonly staleMs?: number
  /** How often a waiter looks again. 200 ms: a small cost against steps that take seconds or more. */
  readonly pollMs?: number
  /** Called once, when this process starts waiting on a live owner (undefined: the claim file is unreadable). */
  readonly onWait?: (owner: ClaimOwner | undefined) => void
  /** Called when this process has replaced an abandoned claim with its own. */
  readonly onTakeover?: (owner: ClaimOwner | undefined, reason: TakeoverReason) => void
}

export interface ClaimHeld {
  readonly path: string
  readonly owner: ClaimOwner
  /** True when another owner held the key first: the caller must look the cache up again. */
  readonly waited: boolean
  readonly waitedMs: number
  readonly tookOverFrom?: ClaimOwner | undefined
  readonly takeoverReason?: TakeoverReason | undefined
}

export interface ClaimStatus {
  readonly key: string
  /** undefined when the file cannot be read (being written, or left half-written). */
  readonly owner: ClaimOwner | undefined
  readonly ageMs: number
  readonly status: "alive" | "stale"
  readonly reason: string
}

const defaults = { heartbeatMs: 2_000, staleMs: 30_000, pollMs: 200 }

/** A timing option that would make the protocol unsafe (a heartbeat slower than staleness) or spin. */
export class InvalidClaimOption extends Schema.TaggedError<InvalidClaimOption>()("InvalidClaimOption", {
  option: Schema.String,
  value: Schema.Number,
  expected: Schema.String
}) {
  override get message() {
    return `claim option ${this.option} = ${this.value}: expected ${this.expected}`
  }
}

const checkOptions = (o: typeof defaults) => {
  for (const name of ["heartbeatMs", "staleMs", "pollMs"] as const) {
    if (!Number.isFinite(o[name]) || o[name] <= 0) {
      return Effect.fail(new InvalidClaimOption({ option: name, value: o[name], expected: "a finite number of milliseconds > 0" }))
    }
  }
  if (o.heartbeatMs * 2 > o.staleMs) {
    return Effect.fail(
      new InvalidClaimOption({ option: "heartbeatMs", value: o.heartbeatMs, expected: `at most half of staleMs (${o.staleMs}), or a live owner looks stale` })
    )
  }
  return Effect.void
}

// ---------------------------------------------------------------------------------------------------------------
// File primitives (plain async; each wrapped once as an Effect below)

/** What a reader saw: the owner if the file parses, its mtime, and an identity to recognise the same file later. */
interface Snapshot {
  readonly owner: ClaimOwner | undefined
  readonly mtimeMs: number
  readonly identity: string
}

const code = (e: unknown) => (e as NodeJS.ErrnoException).code
const randomHex = () => randomBytes(8).toString("hex")
const decodeOwner = Schema.decodeUnknownOption(ClaimOwner)

const readSnapshot = async (file: string): Promise<Snapshot | undefined> => {
  let handle: fs.FileHandle
  try {
    handle = await fs.open(file, "r")
  } catch (e) {
    if (code(e) === "ENOENT") return undefined
    throw e
  }
  try {
    const stat = await handle.stat()
    const text = await handle.readFile("utf8")
    let parsed: unknown
    try {
      parsed = JSON.parse(text)
    } catch {
      parsed = undefined
    }
    const owner = Option.getOrUndefined(decodeOwner(parsed))
    const identity = owner ? `token:${owner.token}` : `unreadable:${stat.ino}:${stat.mtimeMs}:${stat.size}`
    return { owner, mtimeMs: stat.mtimeMs, identity }
  } finally {
    await handle.close()
  }
}

/** Creates the claim with O_EXCL; false when it already exists. */
const createClaim = async (file: string, owner: ClaimOwner): Promise<boolean> => {
  let handle: fs.FileHandle
  try {
    handle = await fs.open(file, "wx")
  } catch (e) {
    if (code(e) === "EEXIST") return false
    throw e
  }
  try {
    await handle.writeFile(JSON.stringify(owner))
    await handle.sync()
  } catch (e) {
    await handle.close().catch(() => undefined)
    await fs.rm(file, { force: true })
    throw e
  }
  await handle.close()
  return true
}

/**
 * Removes `file` only if it is still the one with `identity`. Renaming is atomic, so the check happens on a file
 * nobody else can replace; a file that turns out to be someone else's is put back with link, which never overwrites.
 */
const removeIfSame = async (file: string, identity: string): Promise<"removed" | "absent" | "not-same"> => {
  const aside = `${file}.${randomHex()}.removing`
  try {
    await fs.rename(file, aside)
  } catch (e) {
    if (code(e) === "ENOENT") return "absent"
    throw e
  }
  const seen = await readSnapshot(aside)
  if (seen?.identity === identity) {
    await fs.rm(aside, { force: true })
    return "removed"
  }
  try {
    await fs.link(aside, file)
  } catch (e) {
    // A newer claim already took the name; the one we moved aside has lost its key, and its heartbeat will say so.
    if (code(e) !== "EEXIST") throw e
  }
  await fs.rm(aside, { force: true })
  return "not-same"
}

/** mkdir is atomic on every file system, NFS included: the one who creates the directory may take over. */
const lockTakeover = async (dir: string, staleMs: number): Promise<"locked" | "busy" | "broke-stale"> => {
  try {
    await fs.mkdir(dir)
    return "locked"
  } catch (e) {
    if (code(e) !== "EEXIST") throw e
  }
  try {
    const stat = await fs.stat(dir)
    if (Date.now() - stat.mtimeMs <= staleMs) return "busy"
    await fs.rmdir(dir)
    return "broke-stale"
  } catch (e) {
    if (code(e) === "ENOENT") return "busy"
    throw e
  }
}

/** Who this process is to other claimants: its host id (LWI_HOST_ID or the hostname) and its PID namespace. */
export interface Machine {
  readonly host: string
  readonly pidNamespace: string | undefined
}

export const thisMachine = (): Machine => {
  let pidNamespace: string | undefined
  try {
    pidNamespace = readlinkSync("/proc/self/ns/pid") // "pid:[4026531836]"
  } catch {
    pidNamespace = undefined // not Linux: the hostname alone
  }
  return { host: process.env.LWI_HOST_ID || os.hostname(), pidNamespace }
}

/** Whether `owner`'s PID can be checked here: same host id and, when both say, the same PID namespace. */
const sameMachine = (owner: ClaimOwner, me: Machine) =>
  owner.host === me.host && (owner.pidNamespace === undefined || me.pidNamespace === undefined || owner.pidNamespace === me.pidNamespace)

/** kill(pid, 0) says whether the PID exists; a zombie (killed, not yet reaped by its parent) counts as dead. */
export const processAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
  } catch (e) {
    return code(e) !== "ESRCH"
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z"
  } catch {
    return true // no /proc (not Linux) or the process just left: kill(0) said it existed
  }
}

/** A snapshot's owner is alive, or the reason it is abandoned. `unmovedMs`: how long we have watched its mtime stand still. */
const judge = (
  snap: Snapshot,
  now: number,
  unmovedMs: number,
  staleMs: number,
  me: Machine
): { readonly alive: true } | { readonly alive: false; readonly reason: TakeoverReason } => {
  const age = Math.round(now - snap.mtimeMs)
  const owner = snap.owner
  if (owner === undefined) {
    if (age <= staleMs && unmovedMs <= staleMs) return { alive: true }
    return { alive: false, reason: { kind: "unreadable", message: `unreadable claim file, untouched for ${age} ms` } }
  }
  if (sameMachine(owner, me)) {
    if (processAlive(owner.pid)) return { alive: true }
    return { alive: false, reason: { kind: "dead", message: `process ${owner.pid} on this host (${me.host}) is gone` } }
  }
  if (age > staleMs) {
    return { alive: false, reason: { kind: "stale", message: `heartbeat from ${owner.host} is ${age} ms old (stale after ${staleMs} ms)` } }
  }
  if (unmovedMs > staleMs) {
    return {
      alive: false,
      reason: { kind: "stale", message: `heartbeat from ${owner.host} has not moved for ${Math.round(unmovedMs)} ms (stale after ${staleMs} ms)` }
    }
  }
  return { alive: true }
}

// ---------------------------------------------------------------------------------------------------------------
// Effects

const io = storeIo

const describeOwner = (o: ClaimOwner | undefined) => (o ? `pid ${o.pid} on ${o.host}` : "an unreadable claim")

const claimPaths = (claimsDir: string, key: string) =>
  /^[A-Za-z0-9_-][A-Za-z0-9._-]*$/.test(key)
    ? Effect.succeed({ claim: path.join(claimsDir, `${key}.claim`), takeover: path.join(claimsDir, `${key}.takeover`) })
    : Effect.fail(
        new StoreError({
          path: claimsDir,
          operation: "claim",
          reason: `key ${JSON.stringify(key)} is not a plain file name (use letters, digits, '.', '_', '-'; step keys are hex)`
        })
      )

/**
 * Inside the takeover lock: remove the claim if it is still the abandoned one we judged, then create ours.
 * "changed": it is no longer that claim (released, or someone else took over): look again.
 */
const takeOver = (
  paths: { claim: string; takeover: string },
  stale: Snapshot,
  staleMs: number,
  create: Effect.Effect<boolean, StoreError>
) =>
  Effect.gen(function* () {
    const lock = yield* io("lock takeover of", paths.takeover, () => lockTakeover(paths.takeover, staleMs))
    if (lock === "broke-stale") yield* Effect.logWarning(`claim: removed takeover lock ${paths.takeover}, older than ${staleMs} ms`)
    if (lock !== "locked") return "busy" as const
    return yield* Effect.gen(function* () {
      const removed = yield* io("remove abandoned claim", paths.claim, () => removeIfSame(paths.claim, stale.identity))
      if (removed === "not-same") return "changed" as const
      const created = yield* create
      return created && removed === "removed" ? ("took" as const) : created ? ("free" as const) : ("changed" as const)
    }).pipe(Effect.ensuring(io("unlock takeover", paths.takeover, () => fs.rmdir(paths.takeover)).pipe(Effect.ignore)))
  }).pipe(Effect.uninterruptible)

/** Loops until `create` succeeds: waiting on a live owner, taking over from an abandoned one. */
const obtain = (
  paths: { claim: string; takeover: string },
  me: Machine,
  o: typeof defaults & ClaimOptions,
  create: Effect.Effect<boolean, StoreError>
) =>
  Effect.gen(function* () {
    const start = Date.now()
    let waited = false
    let watch = { identity: "", mtimeMs: Number.NaN, since: 0 }
    while (true) {
      const created = yield* create
      if (created) return { waited, waitedMs: Date.now() - start } as const
      const snap = yield* io("read claim", paths.claim, () => readSnapshot(paths.claim))
      if (snap === undefined) continue // released between our two looks: try again at once
      const now = Date.now()
      if (snap.identity !== watch.identity || snap.mtimeMs !== watch.mtimeMs) watch = { identity: snap.identity, mtimeMs: snap.mtimeMs, since: now }
      const verdict = judge(snap, now, now - watch.since, o.staleMs, me)
      if (verdict.alive) {
        if (!waited) o.onWait?.(snap.owner)
        waited = true
        yield* Effect.sleep(o.pollMs)
        continue
      }
      const outcome = yield* takeOver(paths, snap, o.staleMs, create)
      if (outcome === "took") {
        o.onTakeover?.(snap.owner, verdict.reason)
        return { waited, waitedMs: Date.now() - start, tookOverFrom: snap.owner, takeoverReason: verdict.reason } as const
      }
      if (outcome === "free") return { waited, waitedMs: Date.now() - start } as const
      if (outcome === "busy") yield* Effect.sleep(Math.min(o.pollMs, 50)) // another waiter is taking over: see who wins
    }
  })

/**
 * Refreshes the claim's mtime while it is ours, from a worker thread (heartbeat.worker.ts) so that a blocked event
 * loop does not stop it; stopped when the scope closes (before the release: finalizers run last-in first-out).
 * What the thread reports is logged from a fiber here, with the caller's logger.
 */
const heartbeat = (file: string, token: string, everyMs: number) =>
  Effect.gen(function* () {
    const reports: Array<{ lost?: boolean; error?: string }> = []
    const worker = yield* Effect.acquireRelease(
      Effect.sync(() => {
        const w = new Worker(new URL("./heartbeat.worker.ts", import.meta.url), { workerData: { file, token, everyMs } })
        w.on("message", (m: { lost?: boolean; error?: string }) => void reports.push(m))
        w.on("error", (e: Error) => void reports.push({ error: `heartbeat thread failed: ${e.message}` }))
        w.unref() // never what keeps a finished process alive
        return w
      }),
      (w) => Effect.promise(() => w.terminate())
    )
    yield* Effect.forkScoped(
      Effect.gen(function* () {
        while (true) {
          yield* Effect.sleep(everyMs)
          for (const r of reports.splice(0)) {
            if (r.lost) return yield* Effect.logWarning(`claim ${file} is no longer ours (taken over); heartbeat stopped`)
            yield* Effect.logWarning(`claim heartbeat failed (will retry): ${r.error}`)
          }
        }
      })
    )
    return worker
  })

const release = (file: string, token: string) =>
  io("release claim", file, () => removeIfSame(file, `token:${token}`)).pipe(
    Effect.flatMap((r) =>
      r === "not-same" ? Effect.logWarning(`claim ${file} belonged to another owner at release: left in place`) : Effect.void
    ),
    Effect.catch((e) => Effect.logWarning(`claim not released (waiters on this host proceed when this process exits): ${e.message}`))
  )

/**
 * Holds the claim on `key` for the rest of the scope, waiting for (or taking over from) another owner first.
 * Released when the scope closes, whatever the exit; only a claim that still carries our token is removed.
 */
export const acquireClaim = (
  claimsDir: string,
  key: string,
  options: ClaimOptions = {}
): Effect.Effect<ClaimHeld, StoreError | InvalidClaimOption, Scope.Scope> =>
  Effect.gen(function* () {
    const o = {
      ...options,
      heartbeatMs: options.heartbeatMs ?? defaults.heartbeatMs,
      staleMs: options.staleMs ?? defaults.staleMs,
      pollMs: options.pollMs ?? defaults.pollMs
    }
    yield* checkOptions(o)
    const paths = yield* claimPaths(claimsDir, key)
    yield* io("create claims directory", claimsDir, () => fs.mkdir(claimsDir, { recursive: true }))
    const machine = thisMachine()
    const me: ClaimOwner = {
      pid: process.pid,
      host: machine.host,
      ...(machine.pidNamespace ? { pidNamespace: machine.pidNamespace } : {}),
      token: randomHex(),
      startedAt: Date.now()
    }
    // The flag is set in the same uninterruptible step that creates the file, and the finalizer is registered
    // before waiting: whenever the scope closes, a claim we created is released, and only then.
    let holding = false
    const create = io("create claim", paths.claim, () => createClaim(paths.claim, me)).pipe(
      Effect.tap((created) => Effect.sync(() => void (holding ||= created))),
      Effect.uninterruptible
    )
    yield* Effect.addFinalizer(() => (holding ? release(paths.claim, me.token) : Effect.void))
    const got = yield* obtain(paths, machine, o, create)
    yield* heartbeat(paths.claim, me.token, o.heartbeatMs)
    return { path: paths.claim, owner: me, ...got }
  })

/** The claims in `claimsDir` (in-progress keys), each judged alive or stale as a waiter would judge it now. */
export const listClaims = (
  claimsDir: string,
  options: { readonly staleMs?: number } = {}
): Effect.Effect<ReadonlyArray<ClaimStatus>, StoreError> =>
  Effect.gen(function* () {
    const staleMs = options.staleMs ?? defaults.staleMs
    const names = yield* io("list claims in", claimsDir, async () => {
      try {
        return await fs.readdir(claimsDir)
      } catch (e) {
        if (code(e) === "ENOENT") return [] // no directory: no run has claimed anything yet
        throw e
      }
    })
    const machine = thisMachine()
    const out: Array<ClaimStatus> = []
    for (const name of names.filter((n) => n.endsWith(".claim")).sort()) {
      const file = path.join(claimsDir, name)
      const snap = yield* io("read claim", file, () => readSnapshot(file))
      if (snap === undefined) continue // released while we listed
      const now = Date.now()
      const verdict = judge(snap, now, 0, staleMs, machine)
      out.push({
        key: name.slice(0, -".claim".length),
        owner: snap.owner,
        ageMs: Math.round(now - snap.mtimeMs),
        status: verdict.alive ? "alive" : "stale",
        reason: verdict.alive ? `held by ${describeOwner(snap.owner)}` : verdict.reason.message
      })
    }
    return out
  })
