/**
 * LW initialization time vs number of layers: learnModelInit (shared/lw/greedy.ts) on MLPs of increasing depth and
 * on the CNNs, with one fixed LW config — the method's defaults with `--max-epochs` (50) one-step epochs per layer
 * on one batch of `--samples` (200) real Fashion-MNIST images. Early stopping is off unless `--early-stop`, so
 * every layer does the same number of steps and the time measures cost, not convergence.
 *
 * Per model: LW layers, total seconds, seconds per layer (mean, first, last), epochs run, and the 1-min load.
 *
 *   bun run bench/scaling-lw.ts [--mlps 1x256,2x256,...,64x256,8x1024,32x1024] [--cnns lenet,cnn4,resnet18-imagenet,resnet18]
 *                               [--max-epochs 50] [--samples 200] [--backend torch] [--json]
 */
import * as tf from "@tensorflow/tfjs"
import * as os from "node:os"
import { selectBackend } from "../shared/backend/select.ts"
import { helpText, parseFlagsOrExit } from "../shared/engine/flags.ts"
import { markdownTable } from "../shared/engine/report.ts"
import { defaultLwConfig, type LwConfig } from "../shared/lw/config.ts"
import { learnModelInit } from "../shared/lw/greedy.ts"
import { buildModel, type ModelSpec } from "../shared/models/spec.ts"
import { fmnistTrain } from "./fmnist-batches.ts"
import { modelSpec, type ModelName } from "./scaling-train.ts"

const flags = {
  mlps: {
    kind: "string",
    default: "1x256,2x256,4x256,8x256,16x256,32x256,64x256,8x1024,32x1024",
    check: "/^(\\d+x\\d+(,\\d+x\\d+)*)?$/",
    doc: "MLP depth x width list ('' for none)"
  },
  cnns: {
    kind: "string",
    default: "lenet,cnn4,resnet18-imagenet,resnet18",
    check: "/^((lenet|cnn4|resnet18|resnet18-imagenet)(,(lenet|cnn4|resnet18|resnet18-imagenet))*)?$/",
    doc: "CNNs: lenet, cnn4, resnet18, resnet18-imagenet ('' for none)"
  },
  maxEpochs: { kind: "int", default: 50, check: "number.integer >= 1", doc: "LW epochs (steps) per layer" },
  samples: { kind: "int", default: 200, check: "number.integer >= 1", doc: "images in LW's batch" },
  earlyStop: { kind: "boolean", default: false, doc: "keep LW's convergence test (default: every layer runs max-epochs)" },
  backend: { kind: "string", default: "torch", env: "LWI_BACKEND", doc: "tfjs backend" },
  threads: { kind: "int", default: 1, check: "number.integer >= 1", doc: "intra-op threads" },
  seed: { kind: "int", default: 0, check: "number.integer >= 0", doc: "LW seed" },
  json: { kind: "boolean", default: false, doc: "also print one JSON line per model" },
  help: { kind: "boolean", default: false, doc: "show this help" }
} as const

const timeLw = (spec: ModelSpec, batch: tf.Tensor, config: LwConfig, seed: number) => {
  const model = buildModel(spec)
  const perLayer: number[] = []
  let last = performance.now()
  const t0 = last
  const result = learnModelInit(model, batch, config, {
    seed,
    onLayer: () => {
      const now = performance.now()
      perLayer.push((now - last) / 1000)
      last = now
    }
  })
  const seconds = (performance.now() - t0) / 1000
  model.dispose()
  return {
    name: model.name,
    layers: perLayer.length,
    seconds,
    perLayer,
    epochs: result.layers.reduce((n, l) => n + l.result.epochs, 0),
    diverged: result.diverged
  }
}

const main = async () => {
  const f = parseFlagsOrExit(flags)
  if (f.help) return console.log(helpText("bun run bench/scaling-lw.ts", "LW initialization time vs layers", flags))
  tf.env().set("PROD", true)
  const choice = await selectBackend({ prefer: f.backend, threads: f.threads, log: (l) => f.json || console.error(l) })
  const { set } = await fmnistTrain(f.samples)
  const batch = tf.tensor4d(set.images, [set.n, set.height, set.width, set.channels])
  const off = { window: defaultLwConfig.convergence.window, tolerance: -1, threshold: -1 }
  const config: LwConfig = { ...defaultLwConfig, maxEpochs: f.maxEpochs, ...(f.earlyStop ? {} : { convergence: off }) }
  const models: Array<{ label: string; spec: ModelSpec }> = [
    ...f.mlps.split(",").filter(Boolean).map((dw) => {
      const [depth, width] = dw.split("x").map(Number)
      return { label: `MLP ${depth} × ${width}`, spec: modelSpec("mlp", { depth: depth!, width: width! }) }
    }),
    ...f.cnns.split(",").filter(Boolean).map((name) => ({ label: name, spec: modelSpec(name as ModelName) }))
  ]
  timeLw(modelSpec("mlp", { depth: 1, width: 16 }), batch, { ...config, maxEpochs: 5 }, f.seed) // warm-up: kernels, shim
  const rows: unknown[][] = []
  for (const { label, spec } of models) {
    const load = os.loadavg()[0]!.toFixed(2)
    const r = timeLw(spec, batch, config, f.seed)
    const tensors = tf.memory().numTensors
    if (f.json) console.log(JSON.stringify({ bench: "lw-init-time", backend: choice.name, model: label, ...r, maxEpochs: f.maxEpochs, samples: f.samples, load, tensors }))
    rows.push([
      label,
      r.layers,
      r.seconds.toFixed(2),
      (r.seconds / r.layers).toFixed(3),
      r.perLayer[0]!.toFixed(3),
      r.perLayer.at(-1)!.toFixed(3),
      r.epochs,
      r.diverged ? `at ${r.diverged.layer}` : "no",
      load
    ])
  }
  batch.dispose()
  console.log(
    `\nLW on ${choice.name}, ${f.threads} thread(s): ${f.maxEpochs} one-step epochs per layer on ${f.samples} Fashion-MNIST images` +
      `${f.earlyStop ? " (early stopping on)" : ""}, ${new Date().toISOString()}\n`
  )
  console.log(markdownTable(["model", "LW layers", "total s", "s / layer", "first layer s", "last layer s", "epochs", "diverged", "load (1 min)"], rows))
}

await main()
