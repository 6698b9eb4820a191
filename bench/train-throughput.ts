/**
 * Training throughput of lwi: images per second of full SGD steps (forward, softmax cross-entropy, backward,
 * momentum update) on real Fashion-MNIST batches, after warm-up. Batches are taken in order from the first
 * `--samples` training images, exactly as bench/peers/train_throughput_torch.py does.
 *
 *   bun run bench/train-throughput.ts --model lenet|resnet18|resnet18-imagenet [--batch 32] [--backend wasm] [--replay on|off]
 *                                     [--conv auto|direct|gemm|aten|winograd] [--json]
 *
 * `--replay on` (the default, as in training) runs steps as replays of a recorded step on the torch backend
 * (shared/backend/torch/replay.ts); `off` runs every step through tfjs. The JSON line counts both kinds of
 * step; bench/replay-ab.ts alternates the two.
 */
import * as tf from "@tensorflow/tfjs"
import { selectBackend } from "../shared/backend/select.ts"
import { helpText, parseFlagsOrExit } from "../shared/engine/flags.ts"
import { machine } from "../shared/engine/main.ts"
import { buildModel, type ModelSpec } from "../shared/models/spec.ts"
import { batchIndices, trainBatch, trainableVars } from "../shared/train/loop.ts"
import { makeOptimizer } from "../shared/train/optim.ts"
import { createStepReplay } from "../shared/backend/torch/replay.ts"
import { torchNative } from "../shared/backend/torch/backend.ts"
import { ranWith } from "./environment.ts"
import { fmnistTrain, throughputFlags } from "./fmnist-batches.ts"

const flags = {
  model: { kind: "enum", values: ["lenet", "resnet18", "resnet18-imagenet"], default: "lenet", doc: "architecture" },
  batch: { kind: "int", default: 32, check: "number.integer >= 1", doc: "batch size" },
  steps: { kind: "int", default: 0, check: "number.integer >= 0", doc: "timed steps (0 = about 10 s worth)" },
  warmup: { kind: "int", default: 5, check: "number.integer >= 0", doc: "untimed steps first" },
  replay: { kind: "enum", values: ["on", "off"], default: "on", doc: "replay recorded steps natively (torch backend)" },
  conv: { kind: "enum", values: ["auto", "direct", "gemm", "aten", "winograd"], default: "auto", doc: "torch convolution algorithm (native.ts setConvAlgorithm)" },
  ...throughputFlags
} as const

/** The benchmarked architectures (bench/profile-ops.ts profiles the same). */
export const specs: Record<string, ModelSpec> = {
  lenet: { arch: "lenet5", inputShape: [28, 28, 1], classes: 10, activation: "relu" },
  resnet18: { arch: "resnet18", inputShape: [28, 28, 1], classes: 10, batchNorm: false, stem: "small", activation: "relu" },
  "resnet18-imagenet": { arch: "resnet18", inputShape: [28, 28, 1], classes: 10, batchNorm: false, stem: "imagenet", activation: "relu" }
}

const main = async () => {
  const f = parseFlagsOrExit(flags)
  if (f.help) return console.log(helpText("bun run bench/train-throughput.ts", "lwi training throughput", flags))
  tf.env().set("PROD", true)
  const log = (l: string) => f.json || console.error(l)
  const choice = await selectBackend({ ...(f.backend ? { prefer: f.backend } : {}), threads: f.threads, log })
  if (choice.name === "torch") torchNative()!.setConvAlgorithm(f.conv)
  else if (f.conv !== "auto") log(`--conv ${f.conv} ignored: backend ${choice.name} is not torch`)
  const { set } = await fmnistTrain(f.samples)
  const model = buildModel(specs[f.model]!)
  const vars = trainableVars(model)
  const optimizer = makeOptimizer({ kind: "sgd", momentum: 0.9, weightDecay: 0 }, vars)
  const replay = createStepReplay({ enabled: f.replay === "on", log })
  const order = Uint32Array.from({ length: set.n }, (_, i) => i)
  const batches = Math.floor(set.n / f.batch)
  let b = 0
  const stepOnce = () => {
    trainBatch(model, vars, optimizer, set, batchIndices(order, b, f.batch), 0.01, undefined, replay)
    b = (b + 1) % batches
  }
  for (let i = 0; i < f.warmup; i++) stepOnce()
  let steps: number = f.steps
  if (steps === 0) {
    const t = performance.now()
    stepOnce()
    steps = Math.max(3, Math.round(10_000 / (performance.now() - t)))
  }
  const t0 = performance.now()
  for (let i = 0; i < steps; i++) stepOnce()
  const seconds = (performance.now() - t0) / 1000
  const result = {
    bench: "train-throughput",
    impl: "lwi",
    backend: choice.name,
    model: f.model,
    batch: f.batch,
    threads: f.threads,
    steps,
    seconds,
    imagesPerSecond: (steps * f.batch) / seconds,
    replay: { mode: f.replay, ...replay.facts() },
    conv: choice.name === "torch" ? f.conv : "n/a (not torch)",
    data: "fashion-mnist train (real batches, in order)",
    machine: machine(),
    ranWith: ranWith(choice.name, f.threads)
  }
  console.log(f.json ? JSON.stringify(result) : `${f.model} on ${choice.name}: ${result.imagesPerSecond.toFixed(0)} img/s (batch ${f.batch}, ${steps} steps)`)
  replay.dispose()
  optimizer.dispose()
  model.dispose()
}

if (import.meta.main) await main()
