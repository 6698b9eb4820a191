/**
 * Claims with real processes: each child (fixtures/claim-child.ts) claims a key, logs `start`/`end` around its
 * critical section and releases; the log shows whether two sections ever overlapped.
 */
import { afterAll, describe, expect, test } from "bun:test"
import { Effect, Exit, Fiber, Scope } from "effect"
import { appendFileSync, mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync, existsSync } from "node:fs"
import { hostname, tmpdir } from "node:os"
import * as path from "node:path"
import { acquireClaim, listClaims, type ClaimOwner } from "../../shared/engine/claim.ts"

const fixture = path.join(import.meta.dir, "fixtures", "claim-child.ts")
const roots: Array<string> = []
const tempDir = () => {
  const dir = mkdtempSync(path.join(tmpdir(), "lwi-claim-"))
  roots.push(dir)
  return dir
}
afterAll(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true })
})

interface ChildEvent {
  readonly event: string
  readonly name: string
  readonly pid: number
  readonly t: number
  readonly waited?: boolean
  readonly tookOverFrom?: ClaimOwner
  readonly owner?: ClaimOwner
  readonly reason?: { kind: string; message: string }
  readonly token?: string
}

/** A child process and the JSON events it printed, awaitable by name. */
const spawnChild = (args: Record<string, unknown>, env: Record<string, string> = {}) => {
  // process.execPath is the bun running this test: the same as `npx bun`, without npx's start-up.
  const proc = Bun.spawn([process.execPath, fixture, JSON.stringify(args)], {
    stdin: "pipe",
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, ...env }
  })
  const events: Array<ChildEvent> = []
  const listeners: Array<() => void> = []
  let text = ""
  const stdout = (async () => {
    const decoder = new TextDecoder()
    for await (const chunk of proc.stdout) {
      text += decoder.decode(chunk)
      let nl: number
      while ((nl = text.indexOf("\n")) >= 0) {
        const line = text.slice(0, nl)
        text = text.slice(nl + 1)
        if (line.startsWith("{")) events.push(JSON.parse(line))
        else events.push({ event: "log", name: line, pid: proc.pid, t: Date.now() })
        for (const l of listeners.splice(0)) l()
      }
    }
  })()
  const stderr = new Response(proc.stderr).text()
  const waitFor = async (event: string, timeoutMs = 10_000): Promise<ChildEvent> => {
    const deadline = Date.now() + timeoutMs
    while (true) {
      const hit = events.find((e) => e.event === event)
      if (hit) return hit
      if (Date.now() > deadline || proc.exitCode !== null) {
        throw new Error(`child ${String(args.name)} never said "${event}"; said ${JSON.stringify(events)}; stderr: ${await stderr}`)
      }
      await new Promise<void>((r) => {
        listeners.push(r)
        setTimeout(r, 50)
      })
    }
  }
  const go = () => {
    proc.stdin.write("go\n")
    proc.stdin.flush()
  }
  const done = async () => {
    const code = await proc.exited
    await stdout
    if (code !== 0) throw new Error(`child ${String(args.name)} exited ${code}: ${await stderr}`)
    return events
  }
  return { proc, events, waitFor, go, done, stderr }
}

/** The log's critical sections, checked to be strictly one after another (start A, end A, start B, end B, …). */
const sections = (log: string) => {
  const lines = readFileSync(log, "utf8").trim().split("\n").map((l) => l.split(" "))
  const out: Array<{ name: string; start: number; end: number }> = []
  for (let i = 0; i < lines.length; i += 2) {
    const [s, e] = [lines[i]!, lines[i + 1]]
    expect(s[0]).toBe("start")
    expect(e?.[0]).toBe("end")
    expect(e?.[1]).toBe(s[1])
    out.push({ name: s[1]!, start: Number(s[2]), end: Number(e![2]) })
  }
  for (let i = 1; i < out.length; i++) expect(out[i]!.start).toBeGreaterThanOrEqual(out[i - 1]!.end)
  return out
}

const writeForeignClaim = (file: string, token: string, ageMs: number) => {
  writeFileSync(file, JSON.stringify({ pid: 4242, host: "another-machine.invalid", token, startedAt: Date.now() - ageMs }))
  const t = new Date(Date.now() - ageMs)
  utimesSync(file, t, t)
}

/** Process tests take 1–3 s here; the bound leaves room for a loaded machine. */
const slow = 20_000

const runScoped = <A, E>(effect: Effect.Effect<A, E, Scope.Scope>) => Effect.runPromise(Effect.scoped(effect))

describe("claims between real processes", () => {
  test("two processes claiming one key at once: sections never overlap, the second waited", async () => {
    const dir = tempDir()
    const log = path.join(dir, "log")
    const children = ["a", "b"].map((name) =>
      spawnChild({ dir: path.join(dir, "claims"), key: "k1", log, name, holdMs: 600, barrier: true, pollMs: 50 })
    )
    await Promise.all(children.map((c) => c.waitFor("ready")))
    for (const c of children) c.go()
    const results = await Promise.all(children.map((c) => c.done()))
    const held = results.map((events) => events.find((e) => e.event === "held")!)
    expect(held.map((h) => h.waited).sort()).toEqual([false, true])
    const order = sections(log)
    expect(order.length).toBe(2)
    // The one that waited entered second, and its onWait fired once.
    const waiter = held.find((h) => h.waited)!
    expect(order[1]!.name).toBe(waiter.name)
    expect(results.flat().filter((e) => e.event === "waiting").length).toBe(1)
    expect(existsSync(path.join(dir, "claims", "k1.claim"))).toBe(false)
  }, slow)

  test("a holder killed with SIGKILL: the waiter sees its PID gone and takes over well before staleMs", async () => {
    const dir = tempDir()
    const log = path.join(dir, "log")
    const claims = path.join(dir, "claims")
    const a = spawnChild({ dir: claims, key: "k2", log, name: "a", holdMs: 60_000 })
    const heldA = await a.waitFor("held")
    const b = spawnChild({ dir: claims, key: "k2", log, name: "b", holdMs: 10, pollMs: 50 })
    const waiting = await b.waitFor("waiting")
    expect(waiting.owner?.pid).toBe(heldA.pid)
    const killedAt = Date.now()
    a.proc.kill("SIGKILL")
    const takeover = await b.waitFor("takeover")
    const heldB = await b.waitFor("held")
    await b.done()
    expect(takeover.reason?.kind).toBe("dead")
    expect(takeover.reason?.message).toContain(`process ${heldA.pid}`)
    expect(heldB.tookOverFrom?.token).toBe(heldA.token)
    // staleMs is 30 s by default; the PID check must not wait for it.
    expect(heldB.t - killedAt).toBeLessThan(3_000)
  }, slow)

  test("two waiters racing to take over a stale claim: never two inside at once, the stale claim gone after", async () => {
    const dir = tempDir()
    const log = path.join(dir, "log")
    const claims = path.join(dir, "claims")
    const first = await runScoped(acquireClaim(claims, "warmup")) // creates the directory
    expect(first.waited).toBe(false)
    writeForeignClaim(path.join(claims, "k4.claim"), "stale-token", 60_000)
    const children = ["a", "b", "c"].map((name) =>
      spawnChild({ dir: claims, key: "k4", log, name, holdMs: 300, barrier: true, pollMs: 20, staleMs: 5_000, heartbeatMs: 500 })
    )
    await Promise.all(children.map((c) => c.waitFor("ready")))
    for (const c of children) c.go()
    const results = await Promise.all(children.map((c) => c.done()))
    const held = results.map((events) => events.find((e) => e.event === "held")!)
    // Usually one reports the takeover; a plain waiter may also slip into the instant between the stale claim's
    // removal and the taker's create, and then holds it legitimately. Never two, never overlapping.
    expect(held.filter((h) => h.tookOverFrom !== undefined).length).toBeLessThanOrEqual(1)
    expect(held.every((h) => h.tookOverFrom === undefined || h.tookOverFrom.token === "stale-token")).toBe(true)
    expect(sections(log).length).toBe(3)
    expect(existsSync(path.join(claims, "k4.claim"))).toBe(false)
  }, slow)

  test("release leaves a claim that another owner has taken over", async () => {
    const dir = tempDir()
    const claims = path.join(dir, "claims")
    const a = spawnChild({ dir: claims, key: "k5", log: path.join(dir, "log"), name: "a", holdMs: 800, heartbeatMs: 100 })
    await a.waitFor("held")
    const file = path.join(claims, "k5.claim")
    writeForeignClaim(file, "intruder", 0)
    await a.done()
    expect(JSON.parse(readFileSync(file, "utf8")).token).toBe("intruder")
    expect(await a.stderr.then((s) => s + a.events.map((e) => e.name).join("\n"))).toContain("no longer ours")
  }, slow)
})

describe("claims judged by heartbeat (foreign host)", () => {
  test("an old mtime is taken over; a fresh one is waited on until its heartbeat stops", async () => {
    const claims = tempDir()
    writeForeignClaim(path.join(claims, "old.claim"), "old-token", 60_000)
    const reasons: Array<string> = []
    const took = await runScoped(acquireClaim(claims, "old", { staleMs: 1_000, heartbeatMs: 100, onTakeover: (_, r) => reasons.push(r.kind) }))
    expect(took.tookOverFrom?.host).toBe("another-machine.invalid")
    expect(reasons).toEqual(["stale"])
    expect(took.waited).toBe(false)

    const file = path.join(claims, "fresh.claim")
    writeForeignClaim(file, "fresh-token", 0)
    const waits: Array<string | undefined> = []
    const fiber = Effect.runFork(
      Effect.scoped(acquireClaim(claims, "fresh", { staleMs: 1_000, heartbeatMs: 100, pollMs: 50, onWait: (o) => waits.push(o?.token) }))
    )
    // The "owner" beats for 1.5 s (longer than staleMs): the waiter must not take over meanwhile.
    const beatUntil = Date.now() + 1_500
    while (Date.now() < beatUntil) {
      const now = new Date()
      utimesSync(file, now, now)
      await Bun.sleep(100)
    }
    expect(fiber.pollUnsafe()).toBeUndefined()
    expect(waits).toEqual(["fresh-token"])
    const stoppedAt = Date.now()
    const held = await Effect.runPromise(Fiber.join(fiber))
    expect(held.waited).toBe(true)
    expect(held.tookOverFrom?.token).toBe("fresh-token")
    expect(Date.now() - stoppedAt).toBeGreaterThan(800) // it waited for staleness, not less
  }, slow)
})

describe("claims between two hosts (a child plays the other host with LWI_HOST_ID)", () => {
  const otherHost = { LWI_HOST_ID: "other-host.test" }

  test("a holder whose event loop is blocked for 2.5 × staleMs keeps its claim: its heartbeat thread beats", async () => {
    const dir = tempDir()
    const claims = path.join(dir, "claims")
    const log = path.join(dir, "log")
    const a = spawnChild({ dir: claims, key: "kb", log, name: "a", holdMs: 0, blockMs: 2_500, staleMs: 1_000, heartbeatMs: 100 }, otherHost)
    const held = await a.waitFor("held")
    expect(held.tookOverFrom).toBeUndefined()
    // This process is another host: it cannot check the holder's PID, only its heartbeat (stale after 1 s).
    const reasons: Array<string> = []
    const mine = await runScoped(
      Effect.map(acquireClaim(claims, "kb", { staleMs: 1_000, heartbeatMs: 100, pollMs: 50, onTakeover: (_, r) => reasons.push(r.message) }), (c) => {
        appendFileSync(log, `start b ${Date.now()}\nend b ${Date.now()}\n`)
        return c
      })
    )
    await a.done()
    expect(reasons).toEqual([])
    expect(mine.waited).toBe(true)
    expect(mine.tookOverFrom).toBeUndefined()
    // Waited out the whole block (2.5 s, 2.5 × staleMs) and entered only after the holder left.
    expect(mine.waitedMs).toBeGreaterThan(2_000)
    expect(sections(log).map((s) => s.name)).toEqual(["a", "b"])
  }, slow)

  test("a holder on another host killed with SIGKILL: its heartbeat stops with it, and the claim is taken over as stale", async () => {
    const dir = tempDir()
    const claims = path.join(dir, "claims")
    const a = spawnChild({ dir: claims, key: "kk", log: path.join(dir, "log"), name: "a", holdMs: 60_000, staleMs: 600, heartbeatMs: 100 }, otherHost)
    const held = await a.waitFor("held")
    const file = path.join(claims, "kk.claim")
    const owner = JSON.parse(readFileSync(file, "utf8")) as ClaimOwner
    expect(owner.host).toBe("other-host.test")
    // Kill it once its heartbeat thread is seen beating (started): from then on only the heartbeat's age counts.
    const created = statSync(file).mtimeMs
    for (let i = 0; i < 100 && statSync(file).mtimeMs === created; i++) await Bun.sleep(20)
    expect(statSync(file).mtimeMs).toBeGreaterThan(created)
    a.proc.kill("SIGKILL")
    await a.proc.exited
    const killedAt = Date.now()
    const reasons: Array<{ kind: string }> = []
    const mine = await runScoped(acquireClaim(claims, "kk", { staleMs: 600, heartbeatMs: 100, pollMs: 50, onTakeover: (_, r) => reasons.push(r) }))
    expect(mine.tookOverFrom?.token).toBe(held.token)
    expect(reasons.map((r) => r.kind)).toEqual(["stale"])
    expect(Date.now() - killedAt).toBeGreaterThan(300) // judged by heartbeat age (600 ms), not by a PID it cannot see
  }, slow)

  test("a claim from this hostname in another PID namespace is judged by heartbeat, not by a PID here", async () => {
    const claims = tempDir()
    const file = path.join(claims, "ns.claim")
    // PID 1 exists in every namespace: read as ours, it would look alive forever.
    writeFileSync(file, JSON.stringify({ pid: 1, host: hostname(), pidNamespace: "pid:[1]", token: "ns", startedAt: 0 }))
    const old = new Date(Date.now() - 60_000)
    utimesSync(file, old, old)
    const [status] = await Effect.runPromise(listClaims(claims, { staleMs: 1_000 }))
    expect(status?.status).toBe("stale")
    const took = await runScoped(acquireClaim(claims, "ns", { staleMs: 1_000, heartbeatMs: 100 }))
    expect(took.takeoverReason?.kind).toBe("stale")
  }, slow)
})

describe("claims within one process", () => {
  test("eight fibers on a stale claim: at most one reports a takeover, never two inside at once", async () => {
    const claims = tempDir()
    writeForeignClaim(path.join(claims, "race.claim"), "stale-token", 60_000)
    let inside = 0
    let maxInside = 0
    const one = Effect.scoped(
      Effect.gen(function* () {
        const held = yield* acquireClaim(claims, "race", { pollMs: 5, staleMs: 2_000, heartbeatMs: 500 })
        inside++
        maxInside = Math.max(maxInside, inside)
        yield* Effect.sleep(15)
        inside--
        return held
      })
    )
    const held = await Effect.runPromise(Effect.all(Array.from({ length: 8 }, () => one), { concurrency: "unbounded" }))
    expect(maxInside).toBe(1)
    expect(held.filter((h) => h.tookOverFrom !== undefined).length).toBeLessThanOrEqual(1)
    expect(held.filter((h) => h.waited).length).toBeGreaterThanOrEqual(6)
    expect(existsSync(path.join(claims, "race.claim"))).toBe(false)
  })

  test("released on failure and on interruption; a waiter interrupted while waiting leaves no claim", async () => {
    const claims = tempDir()
    const file = path.join(claims, "k.claim")
    const failed = await Effect.runPromiseExit(Effect.scoped(Effect.andThen(acquireClaim(claims, "k"), Effect.fail("boom"))))
    expect(Exit.isFailure(failed)).toBe(true)
    expect(existsSync(file)).toBe(false)

    writeForeignClaim(file, "someone", 0)
    const waiter = Effect.runFork(Effect.scoped(acquireClaim(claims, "k", { pollMs: 20 })))
    await Bun.sleep(100)
    await Effect.runPromise(Fiber.interrupt(waiter))
    expect(JSON.parse(readFileSync(file, "utf8")).token).toBe("someone")
  })

  test("the heartbeat moves the mtime; listClaims reports live and dead owners", async () => {
    const claims = tempDir()
    const dead = Bun.spawnSync([process.execPath, "-e", "0"]).pid
    writeFileSync(path.join(claims, "gone.claim"), JSON.stringify({ pid: dead, host: hostname(), token: "t", startedAt: 0 }))
    await runScoped(
      Effect.gen(function* () {
        const held = yield* acquireClaim(claims, "live", { heartbeatMs: 50, staleMs: 1_000 })
        const before = statSync(held.path).mtimeMs
        // The heartbeat thread takes a moment to start on a loaded machine: give it a few beats' time.
        for (let i = 0; i < 40 && statSync(held.path).mtimeMs === before; i++) yield* Effect.sleep(50)
        expect(statSync(held.path).mtimeMs).toBeGreaterThan(before)
        const listed = yield* listClaims(claims)
        expect(listed.map((c) => [c.key, c.status])).toEqual([
          ["gone", "stale"],
          ["live", "alive"]
        ])
        expect(listed[0]!.reason).toContain(`process ${dead}`)
        expect(listed[1]!.owner?.pid).toBe(process.pid)
      })
    )
    expect((await Effect.runPromise(listClaims(claims))).map((c) => c.key)).toEqual(["gone"])
  })

  test("bad keys and unsafe timings are typed errors naming the fix", async () => {
    const claims = tempDir()
    const bad = await Effect.runPromiseExit(Effect.scoped(acquireClaim(claims, "../escape")))
    expect(String(Exit.isFailure(bad) && bad.cause)).toContain("not a plain file name")
    const unsafe = await Effect.runPromiseExit(Effect.scoped(acquireClaim(claims, "k", { heartbeatMs: 20_000 })))
    expect(String(Exit.isFailure(unsafe) && unsafe.cause)).toContain("at most half of staleMs")
  })
})
