/**
 * The flags that expose the library (pipelines/lib/flags.ts): each value becomes the config the library takes, the
 * defaults are today's configs exactly (so today's cache keys), a value a pipeline cannot use is a BadConfig naming
 * the flag and the fix; the LSUV step and the Fixup start of resnet-nobn's new rows; and lenet-init-grid on an image
 * folder (the thesis's Table 6.4) with the new activations and inits, as a user runs it.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test"
import * as tf from "@tensorflow/tfjs"
import { Effect, Schema } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { tensorEnvironment } from "../../shared/backend/fingerprint.ts"
import { makeCircles } from "../../shared/data/circles.ts"
import { step } from "../../shared/engine/pipeline.ts"
import { makeEngine, runWithEngine } from "../../shared/engine/testing.ts"
import { BadConfig } from "../../shared/errors.ts"
import { defaultInitConfigs } from "../../shared/init/initializers.ts"
import { Activation, type ModelSpec } from "../../shared/models/spec.ts"
import { getWeights, putDataset } from "../../shared/schemas.ts"
import { withModelOnBatch } from "../../shared/train/tensors.ts"
import { forwardTo } from "../../shared/models/forward.ts"
import { initWeights } from "../../steps/init-weights.ts"
import { lsuvInit, paperLsuv } from "../../steps/lsuv-init.ts"
import { type FlagDefs, commonFlags, parseFlags } from "../../shared/engine/flags.ts"
import { flagRecord } from "../../shared/engine/main.ts"
import { baseline } from "../../pipelines/baseline.ts"
import { demo } from "../../pipelines/demo.ts"
import {
  ADAM_LR,
  ACTIVATION_FLAG_NAMES,
  INIT_FLAG_NAMES,
  activationFrom,
  datasetFrom,
  IMAGE_DATASETS,
  initFrom,
  listFrom,
  optimizerFlags,
  optimizerFrom,
  trainConfigFrom,
  trainFlags
} from "../../pipelines/lib/flags.ts"
import { cifarBytes, makeTempDir, write } from "../data/fixtures.ts"
import { writeImageFolder } from "./image-folder.ts"

setDefaultTimeout(300_000)

const thrown = (f: () => unknown) => {
  try {
    f()
  } catch (e) {
    return e
  }
  throw new Error("did not throw")
}

describe("flag values → the library's configs", () => {
  test("no optimizer flags: today's SGD (momentum 0.9, no decay), so every default key is unchanged", () => {
    expect(trainConfigFrom({ epochs: 3, lr: 0.01, batch: 32, seed: 5 })).toEqual({
      optimizer: { kind: "sgd", momentum: 0.9, weightDecay: 0 },
      lr: 0.01,
      schedule: { kind: "constant" },
      epochs: 3,
      batchSize: 32,
      seed: 5
    })
    expect(optimizerFrom({ optimizer: "sgd", weightDecay: "default" })).toEqual({ kind: "sgd", momentum: 0.9, weightDecay: 0 })
  })

  test("adam and adamw: no SGD momentum; weight decay PyTorch's default per optimizer unless given", () => {
    expect(optimizerFrom({ optimizer: "adam", weightDecay: "default" })).toEqual({ kind: "adam", momentum: 0, weightDecay: 0 })
    expect(optimizerFrom({ optimizer: "adamw", weightDecay: "default" })).toEqual({ kind: "adamw", momentum: 0, weightDecay: 0.01 })
    expect(optimizerFrom({ optimizer: "adamw", weightDecay: "5e-4" })).toEqual({ kind: "adamw", momentum: 0, weightDecay: 5e-4 })
  })

  test("every activation a user names is a model activation; the kebab names map to the library's", () => {
    const names = ACTIVATION_FLAG_NAMES.map(activationFrom)
    expect(names).toEqual(["sigmoid", "tanh", "relu", "leakyRelu", "prelu", "elu", "wibRelu"])
    for (const n of names) expect(Schema.is(Activation)(n)).toBe(true)
  })

  test("every initializer of the library is reachable by name, plus LSUV; each resolves to its default config", () => {
    const choices = INIT_FLAG_NAMES.map(initFrom)
    expect(new Set<string>(choices.map((c) => c.name))).toEqual(new Set([...Object.keys(defaultInitConfigs), "lsuv"]))
    for (const c of choices) if (c.kind === "draw") expect(c.config).toEqual(defaultInitConfigs[c.name])
    expect(initFrom("kaiming-normal")).toEqual({ kind: "draw", name: "kaimingNormal", config: defaultInitConfigs.kaimingNormal })
  })

  test("a list with an unknown or repeated value is a BadConfig naming the flag", () => {
    expect(listFrom("activations", "relu, wib-relu", ACTIVATION_FLAG_NAMES)).toEqual(["relu", "wib-relu"])
    const unknown = thrown(() => listFrom("activations", "relu,swish", ACTIVATION_FLAG_NAMES)) as BadConfig
    expect(unknown).toBeInstanceOf(BadConfig)
    expect([unknown.field, unknown.value]).toEqual(["--activations", "swish"])
    expect(unknown.expected).toContain("wib-relu")
    const repeated = thrown(() => listFrom("inits", "lw,lsuv,lw", ["lw", "lsuv"])) as BadConfig
    expect([repeated.field, repeated.expected]).toEqual(["--inits", "each value once (lw is repeated)"])
  })

  test("a dataset a pipeline cannot use is a BadConfig naming --dataset and the fix", () => {
    expect(datasetFrom("cifar10", IMAGE_DATASETS, "x")).toBe("cifar10")
    const e = thrown(() => datasetFrom("circles", IMAGE_DATASETS, "LeNet-5 takes images; give --model mlp")) as BadConfig
    expect(e).toBeInstanceOf(BadConfig)
    expect(e.field).toBe("--dataset")
    expect(e.message).toContain("give --model mlp")
  })
})

describe("--lr follows --optimizer when not given", () => {
  const defs = { ...commonFlags, ...trainFlags({ epochs: 5, quickEpochs: 1, subset: 0, quickSubset: 1000, testSubset: 0, quickTestSubset: 500 }), ...optimizerFlags }
  const parse = (argv: string[]) => parseFlags(defs, argv, {})
  const parseWith = (d: FlagDefs, argv: string[]) => parseFlags(d, argv, {})

  test("SGD (the default): lr 0.01 as always, no note, and the very TrainConfig of before (so the same keys)", () => {
    const c = parse([])
    expect(c.lr).toBe(0.01)
    expect(c.notes).toEqual([])
    expect(trainConfigFrom(c)).toEqual({ optimizer: { kind: "sgd", momentum: 0.9, weightDecay: 0 }, lr: 0.01, schedule: { kind: "constant" }, epochs: 5, batchSize: 32, seed: 0 })
    expect(parse(["--optimizer", "sgd"]).lr).toBe(0.01)
    // A pipeline without --optimizer keeps SGD's lr.
    const { optimizer: _o, weightDecay: _w, ...withoutOptimizer } = defs
    expect(parseWith(withoutOptimizer, []).lr).toBe(0.01)
  })

  test("Adam and AdamW: 1e-3 (Kingma & Ba), said in one line; recorded as the run's lr", () => {
    const adam = parse(["--optimizer", "adam"])
    expect(adam.lr).toBe(ADAM_LR)
    expect(ADAM_LR).toBe(0.001)
    expect(adam.notes).toEqual(["lr 0.001: Adam's default (Kingma & Ba); --lr to change"])
    expect(trainConfigFrom(adam)).toMatchObject({ optimizer: { kind: "adam" }, lr: 0.001 })
    const adamw = parse(["--optimizer", "adamw", "--quick"])
    expect(adamw.lr).toBe(0.001)
    expect(adamw.notes).toEqual(["lr 0.001: AdamW's default (Kingma & Ba); --lr to change"])
    // results.json's config is the parsed config: the lr the run used.
    expect(flagRecord(defs, adam).config["lr"]).toBe(0.001)
  })

  test("an explicit --lr always wins, for every optimizer; a bad one is still a usage error", () => {
    for (const optimizer of ["sgd", "adam", "adamw"]) {
      const c = parse(["--optimizer", optimizer, "--lr", "0.05"])
      expect(c.lr).toBe(0.05)
      expect(c.notes).toEqual([])
    }
    expect(() => parse(["--optimizer", "adam", "--lr", "0"])).toThrow("--lr must be positive")
  })

  test("baseline and demo take the same rule (their own SGD lr: 0.01 and 0.02)", () => {
    const baselineDefs = { ...commonFlags, ...baseline.flags }
    expect(parseWith(baselineDefs, []).lr).toBe(0.01)
    expect(parseWith(baselineDefs, ["--optimizer", "adamw"]).lr).toBe(0.001)
    const demoDefs = { ...commonFlags, ...demo.flags }
    expect(parseWith(demoDefs, []).lr).toBe(0.02)
    expect(parseWith(demoDefs, ["--optimizer", "adam"]).lr).toBe(0.001)
  })
})

describe("resnet-nobn's new starts", () => {
  beforeAll(async () => {
    await tf.setBackend("cpu")
  })
  const engine = () => makeEngine({ environment: tensorEnvironment(undefined) })

  test("lsuv-init: every layer's output variance on the batch it measured is within the paper's tolerance of 1", async () => {
    // A small MLP on 2-D points: fast, and every layer a dense one LSUV scales.
    const model: ModelSpec = { arch: "mlp", inputShape: [1, 2, 1], depth: 3, width: 32, classes: 2, activation: "tanh" }
    const points = makeCircles({ n: 64, seed: 3 })
    const out = await runWithEngine(
      Effect.gen(function* () {
        const batch = yield* putDataset(points)
        const r = yield* step(lsuvInit, { model, settings: paperLsuv, batch, seed: 1, backend: "cpu" })
        return { ...r, arrays: yield* getWeights(r.weights) }
      }),
      engine()
    )
    expect(out.layers.map((l) => l.layer)).toEqual(["fc1", "fc2", "fc3", "fc4"])
    expect(out.layers.every((l) => l.converged)).toBe(true)
    // Measured again here, from the stored weights: not the step's own word for it.
    const variances = withModelOnBatch(model, out.arrays, points, (m, x) =>
      out.layers.map((l) => {
        const f = forwardTo(m, l.layer, x)
        const v = tf.moments(f.output).variance.dataSync()[0]!
        for (const t of [f.input, f.output, f.activation, f.shortcut]) t?.dispose()
        return v
      })
    )
    for (const v of variances) expect(Math.abs(v - 1)).toBeLessThan(paperLsuv.tolerance)
  })

  test("Fixup's start on ResNet18 without BN: every block's last conv and the classifier at 0, the first convs scaled", async () => {
    const model: ModelSpec = { arch: "resnet18", inputShape: [16, 16, 1], classes: 3, batchNorm: false, stem: "small", activation: "relu" }
    const fixup = initFrom("fixup")
    if (fixup.kind !== "draw") throw new Error("fixup is a draw")
    const arrays = await runWithEngine(Effect.flatMap(step(initWeights, { model, init: fixup.config, seed: 2 }), getWeights), engine())
    const norm = (name: string) => Math.sqrt((arrays[name]!.data as Float32Array).reduce((a, w) => a + w * w, 0))
    expect(norm("layer1.0.conv2/kernel")).toBe(0)
    expect(norm("layer4.1.conv2/kernel")).toBe(0)
    expect(norm("fc/kernel")).toBe(0)
    expect(norm("layer1.0.conv1/kernel")).toBeGreaterThan(0)
    expect(norm("layer2.0.downsample/kernel")).toBeGreaterThan(0)
  })
})

describe("the pipelines with the new flags, as a user runs them", () => {
  const root = path.resolve(import.meta.dir, "../..")
  let temp: { dir: string; cleanup: () => Promise<void> }
  let folder: string
  beforeAll(async () => {
    temp = await makeTempDir("lwi-study-flags-")
    folder = await writeImageFolder(path.join(temp.dir, "imagenette"), { classes: 3, train: 12, val: 4 })
  })
  afterAll(() => temp.cleanup())

  const run = async (pipeline: string, args: string[], name = pipeline) => {
    const out = path.join(temp.dir, "out", name)
    const p = Bun.spawn([process.execPath, "run", `pipelines/${pipeline}.ts`, "--quick", "--threads", "1", "--cache", path.join(temp.dir, "cache"), "--out", out, ...args], {
      cwd: root,
      stdout: "pipe",
      stderr: "pipe",
      env: { ...process.env, LWI_CACHE: "", LWI_DATA: "" }
    })
    const [stderr, code] = await Promise.all([new Response(p.stderr).text(), p.exited])
    const file = path.join(out, "results.json")
    return { code, stderr, results: fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, "utf8")) : undefined }
  }
  const folderArgs = () => ["--dataset", "imagenette", "--data", folder, "--size", "16", "--subset", "0", "--test-subset", "0", "--validation", "6"]

  test("lenet-init-grid on an image folder (Table 6.4): WIB-ReLU and ReLU × LW and LSUV on 16×16 RGB images of 3 classes, with Adam", async () => {
    const r = await run("lenet-init-grid", [
      ...folderArgs(),
      ...["--activations", "relu,wib-relu", "--inits", "lw,lsuv", "--lw-batch", "9", "--lw-max-epochs", "5", "--optimizer", "adam", "--lr", "0.001"]
    ])
    if (r.code !== 0) throw new Error(r.stderr.slice(-3000))
    expect(r.results.experiments.map((e: { id: string }) => e.id)).toEqual(["relu × LW", "relu × LSUV", "wib-relu × LW", "wib-relu × LSUV"])
    // 3 classes × 4 val images score; the model took the folder's 16×16×3 and its 3 classes (else training fails).
    for (const e of r.results.experiments) expect(Number.isInteger(Math.round(e.testAccuracy * 12 * 1e6) / 1e6)).toBe(true)
    expect(r.results.splits.training).toEqual({ split: "train", count: 30 })
    expect(r.results.steps.filter((s: { name: string }) => s.name === "lsuv-init")).toHaveLength(2)
    const report = fs.readFileSync(path.join(temp.dir, "out", "lenet-init-grid", "report.md"), "utf8")
    expect(report).toContain("imagenette (resized to 16×16)")
    expect(report).toContain("Adam lr 0.001")
  })

  test("baseline on a CIFAR-10 folder: the 4-conv CNN takes 32×32×3, AdamW with its default decay, LSUV on a training batch", async () => {
    const dir = path.join(temp.dir, "cifar-10-batches-bin")
    const records = (n: number, offset: number) => cifarBytes(Array.from({ length: n }, (_, i) => [(i + offset) % 10]))
    for (const [i, file] of ["data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"].entries()) {
      await write(path.join(dir, file), records(30, i))
    }
    await write(path.join(dir, "test_batch.bin"), records(40, 0))
    const r = await run("baseline", [
      ...["--dataset", "cifar10", "--data", dir, "--model", "cnn4", "--init", "lsuv", "--optimizer", "adamw", "--lr", "0.001"],
      ...["--subset", "100", "--test-subset", "40", "--validation", "20", "--lsuv-batch", "20"]
    ])
    if (r.code !== 0) throw new Error(r.stderr.slice(-3000))
    const [e] = r.results.experiments
    expect([e.id, e.trainSamples, e.testSamples]).toEqual(["cnn4-relu-lsuv", 100, 40])
    expect(r.results.steps.map((s: { name: string }) => s.name)).toContain("lsuv-init")
    const report = fs.readFileSync(path.join(temp.dir, "out", "baseline", "report.md"), "utf8")
    expect(report).toContain("AdamW lr 0.001 weight decay 0.01, batch 32")
  })

  test("values a pipeline cannot use: exit 1, a message naming the flag and the fix, no results written", async () => {
    const cases: Array<[string, string[], RegExp]> = [
      ["lenet-init-grid", ["--dataset", "circles"], /--dataset = circles.*circle-normalization/],
      ["lenet-init-grid", ["--activations", "relu,swish"], /--activations = swish.*wib-relu/],
      ["resnet-nobn", ["--experiments", "lw,bogus"], /--experiments = bogus.*lsuv, fixup/],
      ["baseline", ["--dataset", "circles", "--model", "lenet5"], /--dataset = circles.*give --model mlp/]
    ]
    // At once: each is mostly process start-up.
    const runs = await Promise.all(cases.map(([pipeline, args], i) => run(pipeline, args, `bad-${i}`)))
    for (const [i, [pipeline, args, message]] of cases.entries()) {
      const r = runs[i]!
      expect({ pipeline, args, code: r.code, named: message.test(r.stderr), trace: /\n\s+at /.test(r.stderr), results: r.results }).toEqual({
        pipeline,
        args,
        code: 1,
        named: true,
        trace: false,
        results: undefined
      })
    }
  })
})
