/**
 * The three LW pipelines as a user runs them (`--quick`), on a small Fashion-MNIST-format dataset the test writes
 * itself (so CI needs no download): each writes results.json with its experiments and the per-layer evidence, and a
 * pipeline run after another reports the upstream steps they share as cached. First, their data: the evidence split
 * shares no image with what the networks train on, the LW batch or the test split.
 */
import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test"
import { Effect } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import type { ImageSet } from "../../shared/data/types.ts"
import { labelHistogram } from "../../shared/data/types.ts"
import { makeEngine, runWithEngine } from "../../shared/engine/testing.ts"
import { getDataset } from "../../shared/schemas.ts"
import { dataSplits, prepareData } from "../../pipelines/lib/experiment.ts"
import { idxBytes, makeTempDir, tinyImages, write, writeMnistDir } from "../data/fixtures.ts"
import { writeImageFolder } from "./image-folder.ts"

// As `npm test` (--timeout 300000): these tests run real pipeline processes, which take minutes on 2 shared cores;
// the same limit alone as in the suite.
setDefaultTimeout(300_000)

const root = path.resolve(import.meta.dir, "../..")
const temp = await makeTempDir("lwi-lw-pipelines-")
afterAll(() => temp.cleanup())
const dataDir = path.join(temp.dir, "fashion-mnist")
await writeMnistDir(dataDir, { nTrain: 300, nTest: 120, h: 28, w: 28, gzip: true })
const cache = path.join(temp.dir, "cache")

const run = async (pipeline: string, extra: string[] = [], data: string[] = ["--data", dataDir, "--subset", "200", "--test-subset", "100"]) => {
  const out = path.join(temp.dir, "out", pipeline)
  const p = Bun.spawn(
    [process.execPath, "run", `pipelines/${pipeline}.ts`, "--quick", ...data, "--cache", cache, "--out", out, ...extra],
    { cwd: root, stdout: "pipe", stderr: "pipe", env: { ...process.env, LWI_CACHE: "", LWI_DATA: "" } }
  )
  const [stderr, code] = await Promise.all([new Response(p.stderr).text(), p.exited])
  if (code !== 0) throw new Error(`${pipeline} exited ${code}:\n${stderr.slice(-3000)}`)
  return JSON.parse(fs.readFileSync(path.join(out, "results.json"), "utf8"))
}

type Step = { name: string; cached: boolean }

describe("LW pipelines' data (lib/experiment.ts prepareData)", () => {
  /** 300 training and 60 test images, all distinct: pixels 0 and 1 hold the index and the split (0x80 = test). */
  const writeDistinct = async (into: string) => {
    for (const [prefix, n, mark] of [["train", 300, 0], ["t10k", 60, 0x80]] as const) {
      const images = tinyImages(n, 28, 28)
      for (let i = 0; i < n; i++) (images[i * 784] = i & 255), (images[i * 784 + 1] = (i >> 8) | mark)
      await write(path.join(into, `${prefix}-images-idx3-ubyte`), idxBytes(0x803, [n, 28, 28], images))
      const labels = Uint8Array.from({ length: n }, (_, i) => (i * 3) % 10)
      await write(path.join(into, `${prefix}-labels-idx1-ubyte`), idxBytes(0x801, [n], labels))
    }
  }
  /** Which fixture image each sample is (its first two pixels, normalized alike in every split). */
  const ids = (set: ImageSet) => new Set(Array.from({ length: set.n }, (_, i) => `${set.images[i * 784]},${set.images[i * 784 + 1]}`))
  const shared = (a: Set<string>, b: Set<string>) => [...a].filter((k) => b.has(k)).length

  test("the evidence (validation) images are none of the training, LW-batch or test images", async () => {
    const dir = path.join(temp.dir, "distinct", "fashion-mnist")
    await writeDistinct(dir)
    const plan = { dataset: "fashion-mnist", dataDir: dir, trainSubset: 150, testSubset: 0, rgb: false, lwBatch: 25, validation: 50, seed: 3 } as const
    const sets = await runWithEngine(
      Effect.gen(function* () {
        const data = yield* prepareData(plan)
        return {
          splits: dataSplits(data),
          train: yield* getDataset(data.train),
          lwBatch: yield* getDataset(data.lwBatch),
          validation: yield* getDataset(data.validation),
          test: yield* getDataset(data.test)
        }
      }),
      makeEngine()
    )
    const [train, lwBatch, validation, test] = [sets.train, sets.lwBatch, sets.validation, sets.test].map(ids) as [Set<string>, Set<string>, Set<string>, Set<string>]
    expect([train.size, lwBatch.size, validation.size, test.size]).toEqual([150, 25, 50, 60])
    expect(shared(validation, test)).toBe(0)
    expect(shared(validation, train)).toBe(0)
    expect(shared(validation, lwBatch)).toBe(0)
    expect(shared(train, test)).toBe(0)
    // The LW batch is drawn from the training set the networks train on.
    expect(shared(lwBatch, train)).toBe(25)
    expect(labelHistogram(sets.validation)).toEqual(new Array(10).fill(5))
    expect(sets.splits).toEqual({
      training: { split: "train", count: 150 },
      lwBatch: { split: "train", count: 25 },
      evidence: { split: "validation", count: 50 },
      accuracy: { split: "test", count: 60 }
    })
  })
})
type Experiment = { id: string; testAccuracy: number; testLoss: number | null; diverged: boolean; divergedAt: string | null; epochs: number }

/**
 * Each row's accuracy is a count of correct answers over the `n` test images (not a percentage, not a mean of
 * per-batch means), and `diverged` is exactly what the row shows: a divergence point, or a loss that is not finite.
 */
const expectScoredOn = (experiments: Experiment[], n: number) => {
  for (const e of experiments) {
    const correct = e.testAccuracy * n
    expect({ id: e.id, offCount: Math.abs(correct - Math.round(correct)) < 1e-6, inRange: correct >= 0 && correct <= n }).toEqual({ id: e.id, offCount: true, inRange: true })
    expect({ id: e.id, diverged: e.diverged }).toEqual({ id: e.id, diverged: e.divergedAt !== null || e.testLoss === null })
  }
}

describe("LW pipelines, --quick", () => {
  test("lenet-ablation: LW, LAE1–4 and Kaiming, with per-layer statistics", async () => {
    const r = await run("lenet-ablation")
    expect(r.experiments.map((e: Experiment) => e.id)).toEqual(["LW", "LAE1", "LAE2", "LAE3", "LAE4", "Kaiming"])
    expectScoredOn(r.experiments, 100)
    expect(Object.keys(r.layerStats)).toEqual(["LW", "LAE1", "LAE2", "LAE3", "LAE4"])
    expect(r.layerStats.LW.map((s: { name: string }) => s.name)).toEqual(["conv1", "conv2", "fc1", "fc2", "fc3"])
    // One cached step per learned layer: 4 layers × 5 configs.
    expect(r.steps.filter((s: Step) => s.name === "learn-layer-init").length).toBe(20)
    // Which split each figure comes from: evidence on the validation split (--quick: 100, carved out of the 300
    // training images before the 200-image subset), accuracy on the test split.
    expect(r.splits).toEqual({
      training: { split: "train", count: 200 },
      lwBatch: { split: "train", count: 25 },
      evidence: { split: "validation", count: 100 },
      accuracy: { split: "test", count: 100 }
    })
    const report = fs.readFileSync(path.join(temp.dir, "out", "lenet-ablation", "report.md"), "utf8")
    expect(report).toContain("## Evidence: per-layer statistics after LW, on 100 held-out validation images")
    expect(report).not.toContain("held-out test")
  })

  test("lenet-init-grid after lenet-ablation: the shared data steps and the ReLU × LW layers come from the cache", async () => {
    const r = await run("lenet-init-grid")
    expect(r.experiments.length).toBe(9)
    expectScoredOn(r.experiments, 100)
    // relu × LW is the ablation's LW from the same cached steps: the same figures, not a recomputation that drifted.
    const ablation = JSON.parse(fs.readFileSync(path.join(temp.dir, "out", "lenet-ablation", "results.json"), "utf8"))
    const pick = (rows: Experiment[], id: string) => {
      const e = rows.find((x) => x.id === id)!
      return { testAccuracy: e.testAccuracy, testLoss: e.testLoss, diverged: e.diverged, epochs: e.epochs }
    }
    expect(pick(r.experiments, "relu × LW")).toEqual(pick(ablation.experiments, "LW"))
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

  test("resnet-nobn: the thesis's five experiments, every conv learned (including the 1×1 downsamples), with each start", async () => {
    // Listed in another order than the plan's: the rows come in the plan's. LSUV and Fixup run in the folder test below.
    const r = await run("resnet-nobn", ["--lw-max-epochs", "3", "--lw-batch", "8", "--experiments", "kaiming-bn,lw,lw-thesis,kaiming,normal"])
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
    expectScoredOn(r.experiments, 100)
  })

  test("resnet-nobn on an Imagenette-layout folder: the model follows the data (3 classes, 16×16 RGB)", async () => {
    // 3 classes × 14 training / 5 validation JPEGs of mixed sizes, each class its own colour.
    const dir = await writeImageFolder(path.join(temp.dir, "imagenette-mini"), { classes: 3, train: 14, val: 5 })
    // 2 validation images per class for the evidence, leaving 12 per class to train on.
    const data = ["--dataset", "imagenette", "--data", dir, "--size", "16", "--subset", "0", "--test-subset", "0", "--validation", "6"]
    const r = await run("resnet-nobn", ["--lw-max-epochs", "2", "--lw-batch", "12", "--experiments", "lw,kaiming-bn,lsuv,fixup-init"], data)
    expect(r.experiments.map((e: Experiment) => e.id)).toEqual([
      "LW (no BN)",
      "Kaiming + BN",
      "LSUV on the LW batch (no BN)",
      "Fixup init only, no scalar biases/multipliers (no BN)"
    ])
    expectScoredOn(r.experiments, 15)
    // LSUV measured on the LW batch (the same sample-minibatch artifact LW learned on), and its start's evidence.
    const lsuv = r.steps.filter((s: Step) => s.name === "lsuv-init")
    expect(lsuv).toHaveLength(1)
    expect(Object.keys(r.layerStats)).toContain("LSUV on the LW batch (no BN)")
    expect(Object.keys(r.layerStats)).toContain("Fixup init only, no scalar biases/multipliers (no BN)") // 3 classes × 5 val images
    const prepared = r.steps.find((s: Step) => s.name === "prepare-dataset")
    expect(prepared.cached).toBe(false)
    expect(r.layerStats["LW (no BN)"].at(-1).name).toBe("fc")
    expect(r.splits.evidence).toEqual({ split: "validation", count: 6 })
    expect(r.splits.training).toEqual({ split: "train", count: 36 })
  })
})
