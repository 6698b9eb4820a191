/** learnInit (shared/lw/api.ts), the public entry point: options, copies, the report, errors, every backend. */
import { beforeAll, describe, expect, test } from "bun:test"
import * as tf from "@tensorflow/tfjs"
import { BadConfig, defaultLwConfig, layerStats, learnInit, lwLayerNames, ModelNotCopyable, resolveLwConfig, SharedLayer, type LayerProgress } from "lwi"
import { blobBatch } from "../lw/fixtures.ts"
import { requiring } from "../requirements.ts"

const withTorch = await requiring("torch")

beforeAll(async () => {
  await tf.setBackend("cpu")
})

/** A functional model lwi did not define: conv → depthwise → pointwise → pool → dense → dense, ReLUs in between. */
const ownModel = () => {
  const input = tf.input({ shape: [8, 8, 2] })
  const stem = tf.layers.conv2d({ name: "stem", filters: 4, kernelSize: 3, padding: "same", activation: "relu" }).apply(input)
  const dw = tf.layers.depthwiseConv2d({ name: "dw", kernelSize: 3, padding: "same", depthwiseInitializer: tf.initializers.heNormal({ seed: 3 }) }).apply(stem)
  const pw = tf.layers.conv2d({ name: "pw", filters: 6, kernelSize: 1, activation: "relu" }).apply(tf.layers.reLU({ name: "dw.relu" }).apply(dw))
  const pooled = tf.layers.globalAveragePooling2d({ name: "pool" }).apply(pw)
  const hidden = tf.layers.dense({ name: "hidden", units: 12, activation: "relu" }).apply(pooled)
  const out = tf.layers.dense({ name: "out", units: 3 }).apply(hidden) as tf.SymbolicTensor
  return tf.model({ inputs: input, outputs: out, name: "own" })
}

const kernelOf = (model: tf.LayersModel, layer: string) => Array.from(model.getLayer(layer).getWeights()[0]!.dataSync())

describe("learnInit on a model lwi did not define", () => {
  test("every layer with a kernel is in the report, in forward order; learned layers meet the targets on the batch", async () => {
    const model = ownModel()
    const batch = tf.tidy(() => blobBatch(16, 8, 8, 2, 1))
    const before = tf.memory().numTensors
    const progress: LayerProgress[] = []
    const lines: string[] = []
    const report = await learnInit(model, batch, { seed: 4, onLayer: (p) => progress.push(p), log: (l) => lines.push(l) })
    expect(tf.memory().numTensors).toBe(before)
    expect(report.model).toBe(model)
    expect(report.backend).toBe("cpu")
    expect(report.config).toEqual(defaultLwConfig)
    expect(report.layers.map((l) => l.layer)).toEqual(["stem", "dw", "pw", "hidden", "out"])
    const byName = Object.fromEntries(report.layers.map((l) => [l.layer, l]))
    expect(byName.out).toMatchObject({ status: "skipped", reason: expect.stringContaining("classifier") })
    // DepthwiseConv2D is a kind LW learns (shared/models/kinds.ts): learned, not skipped.
    expect(byName.dw!.status).not.toBe("skipped")
    for (const l of report.layers.filter((l) => l.status === "learned")) {
      expect(Math.abs(l.final!.outputMean)).toBeLessThan(0.032)
      expect(Math.abs(l.final!.activationVar - 1)).toBeLessThan(0.032)
      expect(l.curve.length).toBe(l.epochs)
    }
    expect(report.layers.filter((l) => l.status === "learned").map((l) => l.layer)).toEqual(["stem", "dw", "pw", "hidden"])
    // One progress call and one log line per reported layer, in order.
    expect(progress.map((p) => [p.layer, p.index, p.total])).toEqual(report.layers.map((l, i) => [l.layer, i, 5]))
    expect(lines.length).toBe(5)
    expect(lines[0]).toMatch(/^lw: stem \(Conv2D\) (learned|target not reached): /)
    batch.dispose()
    model.dispose()
  })

  test("copy: true learns a clone and leaves the model as it was; in place (the default) changes it", async () => {
    const model = ownModel()
    const batch = tf.tidy(() => blobBatch(16, 8, 8, 2, 2))
    const original = kernelOf(model, "stem")
    const copied = await learnInit(model, batch, { seed: 1, copy: true, epochs: 20 })
    expect(copied.model).not.toBe(model)
    expect(kernelOf(model, "stem")).toEqual(original)
    expect(copied.model.layers.map((l) => l.name)).toEqual(model.layers.map((l) => l.name))
    // The untouched layers came over with the copy: the classifier keeps the original's weights.
    expect(kernelOf(copied.model, "out")).toEqual(kernelOf(model, "out"))
    const inPlace = await learnInit(model, batch, { seed: 1, epochs: 20 })
    expect(inPlace.model).toBe(model)
    expect(kernelOf(model, "stem")).not.toEqual(original)
    // Same seed, same batch: the copy and the in-place run learned the same weights.
    expect(kernelOf(model, "stem")).toEqual(kernelOf(copied.model, "stem"))
    copied.model.dispose()
    model.dispose()
    batch.dispose()
  })

  test("a typed array with its shape gives what the tensor gives", async () => {
    const batch = tf.tidy(() => blobBatch(16, 8, 8, 2, 3))
    const a = await learnInit(ownModel(), batch, { seed: 2, epochs: 15 })
    const b = await learnInit(ownModel(), { data: batch.dataSync() as Float32Array, shape: batch.shape }, { seed: 2, epochs: 15 })
    expect(kernelOf(b.model, "hidden")).toEqual(kernelOf(a.model, "hidden"))
    batch.dispose()
  })

  test("layers: only the named ones are learned (the classifier too when named), the others reported skipped", async () => {
    const model = ownModel()
    const batch = tf.tidy(() => blobBatch(16, 8, 8, 2, 4))
    const pwBefore = kernelOf(model, "pw")
    const r = await learnInit(model, batch, { layers: ["out", "stem"], epochs: 30 })
    const status = Object.fromEntries(r.layers.map((l) => [l.layer, [l.status, l.reason]]))
    expect(status.pw).toEqual(["skipped", "not in options.layers"])
    expect(status.stem![0]).not.toBe("skipped")
    expect(status.out![0]).not.toBe("skipped")
    expect(kernelOf(model, "pw")).toEqual(pwBefore)
    model.dispose()
    batch.dispose()
  })

  test("options set the config; the preset is the base", async () => {
    const batch = tf.tidy(() => blobBatch(8, 8, 8, 2, 5))
    const r = await learnInit(ownModel(), batch, {
      preset: "lwThesis", lr: 0.02, epochs: 3, optimizer: "adam", meanTarget: 0.1, varianceTarget: 2, config: { scope: "channel" }
    })
    expect(r.config).toMatchObject({ init: { name: "normal", std: 0.1 }, lr: 0.02, maxEpochs: 3, optimizer: "adam", meanTarget: 0.1, varianceTarget: 2, scope: "channel" })
    expect(r.layers.filter((l) => l.status !== "skipped").every((l) => l.epochs <= 3)).toBe(true)
    batch.dispose()
  })
})

/** stem → a Sequential sub-model (conv → BN → ReLU) used as a layer → pool → dense. */
const nestedModel = () => {
  const block = tf.sequential({
    name: "block",
    layers: [
      tf.layers.conv2d({ inputShape: [8, 8, 4], name: "conv", filters: 4, kernelSize: 3, padding: "same" }),
      tf.layers.batchNormalization({ name: "bn" }),
      tf.layers.reLU({ name: "relu" })
    ]
  })
  const input = tf.input({ shape: [8, 8, 2] })
  const stem = tf.layers.conv2d({ name: "stem", filters: 4, kernelSize: 3, padding: "same", activation: "relu" }).apply(input)
  const pooled = tf.layers.globalAveragePooling2d({ name: "pool" }).apply(block.apply(stem))
  return tf.model({ inputs: input, outputs: tf.layers.dense({ name: "out", units: 3 }).apply(pooled) as tf.SymbolicTensor, name: "nested" })
}

/** Dense 6 → 16 sigmoid → 16 sigmoid → 2. */
const sigmoidModel = () =>
  tf.sequential({
    name: "sig",
    layers: [
      tf.layers.dense({ inputShape: [6], name: "h1", units: 16, activation: "sigmoid" }),
      tf.layers.dense({ name: "h2", units: 16, activation: "sigmoid" }),
      tf.layers.dense({ name: "out", units: 2 })
    ]
  })

describe("learnInit on nested models and bounded activations", () => {
  test("a nested model's layers are learned by path, written into the model itself; its BN is reported skipped", async () => {
    const model = nestedModel()
    const inner = (model.getLayer("block") as tf.LayersModel).getLayer("conv")
    const before = Array.from(inner.getWeights()[0]!.dataSync())
    const batch = tf.tidy(() => blobBatch(16, 8, 8, 2, 11))
    const tensors = tf.memory().numTensors
    const lines: string[] = []
    const report = await learnInit(model, batch, { seed: 3, log: (l) => lines.push(l) })
    expect(tf.memory().numTensors).toBe(tensors)
    expect(report.layers.map((l) => [l.layer, l.className, l.status])).toEqual([
      ["stem", "Conv2D", "learned"],
      ["block/conv", "Conv2D", "learned"],
      ["block/bn", "BatchNormalization", "skipped"],
      ["out", "Dense", "skipped"]
    ])
    expect(report.layers[2]!.reason).toContain("no kernel LW learns")
    expect(lines.map((l) => l.split(" ")[1])).toEqual(["stem", "block/conv", "block/bn", "out"])
    // The nested model's own layer holds the learned weights: the real forward pass gives the targets.
    expect(Array.from(inner.getWeights()[0]!.dataSync())).not.toEqual(before)
    const conv = layerStats(model, batch).find((l) => l.name === "block/conv")!
    expect(Math.abs(conv.outputMean)).toBeLessThan(0.032)
    expect(Math.abs(conv.activationVar - 1)).toBeLessThan(0.032)
    expect(lwLayerNames(model)).toEqual(["stem", "block/conv"])
    // A nested layer can be named in options.layers by its path.
    const only = await learnInit(nestedModel(), batch, { layers: ["block/conv"], epochs: 5 })
    expect(only.layers.filter((l) => l.status !== "skipped").map((l) => l.layer)).toEqual(["block/conv"])
    batch.dispose()
    model.dispose()
  })

  test('sigmoid layers get the "auto" target (0.0434), printed resolved; the literal 1 is unreachable, warned and reported', async () => {
    const x = tf.randomNormal([64, 6], 0, 1, "float32", 5)
    const lines: string[] = []
    const auto = await learnInit(sigmoidModel(), x, { seed: 1, log: (l) => lines.push(l) })
    for (const l of auto.layers.slice(0, 2)) {
      expect(l).toMatchObject({ status: "learned", target: { activation: "sigmoid", auto: true, varianceAt: "activation", varianceTarget: 0.0434, reached: true } })
      expect(Math.abs(l.final!.activationVar / 0.0434 - 1)).toBeLessThan(0.05)
    }
    expect(auto.layers[0]!.target!.varianceTarget).toBe(resolveLwConfig(defaultLwConfig, "sigmoid").config.varianceTarget)
    expect(lines[0]).toMatch(/^lw: h1 \(Dense\) learned: output mean -?0\.0\d\d \(target 0\), activation variance 0\.04\d \(target 0\.0434, auto\)/)
    const warned: string[] = []
    const literal = await learnInit(sigmoidModel(), x, { seed: 1, varianceTarget: 1, epochs: 20, log: (l) => warned.push(l) })
    expect(literal.layers[0]).toMatchObject({ status: "unreachable", target: { auto: false, varianceTarget: 1, feasibility: { status: "infeasible" }, reached: false } })
    expect(literal.layers[0]!.reason).toContain("activation variance 1 is unreachable for sigmoid")
    expect(warned[0]).toStartWith('LW "h1": activation variance 1 is unreachable for sigmoid')
    expect(warned[1]).toStartWith("lw: h1 (Dense) target not reached: activation variance 0.")
    x.dispose()
  })

  test("a layer applied twice (shared weights) is refused with SharedLayer naming it", async () => {
    const twice = tf.layers.dense({ name: "twice", units: 6, activation: "relu" })
    const input = tf.input({ shape: [6] })
    const h = twice.apply(twice.apply(input)) as tf.SymbolicTensor
    const model = tf.model({ inputs: input, outputs: tf.layers.dense({ name: "out", units: 2 }).apply(h) as tf.SymbolicTensor })
    const x = tf.randomNormal([8, 6], 0, 1, "float32", 2)
    const error = await learnInit(model, x).then(() => undefined, (e: unknown) => e)
    expect(error).toBeInstanceOf(SharedLayer)
    expect((error as SharedLayer).layer).toBe("twice")
    x.dispose()
  })
})

describe("learnInit refuses bad input with a BadConfig naming the option", () => {
  const batch = () => tf.tidy(() => blobBatch(4, 8, 8, 2, 6))
  const rejects = async (options: object, field: string, expected: string | RegExp, b: unknown = undefined) => {
    const x = batch()
    const error = await learnInit(ownModel(), (b ?? x) as tf.Tensor, options as never).then(() => undefined, (e: unknown) => e)
    x.dispose()
    expect(error).toBeInstanceOf(BadConfig)
    expect((error as BadConfig).field).toBe(field)
    expect((error as BadConfig).message).toMatch(expected)
  }
  test("out-of-range numbers", async () => {
    await rejects({ lr: -1 }, "lr", "positive")
    await rejects({ epochs: 2.5 }, "epochs", "integer")
    await rejects({ momentum: 1 }, "momentum", "less than 1")
    await rejects({ varianceTarget: "half" }, "varianceTarget", /"auto"/)
  })
  test("a misspelt option names the options there are", async () => {
    await rejects({ epoch: 10 }, "epoch", /no such option; learnInit takes .*epochs/)
  })
  test("an unknown preset or optimizer lists the choices", async () => {
    await rejects({ preset: "lw2" }, "preset", /"lw"/)
    await rejects({ optimizer: "rmsprop" }, "optimizer", /"adam"/)
  })
  test("a layer the model does not have lists its conv/dense layers", async () => {
    await rejects({ layers: ["conv9"] }, "layers", "stem, dw, pw, hidden, out")
  })
  test("a config field that is not LwConfig's", async () => {
    await rejects({ config: { scope: "pixel" } }, "config.scope", '"tensor" | "channel"')
    await rejects({ config: { convergence: { window: 0, tolerance: 0, threshold: 0 } } }, "config.convergence.window", "greater than or equal to 1")
    await rejects({ config: { bogus: 1 } }, "config.bogus", "no excess property")
  })
  test("a batch that does not fit the model", async () => {
    await rejects({}, "batch", "shape [null, 8, 8, 2]", tf.zeros([4, 8, 8, 3]))
    await rejects({}, "batch", "at least 2 samples", tf.zeros([1, 8, 8, 2]))
    await rejects({}, "batch.data", "256 values", { data: new Float32Array(10), shape: [2, 8, 8, 2] })
  })
  test("a model that cannot be copied is a ModelNotCopyable naming the fix", async () => {
    class Doubling extends tf.layers.Layer {
      static className = "Doubling"
      override call(x: tf.Tensor | tf.Tensor[]) {
        return tf.mul(Array.isArray(x) ? x[0]! : x, 2)
      }
    }
    const input = tf.input({ shape: [4] })
    const h = tf.layers.dense({ units: 4, name: "h", activation: "relu" }).apply(new Doubling({}).apply(input))
    const model = tf.model({ inputs: input, outputs: tf.layers.dense({ units: 2 }).apply(h) as tf.SymbolicTensor })
    const x = tf.randomNormal([8, 4], 0, 1, "float32", 1)
    const error = await learnInit(model, x, { copy: true }).then(() => undefined, (e: unknown) => e)
    expect(error).toBeInstanceOf(ModelNotCopyable)
    expect((error as Error).message).toContain("tf.serialization.registerClass")
    x.dispose()
  })
})

describe("the same call on every backend lwi selects", () => {
  const run = async (backend: "cpu" | "wasm" | "torch") => {
    const batch = tf.tidy(() => blobBatch(16, 8, 8, 2, 7))
    const r = await learnInit(ownModel(), batch, { backend, threads: 1, seed: 9, epochs: 60 })
    const summary = r.layers.map((l) => ({ layer: l.layer, status: l.status, final: l.final }))
    expect(r.backend).toBe(backend)
    r.model.dispose()
    await tf.setBackend("cpu")
    batch.dispose()
    return summary
  }
  const agree = (a: Awaited<ReturnType<typeof run>>, b: Awaited<ReturnType<typeof run>>) => {
    expect(b.map((l) => [l.layer, l.status])).toEqual(a.map((l) => [l.layer, l.status]))
    a.forEach((l, i) => {
      if (l.final === undefined) return
      for (const key of ["outputMean", "activationVar"] as const) expect(Math.abs(b[i]!.final![key] - l.final[key])).toBeLessThan(1e-3)
    })
  }
  test("wasm agrees with cpu", async () => {
    agree(await run("cpu"), await run("wasm"))
  })
  withTorch("torch agrees with cpu", async () => {
    agree(await run("cpu"), await run("torch"))
  })
})
