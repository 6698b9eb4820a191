/**
 * The data-dependent slowdown of a stuck network (issue 16, item 4): a training step on the `torch` backend with
 * its momentum buffers full of denormal floats, with the shim's denormal flushing off and on, against the same
 * step on a healthy network. Same model, data and optimizer as bench/train-throughput.ts.
 *
 *   bun run bench/denormal-step.ts [--model resnet18-imagenet] [--threads 1] [--steps 10] [--rounds 3]
 *   bun run bench/denormal-step.ts --train 2000     # RAE1 itself (Kaiming, lr 0.01) trained that far as the stuck state
 *   bun run bench/denormal-step.ts --kernel         # the one-pass SGD update alone, normal vs denormal velocities
 *
 * Why a stuck network could fill its momentum buffers with denormals: where a weight's gradient is exactly 0 (behind
 * a ReLU that never fires), v' = 0.9·v decays geometrically into the denormal range, and once v is a
 * few multiples of the smallest denormal, 0.9·v rounds back to v: it never reaches 0 and every step multiplies it.
 * The "stuck" state here is that limit made cheap: the stem's kernel zeroed (every ReLU downstream outputs 0, every
 * conv gradient is exactly 0) and every velocity a small multiple of the smallest denormal. (RAE1 itself, trained
 * 1,000 steps, held none: BENCHMARKS.md "Denormal floats and the stuck network".)
 */
import * as tf from "@tensorflow/tfjs"
import { selectBackend } from "../shared/backend/select.ts"
import { torchNative } from "../shared/backend/torch/backend.ts"
import { helpText, parseFlagsOrExit } from "../shared/engine/flags.ts"
import { machine } from "../shared/engine/main.ts"
import { markdownTable } from "../shared/engine/report.ts"
import { defaultInitConfigs } from "../shared/init/initializers.ts"
import { buildModel } from "../shared/models/spec.ts"
import { applyInit } from "../shared/models/weights.ts"
import { batchIndices, trainBatch, trainableVars } from "../shared/train/loop.ts"
import { makeOptimizer, sgdUpdateKernel } from "../shared/train/optim.ts"
import { fmnistTrain } from "./fmnist-batches.ts"
import { specs } from "./train-throughput.ts"

const flags = {
  model: { kind: "enum", values: ["lenet", "resnet18", "resnet18-imagenet"], default: "resnet18-imagenet", doc: "architecture" },
  batch: { kind: "int", default: 32, check: "number.integer >= 1", doc: "batch size" },
  steps: { kind: "int", default: 10, check: "number.integer >= 1", doc: "timed steps per measurement" },
  rounds: { kind: "int", default: 3, check: "number.integer >= 1", doc: "alternating rounds (medians reported)" },
  kernel: { kind: "boolean", default: false, doc: "instead: time the SGD update alone (11.2M weights, ResNet18's count)" },
  train: { kind: "int", default: 0, check: "number.integer >= 0", doc: "stuck state: RAE1 trained this many steps (0: synthetic)" },
  threads: { kind: "int", default: 1, check: "number.integer >= 1", doc: "intra-op threads" },
  help: { kind: "boolean", default: false, doc: "show this help" }
} as const

const smallestDenormal = 2 ** -149

/** Fraction of the values of `ts` that are denormal (nonzero, below float32's smallest normal). */
const denormalShare = (ts: ReadonlyArray<tf.Tensor>) => {
  let n = 0
  let d = 0
  for (const t of ts) {
    const values = t.dataSync()
    n += values.length
    for (const v of values) if (v !== 0 && Math.abs(v) < 2 ** -126) d++
  }
  return d / Math.max(1, n)
}

const median = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

/** The SGD update alone on ResNet18's weight count: velocities normal or denormal, flushing off or on. */
const sgdKernel = (rounds: number, threads: number) => {
  const native = torchNative()!
  const n = 11_200_000
  const w = tf.randomNormal([n])
  const g = tf.zeros([n])
  const velocities = { normal: tf.fill([n], 1e-3), denormal: tf.fill([n], 4 * smallestDenormal) }
  const ms: Record<string, number[]> = {}
  for (let r = 0; r < rounds; r++) {
    for (const on of [false, true]) {
      native.setFlushDenormals(on)
      for (const [name, v] of Object.entries(velocities)) {
        const t0 = performance.now()
        for (let i = 0; i < 10; i++) {
          const out = tf.engine().runKernel(sgdUpdateKernel, { w, g, v }, { lr: 0.01, momentum: 0.9 }) as tf.Tensor[]
          tf.dispose(out)
        }
        ;(ms[`${name} ${on}`] ??= []).push((performance.now() - t0) / 10)
      }
    }
  }
  native.setFlushDenormals(true)
  console.log(`SGD update of ${n} weights, zero gradients, ${threads} thread(s), ${rounds} rounds of 10 (medians), ms per update:`)
  console.log(
    markdownTable(
      ["velocities", "flushing off", "flushing on"],
      ["normal", "denormal"].map((k) => [k, median(ms[`${k} false`]!).toFixed(2), median(ms[`${k} true`]!).toFixed(2)])
    )
  )
}

const main = async () => {
  const f = parseFlagsOrExit(flags)
  if (f.help) return console.log(helpText("bun run bench/denormal-step.ts", "a stuck network's step, denormals flushed or not", flags))
  tf.env().set("PROD", true)
  const choice = await selectBackend({ prefer: "torch", threads: f.threads, log: (l) => console.error(l) })
  const native = torchNative()
  if (choice.name !== "torch" || native === undefined) throw new Error(`the torch backend did not load (got ${choice.name})`)
  if (f.kernel) return sgdKernel(f.rounds, native.threads())
  const { set } = await fmnistTrain(4096)
  const model = buildModel(specs[f.model]!)
  applyInit(model, defaultInitConfigs.kaimingNormal, { seed: 1 })
  const vars = trainableVars(model)
  const optimizer = makeOptimizer({ kind: "sgd", momentum: 0.9, weightDecay: 0 }, vars)
  const velocities = Object.entries(optimizer.state()).filter(([k]) => k.startsWith("v.")).map(([, v]) => v as tf.Variable)
  const order = Uint32Array.from({ length: set.n }, (_, i) => i)
  const batches = Math.floor(set.n / f.batch)
  let b = 0
  const stepOnce = () => {
    const r = trainBatch(model, vars, optimizer, set, batchIndices(order, b, f.batch), 0.01)
    b = (b + 1) % batches
    return r
  }
  const timeSteps = (n: number) => {
    const t0 = performance.now()
    for (let i = 0; i < n; i++) stepOnce()
    return (performance.now() - t0) / n
  }
  console.error(`${f.model}, batch ${f.batch}, ${native.threads()} thread(s); ${machine().cpu}`)

  const snapshot = () => [...vars, ...velocities].map((v) => tf.keep(v.clone()))
  const restore = (saved: ReadonlyArray<tf.Tensor>) => [...vars, ...velocities].forEach((v, i) => v.assign(saved[i]!))
  const fresh = snapshot()

  // The stuck state: RAE1 trained for --train steps (flushing off, as before the fix), or, when 0, that state's
  // limit made cheap: no signal past the stem, every velocity a few multiples of the smallest denormal.
  if (f.train > 0) {
    native.setFlushDenormals(false)
    for (let done = 0; done < f.train; done += 50) {
      let correct = 0
      const t0 = performance.now()
      for (let i = 0; i < 50; i++) correct += stepOnce().correct
      const ms = (performance.now() - t0) / 50
      console.error(`steps ${done + 50}: ${ms.toFixed(0)} ms/step, train accuracy ${(correct / (50 * f.batch)).toFixed(3)}, velocities denormal ${(100 * denormalShare(velocities)).toFixed(1)} %`)
    }
  } else {
    native.setFlushDenormals(false)  // or the products below come out 0
    tf.tidy(() => {
      const stem = vars.find((v) => v.shape.length === 4)!
      stem.assign(tf.zerosLike(stem))
      for (const v of velocities) {
        const k = tf.randomUniform(v.shape, 1, 8, "int32", 7).cast("float32")
        const sign = tf.randomUniform(v.shape, 0, 1, "float32", 8).less(0.5).cast("float32").mul(2).sub(1)
        v.assign(k.mul(tf.scalar(smallestDenormal)).mul(sign))
      }
    })
  }
  const stuck = snapshot()
  const shares = { velocities: denormalShare(velocities), weights: denormalShare(vars) }

  const ms = { fresh: { off: [] as number[], on: [] as number[] }, stuck: { off: [] as number[], on: [] as number[] } }
  native.setFlushDenormals(true)
  timeSteps(3)
  for (let r = 0; r < f.rounds; r++) {
    for (const on of [false, true]) {
      native.setFlushDenormals(on)
      for (const state of ["fresh", "stuck"] as const) {
        restore(state === "fresh" ? fresh : stuck)
        ms[state][on ? "on" : "off"].push(timeSteps(f.steps))
      }
    }
  }
  native.setFlushDenormals(true)
  const row = (name: string, m: { off: number[]; on: number[] }) => [name, median(m.off).toFixed(1), median(m.on).toFixed(1), (median(m.off) / median(m.on)).toFixed(2)]
  const stuckName = f.train > 0 ? `RAE1 after ${f.train} steps` : "stuck (stem zeroed, denormal velocities)"
  console.log(`${f.model}, batch ${f.batch}, ${native.threads()} thread(s), ${f.steps} steps × ${f.rounds} rounds from each saved state (medians), ms per step:`)
  console.log(markdownTable(["network", "flushing off", "flushing on", "off / on"], [row("Kaiming, untrained", ms.fresh), row(stuckName, ms.stuck)]))
  console.log(`denormal share of the stuck state: velocities ${(100 * shares.velocities).toFixed(2)} %, weights ${(100 * shares.weights).toFixed(2)} %`)
  optimizer.dispose()
  model.dispose()
}

if (import.meta.main) await main()
