/**
 * A replayed training step (shared/backend/torch/replay.ts) gives the same weights and losses to the bit as the
 * step run through tfjs, falls back where it must (Adam, a smaller last batch, the monitor), and leaks nothing.
 */
import { describe, expect, setDefaultTimeout, test } from "bun:test"
import * as tf from "@tensorflow/tfjs"
import { createStepReplay, type StepReplay } from "../../shared/backend/torch/replay.ts"
import type { ImageSet } from "../../shared/data/types.ts"
import { buildModel, type ModelSpec } from "../../shared/models/spec.ts"
import { batchIndices, trainBatch, trainableVars } from "../../shared/train/loop.ts"
import { monitorPlan } from "../../shared/train/monitor.ts"
import { makeOptimizer, type OptimizerConfig } from "../../shared/train/optim.ts"
import { liveNative, torchTest, values } from "./compare.ts"

setDefaultTimeout(300_000)

/** `n` images of `size`×`size`×1 with deterministic pixels and labels. */
const images = (n: number, size: number): ImageSet => ({
  images: values(n * size * size, 7, 0, 1),
  labels: Uint8Array.from(values(n, 8, 0, 10), Math.floor),
  n,
  height: size,
  width: size,
  channels: 1,
  classes: 10
})

/** `spec`'s model with deterministic weights (uniform ±√(3/fan-in); batch-norm scales and variances near 1). */
const modelOf = (spec: ModelSpec) => {
  const model = buildModel(spec)
  model.weights.forEach((w, i) => {
    const shape = w.shape as number[]
    const n = shape.reduce((a, b) => a * b, 1)
    const nearOne = /gamma|variance/.test(w.name)
    const r = nearOne ? 0.1 : Math.sqrt(3 / Math.max(1, n / (shape.at(-1) ?? 1)))
    const v = values(n, 100 + i, -r, r).map((x) => (nearOne ? 1 + x : x))
    tf.tidy(() => void w.write(tf.tensor(v, shape)))
  })
  return model
}

const sgd: OptimizerConfig = { kind: "sgd", momentum: 0.9, weightDecay: 0 }

interface Run {
  losses: number[]
  weights: Uint8Array[]
  live: number[]
  tensors: number[]
  facts?: ReturnType<StepReplay["facts"]>
}

/** Trains `steps` batches of `batch` (the last one smaller when `data.n` is not a multiple) with or without replay. */
const train = (spec: ModelSpec, data: ImageSet, batch: number, steps: number, replayOn: boolean, opt = sgd): Run => {
  tf.setBackend("torch")
  const model = modelOf(spec)
  const vars = trainableVars(model)
  const optimizer = makeOptimizer(opt, vars)
  const lines: string[] = []
  const replay = replayOn ? createStepReplay({ log: (l) => lines.push(l) }) : undefined
  const order = Uint32Array.from({ length: data.n }, (_, i) => i)
  const batches = Math.ceil(data.n / batch)
  const run: Run = { losses: [], weights: [], live: [], tensors: [] }
  for (let s = 0; s < steps; s++) {
    run.losses.push(trainBatch(model, vars, optimizer, data, batchIndices(order, s % batches, batch), 0.05, undefined, replay).loss)
    run.live.push(liveNative())
    run.tensors.push(tf.memory().numTensors)
  }
  const all = [...model.weights.map((w) => w.read()), ...Object.values(optimizer.state())]
  run.weights = all.map((t) => new Uint8Array((t.dataSync() as Float32Array).slice().buffer))
  if (replay !== undefined) {
    run.facts = replay.facts()
    expect(run.facts.fallbacks).toEqual(lines.map((l) => l.replace(/^step replay: /, "").replace(/; those steps run through tfjs$/, "")))
    replay.dispose()
  }
  optimizer.dispose()
  model.dispose()
  return run
}

const sameBits = (a: Run, b: Run) => {
  expect(a.losses).toEqual(b.losses)
  expect(a.weights.length).toBe(b.weights.length)
  a.weights.forEach((w, i) => expect(Buffer.compare(Buffer.from(w), Buffer.from(b.weights[i]!))).toBe(0))
}

const lenet: ModelSpec = { arch: "lenet5", inputShape: [28, 28, 1], classes: 10, activation: "relu" }
const resnet18NoBn: ModelSpec = { arch: "resnet18", inputShape: [8, 8, 1], classes: 10, batchNorm: false, stem: "imagenet", activation: "relu" }
const resnet8: ModelSpec = { arch: "resnet-cifar", inputShape: [8, 8, 1], classes: 10, depth: 8, activation: "relu" }

describe("step replay on torch", () => {
  torchTest("LeNet-5, SGD momentum: replayed steps give the same losses and weights to the bit, and leak nothing", () => {
    const data = images(64, 28)
    const off = train(lenet, data, 16, 8, false)
    const on = train(lenet, data, 16, 8, true)
    sameBits(on, off)
    expect(on.facts).toMatchObject({ recorded: 2, replayed: 6, normal: 0, fallbacks: [] })
    // Replayed steps hold as many tensors between steps as recorded ones (native and tfjs).
    expect(new Set(on.live.slice(2)).size).toBe(1)
    expect(new Set(on.tensors.slice(2)).size).toBe(1)
    expect(on.live.at(-1)).toBe(off.live.at(-1))
  })

  // ResNet18 without batch norm (the benchmarked model, at 8×8) and He et al.'s ResNet-8 with batch norm (moving
  // statistics are variables the step assigns besides the weights; ResNet18 with BN is the same code, only slower).
  const resnets: Array<[string, ModelSpec, number]> = [
    ["ResNet18 without batch norm", resnet18NoBn, 4],
    ["ResNet-8 with batch norm", resnet8, 5]
  ]
  for (const [name, spec, steps] of resnets) {
    torchTest(`${name} (8×8 inputs): bit-identical with replay`, () => {
      const data = images(8, 8)
      const off = train(spec, data, 4, steps, false)
      const on = train(spec, data, 4, steps, true)
      sameBits(on, off)
      // A first step can differ from the next (tfjs makes some constants once): then a third recording validates.
      expect(on.facts).toMatchObject({ normal: 0, fallbacks: [] })
      expect(on.facts!.replayed).toBeGreaterThanOrEqual(steps - 3)
      expect(new Set(on.live.slice(3)).size).toBe(1)
    })
  }

  torchTest("a smaller last batch runs through tfjs (another key), then replays once it repeats", () => {
    const data = images(40, 28) // batches of 16, 16, 8
    const off = train(lenet, data, 16, 9, false)
    const on = train(lenet, data, 16, 9, true)
    sameBits(on, off)
    // Keys: [16] recorded twice then replayed 4×; [8] recorded at steps 2 and 5, replayed at step 8.
    expect(on.facts).toMatchObject({ recorded: 4, replayed: 5, fallbacks: [] })
  })

  torchTest("Adam falls back (its bias corrections change every step), saying so once, with the same results", () => {
    const adam: OptimizerConfig = { kind: "adam", momentum: 0, weightDecay: 0 }
    const data = images(32, 28)
    const off = train(lenet, data, 16, 6, false, adam)
    const on = train(lenet, data, 16, 6, true, adam)
    sameBits(on, off)
    expect(on.facts!.replayed).toBe(0)
    expect(on.facts!.fallbacks).toHaveLength(1)
    expect(on.facts!.fallbacks[0]).toContain("constant")
  })

  torchTest("monitor steps, a disabled replay and a new model run through tfjs; the cpu backend says it has none", () => {
    const spec: ModelSpec = { arch: "mlp", inputShape: [4, 4, 1], depth: 2, width: 8, classes: 10, activation: "relu" }
    const data = images(16, 4)
    const idx = [0, 1, 2, 3]
    tf.setBackend("torch")
    const model = modelOf(spec)
    const vars = trainableVars(model)
    const optimizer = makeOptimizer(sgd, vars)
    const lines: string[] = []
    const replay = createStepReplay({ log: (l) => lines.push(l) })
    const monitor = { plan: monitorPlan(model), deadThreshold: 1e-6 }
    for (let s = 0; s < 4; s++) trainBatch(model, vars, optimizer, data, idx, 0.05, s === 2 ? monitor : undefined, replay)
    // The monitor step (s = 2) ran outside the replay: recordings at 0 and 1, a replay at 3.
    expect(replay.facts()).toMatchObject({ recorded: 2, replayed: 1, normal: 0 })
    trainBatch(model, vars, optimizer, data, idx, 0.1, undefined, replay) // another learning rate: another key
    expect(replay.facts()).toMatchObject({ recorded: 3, replayed: 1 })

    // A second model registers more variables: the program may read stale ones, so the step is recorded again.
    const other = modelOf(spec)
    trainBatch(model, vars, optimizer, data, idx, 0.05, undefined, replay)
    expect(replay.facts()).toMatchObject({ recorded: 4, replayed: 1 })
    expect(lines.some((l) => l.includes("registered variables changed"))).toBe(true)
    other.dispose()

    const off = createStepReplay({ enabled: false })
    for (let s = 0; s < 3; s++) trainBatch(model, vars, optimizer, data, idx, 0.05, undefined, off)
    expect(off.facts()).toMatchObject({ recorded: 0, replayed: 0, normal: 3, fallbacks: ["turned off (LWI_REPLAY=off or enabled: false)"] })

    tf.setBackend("cpu")
    const onCpu = createStepReplay({ log: (l) => lines.push(l) })
    const cpuModel = modelOf(spec)
    const cpuVars = trainableVars(cpuModel)
    const cpuOpt = makeOptimizer(sgd, cpuVars)
    for (let s = 0; s < 3; s++) trainBatch(cpuModel, cpuVars, cpuOpt, data, idx, 0.05, undefined, onCpu)
    expect(onCpu.facts()).toMatchObject({ normal: 3, fallbacks: ["backend cpu has no replay"] })
    expect(lines.filter((l) => l.includes("backend cpu"))).toHaveLength(1)
    for (const x of [replay, off, onCpu]) x.dispose()
    cpuOpt.dispose()
    optimizer.dispose()
    cpuModel.dispose()
    tf.setBackend("torch")
    model.dispose()
  })

  torchTest("a tensor sharing a weight's data keeps its values through a replayed step (tensors are immutable)", () => {
    tf.setBackend("torch")
    const spec: ModelSpec = { arch: "mlp", inputShape: [4, 4, 1], depth: 1, width: 8, classes: 10, activation: "relu" }
    const model = modelOf(spec)
    const vars = trainableVars(model)
    const optimizer = makeOptimizer(sgd, vars)
    const replay = createStepReplay()
    const data = images(8, 4)
    for (let s = 0; s < 2; s++) trainBatch(model, vars, optimizer, data, [0, 1, 2, 3], 0.05, undefined, replay)
    const w = vars[0]!
    // A tensor assigned to a variable shares its dataId with it while it lives.
    const held = tf.tensor(w.dataSync(), w.shape)
    w.assign(held)
    const before = Array.from(held.dataSync())
    trainBatch(model, vars, optimizer, data, [0, 1, 2, 3], 0.05, undefined, replay)
    expect(replay.facts().replayed).toBe(1)
    expect(Array.from(held.dataSync())).toEqual(before)
    expect(Array.from(w.dataSync())).not.toEqual(before)
    held.dispose()
    replay.dispose()
    optimizer.dispose()
    model.dispose()
  })
})
