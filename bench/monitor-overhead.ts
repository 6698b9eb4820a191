/**
 * What the training monitor (shared/train/monitor.ts) costs: full SGD steps on real Fashion-MNIST batches (as
 * bench/train-throughput.ts takes them) with the monitor off, on every K steps (the default K), and on every step
 * (K = 1, for scale). Rounds alternate off / K / 1 on the same model and load (each round starting at the next
 * setting, so that none is always the one after a switch); each figure is the median over rounds of ms per step.
 *
 *   overhead at K (measured)  ms/step at K over ms/step off, − 1: the direct figure, noisy under load
 *   overhead at K (from K=1)  (ms/step at K=1 − ms/step off) / K over ms/step off: one sample's cost spread over K
 *                             steps, which the noise of two close numbers does not swamp
 *
 *   bun run bench/monitor-overhead.ts [--models lenet,resnet18] [--steps 50] [--rounds 3] [--every 50]
 *                                     [--backend torch] [--threads 1] [--json]
 */
import * as tf from "@tensorflow/tfjs"
import { selectBackend } from "../shared/backend/select.ts"
import { helpText, parseFlagsOrExit } from "../shared/engine/flags.ts"
import { machine } from "../shared/engine/main.ts"
import { buildModel } from "../shared/models/spec.ts"
import { type BatchMonitor, batchIndices, trainBatch, trainableVars } from "../shared/train/loop.ts"
import { defaultMonitor, monitorPlan, sampledAt } from "../shared/train/monitor.ts"
import { makeOptimizer } from "../shared/train/optim.ts"
import { fmnistTrain, throughputFlags } from "./fmnist-batches.ts"
import { specs } from "./train-throughput.ts"

const flags = {
  models: { kind: "string", default: "lenet,resnet18", doc: "architectures (bench/train-throughput.ts names), comma-separated" },
  batch: { kind: "int", default: 32, check: "number.integer >= 1", doc: "batch size (the pipelines' default)" },
  steps: { kind: "int", default: defaultMonitor.every, check: "number.integer >= 1", doc: "timed steps per round and setting (a multiple of --every counts its samples exactly)" },
  rounds: { kind: "int", default: 3, check: "number.integer >= 1", doc: "alternating rounds (medians are taken over them)" },
  every: { kind: "int", default: defaultMonitor.every, check: "number.integer >= 1", doc: "K: the monitor samples every K steps" },
  warmup: { kind: "int", default: 3, check: "number.integer >= 0", doc: "untimed steps first, of each setting" },
  ...throughputFlags
} as const

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

/** ms per step of `steps` training steps, sampling every `every` steps (undefined: never). */
const timer = (model: tf.LayersModel, set: Awaited<ReturnType<typeof fmnistTrain>>["set"], batch: number) => {
  const vars = trainableVars(model)
  const optimizer = makeOptimizer({ kind: "sgd", momentum: 0.9, weightDecay: 0 }, vars)
  const monitor: BatchMonitor = { plan: monitorPlan(model), deadThreshold: defaultMonitor.deadThreshold }
  const order = Uint32Array.from({ length: set.n }, (_, i) => i)
  const batches = Math.floor(set.n / batch)
  let b = 0
  const run = (steps: number, every: number | undefined) => {
    const t0 = performance.now()
    for (let s = 0; s < steps; s++) {
      const on = every !== undefined && sampledAt(s, every)
      trainBatch(model, vars, optimizer, set, batchIndices(order, b, batch), 0.01, on ? monitor : undefined)
      b = (b + 1) % batches
    }
    return (performance.now() - t0) / steps
  }
  return { run, dispose: () => optimizer.dispose() }
}

export interface OverheadRow {
  readonly model: string
  readonly every: number
  readonly msOff: number
  readonly msOn: number
  /** (msOn − msOff) / msOff, in %. */
  readonly overhead: number
  /** From the K = 1 figures: (ms at K=1 − msOff) / K / msOff, in %. */
  readonly overheadFromK1: number
}

const main = async () => {
  const f = parseFlagsOrExit(flags)
  if (f.help) return console.log(helpText("bun run bench/monitor-overhead.ts", "lwi training monitor overhead", flags))
  const models = f.models.split(",").map((m) => m.trim())
  const unknown = models.filter((m) => specs[m] === undefined)
  if (unknown.length > 0) {
    // A usage error, as lwi's flags report them (exit 2).
    console.error(`--models: unknown ${unknown.join(", ")} (known: ${Object.keys(specs).join(", ")})`)
    process.exit(2)
  }
  tf.env().set("PROD", true)
  const choice = await selectBackend({ ...(f.backend ? { prefer: f.backend } : {}), threads: f.threads, log: (l) => f.json || console.error(l) })
  const { set } = await fmnistTrain(f.samples)
  const rows: OverheadRow[] = []
  for (const name of models) {
    const spec = specs[name]!
    const model = buildModel(spec)
    const t = timer(model, set, f.batch)
    const settings = [undefined, f.every, 1] as const
    for (const every of settings) t.run(f.warmup, every)
    const times = settings.map(() => [] as number[])
    // Each round starts at the next setting, so none is always the one run after a switch.
    for (let r = 0; r < f.rounds; r++) {
      for (let j = 0; j < settings.length; j++) {
        const i = (r + j) % settings.length
        times[i]!.push(t.run(f.steps, settings[i]))
      }
    }
    const [off, atK, atOne] = times.map(median) as [number, number, number]
    const row = (every: number, on: number): OverheadRow => ({
      model: name,
      every,
      msOff: off,
      msOn: on,
      overhead: (100 * (on - off)) / off,
      overheadFromK1: (100 * (atOne - off)) / every / off
    })
    rows.push(row(f.every, atK), row(1, atOne))
    t.dispose()
    model.dispose()
  }
  const result = {
    bench: "monitor-overhead",
    backend: choice.name,
    threads: f.threads,
    batch: f.batch,
    steps: f.steps,
    rounds: f.rounds,
    rows,
    data: "fashion-mnist train (real batches, in order)",
    machine: machine()
  }
  if (f.json) return console.log(JSON.stringify(result))
  console.log(`backend ${choice.name}, ${f.threads} thread(s), batch ${f.batch}, ${f.steps} steps × ${f.rounds} rounds (medians)`)
  console.log("| model | K | ms/step off | ms/step on | overhead | overhead from K=1 |")
  console.log("| --- | --- | --- | --- | --- | --- |")
  for (const r of rows) {
    console.log(`| ${r.model} | ${r.every} | ${r.msOff.toFixed(2)} | ${r.msOn.toFixed(2)} | ${r.overhead.toFixed(1)} % | ${r.overheadFromK1.toFixed(2)} % |`)
  }
}

if (import.meta.main) await main()
