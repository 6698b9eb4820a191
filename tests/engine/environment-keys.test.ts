/**
 * The tensor environment in the key, end to end: the demo pipeline run on one cache with torch at 1 thread, again,
 * at 2 threads, and on wasm. Steps without tensors (make-circles) are shared by all; tensor steps are computed once
 * per environment, and results.json records the environment each run used.
 */
import { describe, expect, test } from "bun:test"
import { mkdtempSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { projectRoot } from "../../shared/engine/code.ts"

interface Results {
  readonly steps: ReadonlyArray<{ name: string; cached: boolean }>
  readonly environment: { backend: string; threads?: number; native: string[] }
  readonly code: { commit: string | null; packages: Record<string, string> }
}

const dir = mkdtempSync(join(tmpdir(), "lwi-env-keys-"))
const run = (args: string[]): Results => {
  const out = join(dir, "out")
  const r = Bun.spawnSync([process.execPath, "run", "pipelines/demo.ts", "--quick", "--cache", join(dir, "cache"), "--out", out, ...args], {
    cwd: projectRoot(),
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, LWI_CACHE: undefined, LWI_BACKEND: undefined }
  })
  if (r.exitCode !== 0) throw new Error(`demo ${args.join(" ")} exited ${r.exitCode}: ${r.stderr.toString().slice(-2000)}`)
  return JSON.parse(readFileSync(join(out, "results.json"), "utf8")) as Results
}
const computed = (r: Results) => [...new Set(r.steps.filter((s) => !s.cached).map((s) => s.name))].sort()

describe("tensor environment in the cache key (demo pipeline, one cache)", () => {
  test("another thread count or backend recomputes the tensor steps only; the same one hits", () => {
    const torch1 = run(["--backend", "torch", "--threads", "1"])
    expect(computed(torch1)).toEqual(["decision-grid", "evaluate", "init-weights", "make-circles", "train"])
    expect(torch1.environment.backend).toBe("torch")
    expect(torch1.environment.threads).toBe(1)
    expect(torch1.environment.native.some((l) => l.startsWith("libtorch_cpu"))).toBe(true)
    expect(torch1.code.packages["@tensorflow/tfjs"]).toMatch(/^\d+\./)

    expect(computed(run(["--backend", "torch", "--threads", "1"]))).toEqual([])
    const torch2 = run(["--backend", "torch", "--threads", "2"])
    expect(computed(torch2)).toEqual(["decision-grid", "evaluate", "init-weights", "train"])
    expect(torch2.environment.threads).toBe(2)
    const wasm = run(["--backend", "wasm"])
    expect(computed(wasm)).toEqual(["decision-grid", "evaluate", "init-weights", "train"])
    expect(wasm.environment.backend).toBe("wasm")
    expect(computed(run(["--backend", "torch", "--threads", "2"]))).toEqual([])
  }, 240_000)
})
