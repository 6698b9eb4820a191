/**
 * The three LW pipelines as a user runs them (`--quick`), on a small Fashion-MNIST-format dataset the test writes
 * itself (so CI needs no download): each writes results.json with its experiments and the per-layer evidence, and a
 * pipeline run after another reports the upstream steps they share as cached.
 */
import { afterAll, describe, expect, test } from "bun:test"
import * as fs from "node:fs"
import * as path from "node:path"
import { makeTempDir, writeMnistDir } from "../data/fixtures.ts"

const root = path.resolve(import.meta.dir, "../..")
const temp = await makeTempDir("lwi-lw-pipelines-")
afterAll(() => temp.cleanup())
const dataDir = path.join(temp.dir, "fashion-mnist")
await writeMnistDir(dataDir, { nTrain: 300, nTest: 120, h: 28, w: 28, gzip: true })
const cache = path.join(temp.dir, "cache")

const run = async (pipeline: string, extra: string[] = []) => {
  const out = path.join(temp.dir, "out", pipeline)
  const p = Bun.spawn(
    [process.execPath, "run", `pipelines/${pipeline}.ts`, "--quick", "--data", dataDir, "--cache", cache, "--out", out,
      "--subset", "200", "--test-subset", "100", ...extra],
    { cwd: root, stdout: "pipe", stderr: "pipe", env: { ...process.env, LWI_CACHE: "", LWI_DATA: "" } }
  )
  const [stderr, code] = await Promise.all([new Response(p.stderr).text(), p.exited])
  if (code !== 0) throw new Error(`${pipeline} exited ${code}:\n${stderr.slice(-3000)}`)
  return JSON.parse(fs.readFileSync(path.join(out, "results.json"), "utf8"))
}

type Step = { name: string; cached: boolean }
type Experiment = { id: string; testAccuracy: number; diverged: boolean; epochs: number }

describe("LW pipelines, --quick", () => {
  test("lenet-ablation: LW, LAE1–4 and Kaiming, with per-layer statistics", async () => {
    const r = await run("lenet-ablation")
    expect(r.experiments.map((e: Experiment) => e.id)).toEqual(["LW", "LAE1", "LAE2", "LAE3", "LAE4", "Kaiming"])
    for (const e of r.experiments as Experiment[]) expect(e.testAccuracy).toBeGreaterThanOrEqual(0)
    expect(Object.keys(r.layerStats)).toEqual(["LW", "LAE1", "LAE2", "LAE3", "LAE4"])
    expect(r.layerStats.LW.map((s: { name: string }) => s.name)).toEqual(["conv1", "conv2", "fc1", "fc2", "fc3"])
    // One cached step per learned layer: 4 layers × 5 configs.
    expect(r.steps.filter((s: Step) => s.name === "learn-layer-init").length).toBe(20)
  })

  test("lenet-init-grid after lenet-ablation: the shared data steps and the ReLU × LW layers come from the cache", async () => {
    const r = await run("lenet-init-grid")
    expect(r.experiments.length).toBe(9)
    const cached = (name: string) => r.steps.filter((s: Step) => s.name === name).every((s: Step) => s.cached)
    expect(cached("prepare-dataset")).toBe(true)
    expect(cached("sample-minibatch")).toBe(true)
    // relu × LW is the ablation's LW experiment: its layers, training and evaluation are all hits.
    expect(r.steps.filter((s: Step) => s.cached && s.name === "learn-layer-init").length).toBe(4)
  })

  test("example-ablation (README): a few lines of composition; everything shared with lenet-init-grid is cached", async () => {
    const r = await run("example-ablation")
    expect(r.experiments.map((e: Experiment) => e.id)).toEqual(["tanh × LW", "tanh × LW, var on layer output, α = 10"])
    const first = (name: string) => r.steps.find((s: Step) => s.name === name)
    expect(first("prepare-dataset").cached).toBe(true)
    expect(first("sample-minibatch").cached).toBe(true)
    // tanh × LW was run by lenet-init-grid: 4 layers, freeze, train, evaluate, all hits; the new variant runs.
    expect(r.steps.filter((s: Step) => s.cached).length).toBeGreaterThanOrEqual(3 + 4 + 3)
    expect(r.steps.filter((s: Step) => !s.cached && s.name === "learn-layer-init").length).toBe(4)
  })

  test("resnet-nobn: five experiments, every conv learned (including the 1×1 downsamples), with each start", async () => {
    const r = await run("resnet-nobn", ["--lw-max-epochs", "3", "--lw-batch", "8"])
    expect(r.experiments.map((e: Experiment) => e.id)).toEqual([
      "LW (no BN)",
      "LW, thesis start N(0,0.1²), plain SGD (no BN)",
      "RAE1: Kaiming (no BN)",
      "RAE2: N(0,1) (no BN)",
      "Kaiming + BN"
    ])
    // stem conv + 16 block convs + 3 downsamples, for each of the two LW configs; the classifier keeps its standard init
    const learned = r.steps.filter((s: Step) => s.name === "learn-layer-init").length
    expect(learned).toBe(40)
    // Evidence for every start without BN: the two LW variants after learning, RAE1 and RAE2 at their draw.
    expect(Object.keys(r.layerStats)).toEqual([
      "LW (no BN)",
      "LW, thesis start N(0,0.1²), plain SGD (no BN)",
      "RAE1: Kaiming (no BN)",
      "RAE2: N(0,1) (no BN)"
    ])
    expect(r.layerStats["LW (no BN)"].map((s: { name: string }) => s.name)).toContain("layer2.0.downsample")
    for (const e of r.experiments as Experiment[]) expect(typeof e.diverged).toBe("boolean")
  })
})
