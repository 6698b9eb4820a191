/**
 * Two real processes running overlapping pipelines on one cache compute each key once: the second waits on the
 * first's claim and then finds the result cached (shared/engine/claim.ts, wired in shared/engine/runner.ts). A claim
 * left by a process killed mid-step is taken over at once (its PID is dead) by the next run.
 */
import { describe, expect, test } from "bun:test"
import { existsSync, mkdtempSync, readFileSync, readdirSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { projectRoot } from "../../shared/engine/code.ts"

const root = projectRoot()
interface StepRow { readonly name: string; readonly key: string; readonly cached: boolean }

const spawnPipeline = (name: string, cache: string, out: string, extra: string[] = []) =>
  Bun.spawn([process.execPath, "run", join(root, "pipelines", `${name}.ts`), "--quick", "--backend", "wasm", "--cache", cache, "--out", out, ...extra], {
    cwd: root,
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, LWI_CACHE: undefined }
  })

const finish = async (p: ReturnType<typeof spawnPipeline>, out: string) => {
  const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited])
  if (code !== 0) throw new Error(`exit ${code}\n${stdout.slice(-3000)}\n${stderr.slice(-2000)}`)
  return { stdout: `${stdout}\n${stderr}`, steps: (JSON.parse(readFileSync(join(out, "results.json"), "utf8")) as { steps: StepRow[] }).steps }
}

describe("runs that share a cache", () => {
  test("two concurrent runs of overlapping pipelines compute each key once", async () => {
    // Two processes started together overlap on their first steps; on a loaded machine one may start late enough to
    // find everything done, which tests nothing: then try again (at most 3 times) rather than pass vacuously.
    for (let attempt = 1; ; attempt++) {
      const dir = mkdtempSync(join(tmpdir(), "lwi-shared-"))
      const cache = join(dir, "cache")
      const a = spawnPipeline("example-ablation", cache, join(dir, "a"), ["--lw-max-epochs", "10"])
      const b = spawnPipeline("example-ablation", cache, join(dir, "b"), ["--lw-max-epochs", "10"])
      const [ra, rb] = await Promise.all([finish(a, join(dir, "a")), finish(b, join(dir, "b"))])
      const computedKeys = [...ra.steps, ...rb.steps].filter((s) => !s.cached).map((s) => s.key)
      // Each key computed by exactly one of the two processes...
      expect(new Set(computedKeys).size).toBe(computedKeys.length)
      // ...and every key either of them used was computed by one of them (the cache started empty).
      const used = new Set([...ra.steps, ...rb.steps].map((s) => s.key))
      expect(new Set(computedKeys)).toEqual(used)
      expect(readdirSync(join(cache, "claims")).filter((f) => f.endsWith(".claim"))).toEqual([])
      // They really overlapped: one waited on the other's claim.
      const waited = /is being computed by process \d+ on .*; waiting/.test(`${ra.stdout}\n${rb.stdout}`)
      if (waited) break
      if (attempt === 3) throw new Error("in 3 attempts the two runs never overlapped on a key")
    }
  }, 480_000)

  test("a claim left by a killed process is taken over by the next run, which completes", async () => {
    const dir = mkdtempSync(join(tmpdir(), "lwi-killed-"))
    const cache = join(dir, "cache")
    const victim = spawnPipeline("example-ablation", cache, join(dir, "a"), ["--lw-max-epochs", "10"])
    // Kill it while it holds a claim (inside a step).
    const claims = join(cache, "claims")
    const deadline = Date.now() + 60_000
    while (Date.now() < deadline && !(existsSync(claims) && readdirSync(claims).some((f) => f.endsWith(".claim")))) {
      await Bun.sleep(20)
    }
    victim.kill("SIGKILL")
    await victim.exited
    expect(readdirSync(claims).filter((f) => f.endsWith(".claim")).length).toBeGreaterThan(0)
    const started = performance.now()
    const next = await finish(spawnPipeline("example-ablation", cache, join(dir, "b"), ["--lw-max-epochs", "10"]), join(dir, "b"))
    expect(next.stdout).toMatch(/took over from process \d+ .*(dead|gone|no longer)/i)
    // Taken over at once (the PID is dead), not after the 30 s staleness of a claim from another host.
    expect((performance.now() - started) / 1000).toBeLessThan(60)
    expect(readdirSync(claims).filter((f) => f.endsWith(".claim"))).toEqual([])
  }, 240_000)
})
