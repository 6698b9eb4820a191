/**
 * Memory over a long training run: every `--every` steps, the process RSS, tfjs's live tensor count
 * (`tf.memory().numTensors`) and, on the torch backend, the tensors alive in libtorch (`liveNativeTensors`).
 * Training is bench/scaling-train.ts's stepper (real Fashion-MNIST batches in order, SGD momentum 0.9).
 *
 * The first sample is taken after one step (the optimizer's momentum buffers exist from then on); the run exits 1
 * if any later sample holds more tensors than it — a leak of one tensor per step shows after `--every` steps.
 * RSS and the JS heap are reported (RSS growth from the sample at 10 % of the run to the last), not checked: RSS
 * holds garbage the JS engine has not collected yet (tensor handles, closures of every step) and the allocators'
 * retained pages; `--gc` runs a full collection before each sample to tell garbage from growth.
 *
 *   bun run bench/scaling-memory.ts --model lenet --steps 2000 --every 100 [--backend torch] [--json]
 *   bun run bench/scaling-memory.ts --quick            # 30 LeNet steps on 128 images, a sample every 10
 */
import * as tf from "@tensorflow/tfjs"
import * as os from "node:os"
import { selectBackend } from "../shared/backend/select.ts"
import { helpText, parseFlagsOrExit } from "../shared/engine/flags.ts"
import { markdownTable } from "../shared/engine/report.ts"
import { buildModel } from "../shared/models/spec.ts"
import { fmnistTrain } from "./fmnist-batches.ts"
import { modelNames, modelSpec, trainingStepper, type ModelName } from "./scaling-train.ts"

const flags = {
  model: { kind: "enum", values: modelNames, default: "lenet", doc: "architecture" },
  steps: { kind: "int", default: 2000, quick: 30, check: "number.integer >= 2", doc: "training steps" },
  every: { kind: "int", default: 100, quick: 10, check: "number.integer >= 1", doc: "steps between samples" },
  batch: { kind: "int", default: 32, check: "number.integer >= 1", doc: "batch size" },
  samples: { kind: "int", default: 4096, quick: 128, check: "number.integer >= 1", doc: "training images cycled through" },
  backend: { kind: "string", default: "", env: "LWI_BACKEND", doc: "tfjs backend (default: auto)" },
  threads: { kind: "int", default: 1, check: "number.integer >= 1", doc: "intra-op threads" },
  leakEvery: { kind: "int", default: 0, check: "number.integer >= 0", doc: "keep one extra tensor every N steps (tests the check)" },
  gc: { kind: "boolean", default: false, doc: "full garbage collection (Bun.gc(true)) before each sample" },
  quick: { kind: "boolean", default: false, doc: "30 steps on 128 images, a sample every 10 (for tests)" },
  json: { kind: "boolean", default: false, doc: "print JSON lines (one per sample, then the summary)" },
  help: { kind: "boolean", default: false, doc: "show this help" }
} as const

interface Sample {
  readonly step: number
  readonly seconds: number
  readonly rssMiB: number
  /** The JavaScript heap in use (JSC's heapUsed): garbage not yet collected shows here and in RSS. */
  readonly heapMiB: number
  readonly numTensors: number
  readonly liveNativeTensors?: number
  readonly loss: number
}

const mib = (bytes: number) => Math.round((bytes / 2 ** 20) * 10) / 10

const main = async () => {
  const f = parseFlagsOrExit(flags)
  if (f.help) return console.log(helpText("bun run bench/scaling-memory.ts", "RSS and tensor count over a long run", flags))
  const { steps, every, samples } = f // --quick's values when given (parseFlags)
  tf.env().set("PROD", true)
  const choice = await selectBackend({ ...(f.backend ? { prefer: f.backend } : {}), threads: f.threads, log: (l) => f.json || console.error(l) })
  const { set } = await fmnistTrain(samples)
  const model = buildModel(modelSpec(f.model as ModelName))
  const stepper = trainingStepper(model, set, f.batch)
  const t0 = performance.now()
  const sample = (step: number, loss: number): Sample => {
    if (f.gc) Bun.gc(true)
    const m = tf.memory() as tf.MemoryInfo & { liveNativeTensors?: number }
    const usage = process.memoryUsage()
    return {
      step,
      seconds: Math.round(performance.now() - t0) / 1000,
      rssMiB: mib(usage.rss),
      heapMiB: mib(usage.heapUsed),
      numTensors: m.numTensors,
      ...(m.liveNativeTensors === undefined ? {} : { liveNativeTensors: m.liveNativeTensors }),
      loss
    }
  }
  const series: Sample[] = [sample(1, stepper.step())]
  for (let s = 2; s <= steps; s++) {
    const loss = stepper.step()
    if (f.leakEvery > 0 && s % f.leakEvery === 0) tf.scalar(s) // deliberately never disposed
    if (s % every === 0 || s === steps) {
      series.push(sample(s, loss))
      if (f.json) console.log(JSON.stringify({ bench: "memory", ...series.at(-1)! }))
    }
  }
  stepper.dispose()
  model.dispose()

  const first = series[0]!
  const last = series.at(-1)!
  const settled = series[Math.floor(series.length / 10)]!
  const maxTensors = Math.max(...series.map((x) => x.numTensors))
  const maxNative = Math.max(...series.map((x) => x.liveNativeTensors ?? 0))
  const grew = maxTensors > first.numTensors || maxNative > (first.liveNativeTensors ?? 0)
  const summary = {
    bench: "memory",
    model: f.model,
    backend: choice.name,
    batch: f.batch,
    gc: f.gc,
    steps,
    every,
    seconds: last.seconds,
    tensors: { first: first.numTensors, max: maxTensors, last: last.numTensors },
    ...(first.liveNativeTensors === undefined ? {} : { nativeTensors: { first: first.liveNativeTensors, max: maxNative, last: last.liveNativeTensors } }),
    rssMiB: { first: first.rssMiB, settled: settled.rssMiB, settledAtStep: settled.step, last: last.rssMiB, max: Math.max(...series.map((x) => x.rssMiB)) },
    heapMiB: { settled: settled.heapMiB, last: last.heapMiB, max: Math.max(...series.map((x) => x.heapMiB)) },
    rssGrowthMiBPer1000Steps: last.step === settled.step ? 0 : Math.round(((last.rssMiB - settled.rssMiB) / (last.step - settled.step)) * 1000 * 10) / 10,
    tensorsGrew: grew,
    load: os.loadavg()[0]!.toFixed(2)
  }
  if (f.json) console.log(JSON.stringify(summary))
  else {
    const native = first.liveNativeTensors !== undefined
    console.log(`${f.model} on ${choice.name}, batch ${f.batch}, ${steps} steps in ${last.seconds.toFixed(1)} s${f.gc ? ", full GC before each sample" : ""}\n`)
    console.log(
      markdownTable(
        ["step", "s", "RSS MiB", "JS heap MiB", "tf tensors", ...(native ? ["libtorch tensors"] : []), "loss"],
        series.map((x) => [x.step, x.seconds.toFixed(1), x.rssMiB, x.heapMiB, x.numTensors, ...(native ? [x.liveNativeTensors] : []), x.loss.toFixed(3)])
      )
    )
    console.log(`\n${JSON.stringify(summary)}`)
  }
  if (grew) {
    console.error(`tensor count grew: ${first.numTensors} after step 1, up to ${maxTensors}${native(first, maxNative)}`)
    process.exit(1)
  }
}

const native = (first: Sample, max: number) =>
  first.liveNativeTensors === undefined ? "" : ` (libtorch: ${first.liveNativeTensors} → up to ${max})`

await main()
