/**
 * lwi training throughput for the scaling tables: bench/train-throughput.ts's measurement (same model specs, data,
 * optimizer and batch order), for any bench model name including the MLP at a chosen depth and width, timed as the
 * best of `--repeats` windows of about `--seconds` each (its PyTorch twin, bench/peers/scaling_torch.py, the same).
 *
 *   bun run bench/scaling-throughput.ts --model mlp --depth 8 --width 512 [--batch 32] [--backend torch] [--json]
 */
import * as tf from "@tensorflow/tfjs"
import { selectBackend } from "../shared/backend/select.ts"
import { helpText, parseFlagsOrExit } from "../shared/engine/flags.ts"
import { machine } from "../shared/engine/main.ts"
import { buildModel } from "../shared/models/spec.ts"
import { fmnistTrain, throughputFlags } from "./fmnist-batches.ts"
import { modelNames, modelSpec, timeSteps, trainingStepper, type ModelName } from "./scaling-train.ts"
import { ranWith } from "./environment.ts"

const flags = {
  model: { kind: "enum", values: modelNames, default: "mlp", doc: "architecture" },
  depth: { kind: "int", default: 8, check: "number.integer >= 0", doc: "MLP hidden layers" },
  width: { kind: "int", default: 512, check: "number.integer >= 1", doc: "MLP units per hidden layer" },
  batch: { kind: "int", default: 32, check: "number.integer >= 1", doc: "batch size" },
  steps: { kind: "int", default: 0, check: "number.integer >= 0", doc: "steps per timed window (0 = about --seconds worth)" },
  seconds: { kind: "number", default: 3, check: "number > 0", doc: "seconds per timed window when --steps is 0" },
  repeats: { kind: "int", default: 3, check: "number.integer >= 1", doc: "timed windows; the best is reported" },
  warmup: { kind: "int", default: 5, check: "number.integer >= 0", doc: "untimed steps first" },
  ...throughputFlags
} as const

const main = async () => {
  const f = parseFlagsOrExit(flags)
  if (f.help) return console.log(helpText("bun run bench/scaling-throughput.ts", "lwi training throughput, any bench model", flags))
  tf.env().set("PROD", true)
  const choice = await selectBackend({ ...(f.backend ? { prefer: f.backend } : {}), threads: f.threads, log: (l) => f.json || console.error(l) })
  const { set } = await fmnistTrain(f.samples)
  const model = buildModel(modelSpec(f.model as ModelName, { depth: f.depth, width: f.width }))
  const params = model.countParams()
  const stepper = trainingStepper(model, set, f.batch)
  const timed = timeSteps(stepper.step, f.batch, f)
  const result = {
    bench: "train-throughput",
    impl: "lwi",
    backend: choice.name,
    model: f.model,
    ...(f.model === "mlp" ? { depth: f.depth, width: f.width } : {}),
    params,
    batch: f.batch,
    threads: f.threads,
    ...timed,
    data: "fashion-mnist train (real batches, in order)",
    machine: machine(),
    ranWith: ranWith(choice.name, f.threads)
  }
  console.log(f.json ? JSON.stringify(result) : `${model.name} on ${choice.name}: ${timed.imagesPerSecond.toFixed(0)} img/s (batch ${f.batch}, best of ${f.repeats} × ${timed.steps} steps)`)
  stepper.dispose()
  model.dispose()
}

await main()
