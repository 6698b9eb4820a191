/**
 * Threads default to the cores the process may use (issue 16): the demo pipeline without --threads, run on every
 * core it may use and again pinned to one core with taskset, records that many threads in results.json's
 * environment (the cache key's), says the count in its first line, and an explicit --threads still wins.
 */
import { describe, expect, test } from "bun:test"
import { mkdtempSync, readFileSync } from "node:fs"
import * as os from "node:os"
import { join } from "node:path"
import { defaultThreads } from "../../shared/backend/setup.ts"
import { projectRoot } from "../../shared/engine/code.ts"

const dir = mkdtempSync(join(os.tmpdir(), "lwi-threads-default-"))
const demo = (name: string, prefix: string[], args: string[]) => {
  const out = join(dir, name)
  const r = Bun.spawnSync([...prefix, process.execPath, "run", "pipelines/demo.ts", "--quick", "--backend", "torch", "--cache", join(dir, "cache"), "--out", out, ...args], {
    cwd: projectRoot(),
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, LWI_CACHE: undefined, LWI_BACKEND: undefined }
  })
  const log = r.stdout.toString() + r.stderr.toString()
  if (r.exitCode !== 0) throw new Error(`demo ${args.join(" ")} exited ${r.exitCode}: ${log.slice(-2000)}`)
  const results = JSON.parse(readFileSync(join(out, "results.json"), "utf8")) as { environment: { threads?: number } }
  return { log, threads: results.environment.threads }
}

describe("threads default to the cores the process may use", () => {
  test("defaultThreads is the affinity-aware core count", () => {
    expect(defaultThreads()).toBe(os.availableParallelism())
    expect(defaultThreads()).toBeGreaterThanOrEqual(1)
  })

  test("demo without --threads runs on every allowed core; taskset narrows it; --threads wins", () => {
    const all = demo("all", [], [])
    expect(all.threads).toBe(os.availableParallelism())
    expect(all.log).toContain(`threads: ${os.availableParallelism()} (the cores this process may use`)

    const pinned = demo("pinned", ["taskset", "-c", "0"], [])
    expect(pinned.threads).toBe(1)
    expect(pinned.log).toContain("threads: 1 (the cores this process may use")

    const explicit = demo("explicit", ["taskset", "-c", "0"], ["--threads", "2"])
    expect(explicit.threads).toBe(2)
    expect(explicit.log).toContain("threads: 2 (--threads)")
  }, 180_000)
})
