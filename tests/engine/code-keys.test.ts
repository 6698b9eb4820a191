/**
 * Code-aware keys, end to end, in a temporary copy of the repository: a real pipeline (example-ablation --quick:
 * data preparation, LW layer by layer, training, evaluation) is run, a file is edited, and it is run again on the same
 * cache. Editing shared/lw recomputes exactly the steps whose code reaches it (the LW layers and the freeze step);
 * since the edit does not change what LW computes, everything downstream finds byte-identical inputs and stays cached
 * (early cut-off). Editing a report helper or a comment recomputes nothing.
 */
import { describe, expect, test } from "bun:test"
import { appendFileSync, cpSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { projectRoot } from "../../shared/engine/code.ts"

const root = projectRoot()

/** The repository's code in a temp dir; node_modules and the built torch shim are shared, not copied. */
const copyRepo = (): string => {
  const dir = mkdtempSync(join(tmpdir(), "lwi-repo-"))
  for (const entry of ["shared", "steps", "pipelines", "package.json", "tsconfig.json", "bunfig.toml"]) {
    cpSync(join(root, entry), join(dir, entry), { recursive: true })
  }
  symlinkSync(join(root, "node_modules"), join(dir, "node_modules"))
  mkdirSync(join(dir, ".lwi"))
  symlinkSync(join(root, ".lwi", "native"), join(dir, ".lwi", "native"))
  return dir
}

interface StepRow { readonly name: string; readonly cached: boolean }

const run = (dir: string): { steps: StepRow[]; experiments: unknown } => {
  const r = Bun.spawnSync(
    ["npx", "bun", "run", "pipelines/example-ablation.ts", "--quick", "--backend", "wasm", "--lw-max-epochs", "10", "--cache", "cache", "--out", "out"],
    { cwd: dir, stdout: "pipe", stderr: "pipe", env: { ...process.env, LWI_CACHE: undefined } }
  )
  if (r.exitCode !== 0) throw new Error(`example-ablation exited ${r.exitCode}: ${r.stdout.toString().slice(-2000)}${r.stderr.toString().slice(-2000)}`)
  const results = JSON.parse(readFileSync(join(dir, "out", "results.json"), "utf8")) as { steps: StepRow[]; experiments: unknown }
  return results
}

/** The experiments' figures without their wall times (a recomputed step takes another time, with the same result). */
const figures = (x: unknown): unknown =>
  Array.isArray(x)
    ? x.map(figures)
    : x !== null && typeof x === "object"
      ? Object.fromEntries(Object.entries(x).filter(([k]) => k !== "seconds" && k !== "lwSeconds").map(([k, v]) => [k, figures(v)]))
      : x

/** Names of the steps that were computed (not cached), each once, sorted. */
const computed = (steps: ReadonlyArray<StepRow>) => [...new Set(steps.filter((s) => !s.cached).map((s) => s.name))].sort()

describe("code-aware cache keys (a temporary copy of the repository)", () => {
  test("editing shared/lw recomputes LW only; a report helper or a comment recomputes nothing", () => {
    const dir = copyRepo()
    const first = run(dir)
    expect(computed(first.steps)).toEqual(["evaluate", "freeze", "init-weights", "learn-layer-init", "prepare-dataset", "sample-minibatch", "train"])

    // A code edit in LW's per-layer learning that does not change what it computes.
    appendFileSync(join(dir, "shared/lw/learn-layer.ts"), "\nexport const editedForTheTest = 1\n")
    const afterLw = run(dir)
    expect(computed(afterLw.steps)).toEqual(["freeze", "learn-layer-init"])
    expect(afterLw.steps.filter((s) => s.name === "learn-layer-init").every((s) => !s.cached)).toBe(true)
    expect(figures(afterLw.experiments)).toEqual(figures(first.experiments))

    // A report helper, a pipeline's wording, a comment in a step's code: nothing recomputes.
    appendFileSync(join(dir, "pipelines/lib/report.ts"), "\nexport const reworded = (s: string) => `${s}!`\n")
    const exampleAblation = join(dir, "pipelines/example-ablation.ts")
    writeFileSync(exampleAblation, readFileSync(exampleAblation, "utf8").replace(/description: "([^"]*)"/, 'description: "$1 (reworded)"'))
    appendFileSync(join(dir, "shared/lw/learn-layer.ts"), "\n/** A comment only. */\n")
    const afterReport = run(dir)
    expect(computed(afterReport.steps)).toEqual([])
    expect(figures(afterReport.experiments)).toEqual(figures(first.experiments))
  }, 240_000)
})
