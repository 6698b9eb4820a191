/**
 * LW's wall time on two real-world shapes of network, beside the time to train each one epoch on the same machine:
 *
 *   mobilenet  MobileNet-style depthwise-separable CNN on 32×32×3 (CIFAR-sized): a 3×3/2 stem conv, then blocks of
 *              depthwise 3×3 (+ReLU) → pointwise 1×1 (+ReLU), global average pooling, a 10-way dense. No BN.
 *   mlp        deep MLP on 28×28×1 (Fashion-MNIST-sized): `--mlp-depth` (20) hidden dense layers of `--mlp-width`
 *              (256), ReLU (bench/scaling-train.ts `modelSpec("mlp")`, as the scaling benchmarks build it)
 *
 * LW: `learnInit` (the public API) with the method's defaults — early stopping on, as a user runs it — on one batch
 * of `--lw-batch` (200) inputs. Its time includes every layer it learns (the depthwise ones too); layers with weights it
 * does not learn but the classifier (none in these two models) are listed, and counted apart, as the report has them.
 * Training: an epoch's worth of steps (⌈`--epoch-images` / 32⌉; CIFAR-10's 50,000 / Fashion-MNIST's 60,000 images),
 * SGD momentum 0.9 at lr 0.01, batch 32, cycling through `--train-images` synthetic images (the step's cost does not
 * depend on the pixel values; holding 50,000 CIFAR images as float32 would take 600 MB).
 * Data: synthetic, seeded N(0, 1) pixels and uniform labels (a standardized input, what LW sees after normalization).
 *
 *   bun run bench/lw-models.ts [--models mobilenet,mlp] [--backend torch] [--threads 1] [--json] [--quick]
 */
import * as tf from "@tensorflow/tfjs"
import * as os from "node:os"
import { selectBackend } from "../shared/backend/select.ts"
import type { ImageSet } from "../shared/data/types.ts"
import { helpText, parseFlagsOrExit } from "../shared/engine/flags.ts"
import { markdownTable } from "../shared/engine/report.ts"
import { createRng, normalArray } from "../shared/init/random.ts"
import { learnInit } from "../shared/lw/api.ts"
import { buildModel } from "../shared/models/spec.ts"
import { modelSpec, trainingStepper } from "./scaling-train.ts"

const flags = {
  models: { kind: "string", default: "mobilenet,mlp", check: "/^(mobilenet|mlp)(,(mobilenet|mlp))*$/", doc: "models to measure" },
  blocks: { kind: "string", default: "32,64/2,64,128/2,128", quick: "8,16/2", check: "/^\\d+(\\/2)?(,\\d+(\\/2)?)*$/", doc: "MobileNet blocks: pointwise filters, /2 = depthwise stride 2" },
  mlpDepth: { kind: "int", default: 20, quick: 3, check: "number.integer >= 1", doc: "MLP hidden layers" },
  mlpWidth: { kind: "int", default: 256, quick: 16, check: "number.integer >= 1", doc: "MLP hidden units" },
  lwBatch: { kind: "int", default: 200, quick: 16, check: "number.integer >= 2", doc: "inputs in LW's batch" },
  lwEpochs: { kind: "int", default: 200, quick: 5, check: "number.integer >= 1", doc: "LW's epoch cap per layer (the default: 200)" },
  epochImages: { kind: "int", default: 0, quick: 64, check: "number.integer >= 0", doc: "images in one training epoch (0: 50,000 for mobilenet, 60,000 for mlp)" },
  trainImages: { kind: "int", default: 2048, quick: 64, check: "number.integer >= 32", doc: "synthetic training images cycled through" },
  backend: { kind: "string", default: "torch", env: "LWI_BACKEND", doc: "tfjs backend" },
  threads: { kind: "int", default: 1, check: "number.integer >= 1", doc: "intra-op threads" },
  seed: { kind: "int", default: 0, check: "number.integer >= 0", doc: "LW and data seed" },
  json: { kind: "boolean", default: false, doc: "also print one JSON line per model" },
  quick: { kind: "boolean", default: false, doc: "tiny models and data: proves the harness runs (no meaningful times)" },
  help: { kind: "boolean", default: false, doc: "show this help" }
} as const

/** stem conv 3×3/2 → [depthwise 3×3 (/2) → ReLU → pointwise 1×1 → ReLU]… → GAP → dense 10. */
const mobilenet = (blocks: string, seed: number): tf.LayersModel => {
  const input = tf.input({ shape: [32, 32, 3], name: "input" })
  let x = tf.layers.conv2d({ name: "stem", filters: 16, kernelSize: 3, strides: 2, padding: "same", activation: "relu" }).apply(input) as tf.SymbolicTensor
  blocks.split(",").forEach((b, i) => {
    const [filters, stride] = [Number.parseInt(b), b.endsWith("/2") ? 2 : 1]
    const dw = tf.layers.depthwiseConv2d({
      name: `b${i}.dw`, kernelSize: 3, strides: stride, padding: "same",
      // Seeded: the training epoch starts from the same draw every run (LW draws its own).
      depthwiseInitializer: tf.initializers.heNormal({ seed: seed + i })
    })
    x = tf.layers.reLU({ name: `b${i}.dw.relu` }).apply(dw.apply(x)) as tf.SymbolicTensor
    x = tf.layers.conv2d({ name: `b${i}.pw`, filters, kernelSize: 1, activation: "relu" }).apply(x) as tf.SymbolicTensor
  })
  x = tf.layers.globalAveragePooling2d({ name: "gap" }).apply(x) as tf.SymbolicTensor
  const logits = tf.layers.dense({ name: "fc", units: 10 }).apply(x) as tf.SymbolicTensor
  return tf.model({ inputs: input, outputs: logits, name: "mobilenet" })
}

const synthetic = (n: number, [height, width, channels]: readonly number[], seed: number): ImageSet => {
  const rng = createRng(seed)
  const images = normalArray(rng, n * height! * width! * channels!, 0, 1)
  const labels = Uint8Array.from({ length: n }, () => Math.floor(rng.next() * 10))
  return { images, labels, n, height: height!, width: width!, channels: channels!, classes: 10 }
}

const measure = async (name: "mobilenet" | "mlp", f: ReturnType<typeof parseFlagsOrExit<typeof flags>>) => {
  const build = () => (name === "mobilenet" ? mobilenet(f.blocks, f.seed) : buildModel(modelSpec("mlp", { depth: f.mlpDepth, width: f.mlpWidth })))
  const shape = name === "mobilenet" ? [32, 32, 3] : [28, 28, 1]
  const epochImages = f.epochImages > 0 ? f.epochImages : name === "mobilenet" ? 50_000 : 60_000

  const lwSet = synthetic(f.lwBatch, shape, f.seed + 1)
  const batch = tf.tensor4d(lwSet.images, [lwSet.n, ...shape] as [number, number, number, number])
  const model = build()
  const params = model.countParams()
  const report = await learnInit(model, batch, { seed: f.seed, epochs: f.lwEpochs })
  batch.dispose()
  const done = report.layers.filter((l) => l.status !== "skipped")
  const skipped = report.layers.filter((l) => l.status === "skipped")
  const kinds = [...new Set(skipped.filter((l) => !/classifier/.test(l.reason ?? "")).map((l) => l.className))]

  // Training time on a fresh model (the learned one would do as well: the cost of a step does not depend on it).
  const trainSet = synthetic(f.trainImages, shape, f.seed + 2)
  const fresh = build()
  const stepper = trainingStepper(fresh, trainSet, 32)
  stepper.step() // warm-up: kernels compiled, shim loaded
  const steps = Math.ceil(epochImages / 32)
  const t0 = performance.now()
  let loss = 0
  for (let i = 0; i < steps; i++) loss = stepper.step()
  const trainSeconds = (performance.now() - t0) / 1000
  stepper.dispose()
  fresh.dispose()
  report.model.dispose()
  return {
    model: name,
    params,
    lwLayers: done.length,
    lwStatuses: Object.fromEntries(["learned", "unreachable", "diverged"].map((s) => [s, done.filter((l) => l.status === s).length])),
    notLearnedKinds: kinds,
    notLearned: skipped.length - 1,
    lwEpochs: done.reduce((n, l) => n + l.epochs, 0),
    lwSeconds: report.seconds,
    epochImages,
    trainSteps: steps,
    trainSeconds,
    finalLoss: loss,
    load: os.loadavg()[0]!
  }
}

const main = async () => {
  const f = parseFlagsOrExit(flags)
  if (f.help) return console.log(helpText("bun run bench/lw-models.ts", "LW time vs one training epoch on MobileNet-style and deep-MLP models", flags))
  tf.env().set("PROD", true)
  const choice = await selectBackend({ prefer: f.backend, threads: f.threads, log: (l) => console.error(l) })
  const rows: unknown[][] = []
  for (const name of f.models.split(",") as Array<"mobilenet" | "mlp">) {
    const r = await measure(name, f)
    if (f.json) console.log(JSON.stringify({ bench: "lw-models", backend: choice.name, threads: f.threads, lwBatch: f.lwBatch, ...r }))
    rows.push([
      name === "mobilenet" ? `MobileNet-style (${f.blocks})` : `MLP ${f.mlpDepth} × ${f.mlpWidth}`,
      r.params.toLocaleString("en-US"),
      `${r.lwLayers} (${r.lwStatuses.learned} met targets)`,
      r.notLearned === 0 ? "—" : `${r.notLearned} ${r.notLearnedKinds.join(", ")}`,
      r.lwEpochs,
      r.lwSeconds.toFixed(2),
      `${r.trainSteps} × 32`,
      r.trainSeconds.toFixed(2),
      (r.lwSeconds / r.trainSeconds).toFixed(2),
      r.load.toFixed(2)
    ])
  }
  console.log(
    `\nLW (learnInit, defaults, batch of ${f.lwBatch}) vs one training epoch (batch 32, SGD momentum) on ${choice.name}, ` +
      `${f.threads} thread(s), synthetic N(0, 1) data, ${new Date().toISOString()}\n`
  )
  console.log(markdownTable(["model", "params", "LW layers", "not learned", "LW epochs", "LW s", "epoch steps", "epoch s", "LW / epoch", "load (1 min)"], rows))
}

await main()
