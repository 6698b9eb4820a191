/**
 * Fixup's ResNet18 (shared/models/resnet.ts `fixup: true`, shared/models/scalar.ts): the reference's scalar biases and
 * multipliers where it puts them, the fixup init landing on its layers, the scalars trained and carried by the
 * weights artifact (and so by checkpoints), and the graph walks reading through them.
 */
import { beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test"
import * as tf from "@tensorflow/tfjs"
import { Effect, Schema } from "effect"
import { BadConfig } from "../../shared/errors.ts"
import { canonicalJson } from "../../shared/engine/hash.ts"
import { makeEngine, runWithEngine } from "../../shared/engine/testing.ts"
import { fans } from "../../shared/init/fans.ts"
import type { InitConfig } from "../../shared/init/initializers.ts"
import { layerStats } from "../../shared/lw/greedy.ts"
import { ScalarBias, ScalarScale, applyInit, createResNet18, flatten, learnableLayers } from "../../shared/models/index.ts"
import { ModelSpec, buildModel } from "../../shared/models/spec.ts"
import { getWeights, putWeights } from "../../shared/schemas.ts"
import { trainBatch, trainableVars } from "../../shared/train/loop.ts"
import { monitorPlan } from "../../shared/train/monitor.ts"
import { makeOptimizer } from "../../shared/train/optim.ts"
import { readWeights, writeWeights } from "../../shared/train/weights.ts"
import { lrFactorsFor } from "../../steps/train.ts"

// As `npm test` (--timeout 300000): full-width ResNet18s on 2 shared cores.
setDefaultTimeout(300_000)

beforeAll(async () => {
  await tf.setBackend("cpu")
})

const fixupInit: InitConfig = { name: "fixup", base: { name: "kaimingNormal", nonlinearity: "relu", negativeSlope: 0 } }
const count = (ws: tf.LayerVariable[]) => ws.reduce((n, w) => n + w.shape.reduce((a: number, b) => a * (b ?? 0), 1), 0)
const scalarLayers = (m: tf.LayersModel) => m.layers.filter((l) => l instanceof ScalarBias || l instanceof ScalarScale).map((l) => l.name)
/** Every scalar weight by name: `<layer>/bias` or `<layer>/scale`. */
const scalars = (m: tf.LayersModel) =>
  Object.fromEntries(Object.entries(readWeights(m)).filter(([, a]) => a.shape.length === 1 && a.shape[0] === 1).map(([k, a]) => [k, a.data[0]!]))
const variance = (xs: ArrayLike<number>) => {
  let s = 0
  for (let i = 0; i < xs.length; i++) s += xs[i]! * xs[i]!
  return s / xs.length
}
/** The reference's names (fixup_resnet_imagenet.py): 5 per block, bias1 after the stem conv, bias2 before fc. */
const blockScalars = (block: string) => ["bias1a", "bias1b", "bias2a", "scale", "bias2b"].map((s) => `${block}.${s}`)
const blocks = [1, 2, 3, 4].flatMap((s) => [0, 1].map((b) => `layer${s}.${b}`))
const referenceScalars = ["bias1", ...blocks.flatMap(blockScalars), "bias2"]

describe("Fixup's ResNet18", () => {
  test("42 scalars named as the reference's, no conv biases: 11,164,404 trainable (small stem, 10 classes)", () => {
    const m = createResNet18({ inputShape: [32, 32, 3], classes: 10, batchNorm: false, stem: "small", fixup: true })
    expect(scalarLayers(m)).toEqual(referenceScalars)
    // The plain no-BN net's 11,169,162 less its 4,800 conv biases, plus the 42 scalars; also PyTorch's
    // fixup_resnet18(num_classes=10) with the small stem (11,173,962 with BN, less BN's 9,600 γ/β, plus 42).
    expect(count(m.trainableWeights)).toBe(11_164_404)
    expect(count(m.nonTrainableWeights)).toBe(0)
    for (const l of learnableLayers(m)) expect(l.hasBias).toBe(l.name === "fc")
    expect(m.name).toBe("resnet18-small-fixup")
    m.dispose()
  })

  test("where the scalars sit: biased input to conv1 and downsample, bias → act, × scale + bias at the branch end", () => {
    const m = createResNet18({ inputShape: [32, 32, 3], classes: 10, batchNorm: false, stem: "imagenet", fixup: true })
    const from = (name: string) => (m.getLayer(name).inboundNodes[0]!.inboundLayers as tf.layers.Layer[]).map((l) => l.name)
    expect(from("act")).toEqual(["bias1"])
    expect(from("conv1.pad")).toEqual(["input"])
    expect(from("layer2.0.conv1.pad")).toEqual(["layer2.0.bias1a"])
    expect(from("layer2.0.downsample")).toEqual(["layer2.0.bias1a"])
    expect(from("layer1.0.conv1")).toEqual(["layer1.0.bias1a"])
    expect(from("layer1.0.act1")).toEqual(["layer1.0.bias1b"])
    expect(from("layer1.0.conv2")).toEqual(["layer1.0.bias2a"])
    expect(from("layer1.0.scale")).toEqual(["layer1.0.conv2"])
    expect(from("layer1.0.bias2b")).toEqual(["layer1.0.scale"])
    // The identity shortcut is the block's input itself, without bias1a (as the reference's `identity = x`).
    expect(from("layer1.0.add")).toEqual(["layer1.0.bias2b", "maxpool"])
    expect(from("layer2.0.add")).toEqual(["layer2.0.bias2b", "layer2.0.downsample"])
    expect(from("fc")).toEqual(["bias2"])
    m.dispose()
  })

  test("batchNorm with fixup is a BadConfig naming the field; the plain net is unchanged by the option's absence", () => {
    const bad = () => createResNet18({ inputShape: [32, 32, 3], classes: 10, batchNorm: true, stem: "small", fixup: true })
    expect(bad).toThrow(BadConfig)
    expect(bad).toThrow(/fixup/)
    const plain = createResNet18({ inputShape: [32, 32, 3], classes: 10, batchNorm: false, stem: "small" })
    const off = createResNet18({ inputShape: [32, 32, 3], classes: 10, batchNorm: false, stem: "small", fixup: false })
    expect(scalarLayers(plain)).toEqual([])
    expect(off.layers.map((l) => l.name)).toEqual(plain.layers.map((l) => l.name))
    expect(count(off.trainableWeights)).toBe(11_169_162)
    plain.dispose()
    off.dispose()
  })

  test("the spec: `fixup` builds it; an older spec without it encodes (and so hashes) exactly as before", () => {
    const old = { arch: "resnet18", inputShape: [16, 16, 1], classes: 3, batchNorm: false, stem: "small", activation: "relu" } as const
    const encoded = Schema.encodeUnknownSync(ModelSpec)(old, { onExcessProperty: "error" })
    expect(canonicalJson(encoded)).toBe(canonicalJson(old))
    const m = buildModel({ ...old, fixup: true })
    expect(scalarLayers(m)).toHaveLength(42)
    m.dispose()
  })

  test("the fixup init lands on it: conv2s and fc 0, conv1s He/8, downsamples and stem He; scalars 0 and 1", () => {
    const m = createResNet18({ inputShape: [16, 16, 1], classes: 3, batchNorm: false, stem: "small", fixup: true })
    applyInit(m, fixupInit, { seed: 3 })
    const w = readWeights(m)
    const kernel = (name: string) => w[`${name}/kernel`]!.data as Float32Array
    for (const b of blocks) expect(kernel(`${b}.conv2`).every((x) => x === 0)).toBe(true)
    expect(kernel("fc").every((x) => x === 0)).toBe(true)
    const he = (name: string) => 2 / fans(w[`${name}/kernel`]!.shape as number[]).fanIn
    const close = (name: string, scale2: number) =>
      // Relative standard error of a sample variance: √(2/n); allow 5 of them.
      expect(Math.abs(variance(kernel(name)) / (he(name) * scale2) - 1)).toBeLessThan(5 * Math.sqrt(2 / kernel(name).length))
    close("layer3.1.conv1", 1 / 8)
    close("layer1.0.conv1", 1 / 8)
    close("layer4.0.downsample", 1)
    close("conv1", 1)
    const s = scalars(m)
    expect(Object.keys(s)).toHaveLength(42)
    for (const [name, v] of Object.entries(s)) expect(v).toBe(name.endsWith("/scale") ? 1 : 0)
    m.dispose()
  })
})

describe("Fixup's scalars in training, artifacts and walks", () => {
  // 16 px through the ImageNet stem: 4×4 maps in layer1, 1×1 in layer4 — full-width ResNet18 kept cheap on the cpu backend.
  const size = 16 * 16
  /** 6 images of 3 classes whose mean brightness is the class: a signal a few steps can start on. */
  const data = (() => {
    const n = 6
    const images = new Float32Array(n * size)
    const labels = new Uint8Array(n)
    for (let i = 0; i < n; i++) {
      labels[i] = i % 3
      for (let p = 0; p < size; p++) images[i * size + p] = labels[i]! - 1 + 0.5 * Math.sin(i * 7 + p)
    }
    return { images, labels, n, height: 16, width: 16, channels: 1, classes: 3 }
  })()
  const batch = () => tf.tensor4d(data.images, [data.n, 16, 16, 1])
  const build = () => createResNet18({ inputShape: [16, 16, 1], classes: 3, batchNorm: false, stem: "imagenet", fixup: true })

  test("SGD moves every scalar within 3 steps (the branch ones once conv2 and fc have left 0), the loss stays finite", () => {
    const m = build()
    applyInit(m, fixupInit, { seed: 1 })
    const before = scalars(m)
    const vars = trainableVars(m)
    const optimizer = makeOptimizer({ kind: "sgd", momentum: 0.9, weightDecay: 0 }, vars)
    const idx = Array.from({ length: data.n }, (_, i) => i)
    const losses = Array.from({ length: 3 }, () => trainBatch(m, vars, optimizer, data, idx, 0.05).loss)
    for (const l of losses) expect(Number.isFinite(l)).toBe(true)
    const after = scalars(m)
    const unmoved = Object.keys(before).filter((k) => after[k] === before[k])
    expect(unmoved).toEqual([])
    optimizer.dispose()
    m.dispose()
  })

  test("--fixup-lr-factor: the scalars and fc's bias (the reference's `bias`/`scale` names) train at the factor's rate, the convs at the base rate", () => {
    const m = build()
    const vars = trainableVars(m)
    const factors = lrFactorsFor(vars, 0.1)!
    const slow = vars.filter((_, i) => factors[i] === 0.1).map((v) => v.name.replace(/_\d+$/, ""))
    expect(slow.sort()).toEqual([...referenceScalars.map((n) => `${n}/${n.endsWith("scale") ? "scale" : "bias"}`), "fc/bias"].sort())
    expect(lrFactorsFor(vars, undefined)).toBeUndefined()
    // One plain SGD step: each variable moves by lr·factor·g (same gradients for both optimizers).
    const w = tf.variable(tf.tensor1d([1, 2]), true, "w/kernel")
    const b = tf.variable(tf.tensor1d([3]), true, "w/bias")
    const sgd = makeOptimizer({ kind: "sgd", momentum: 0, weightDecay: 0 }, [w, b], lrFactorsFor([w, b], 0.1))
    sgd.step([tf.tensor1d([1, 1]), tf.tensor1d([1])], 0.5)
    expect(Array.from(w.dataSync())).toEqual([0.5, 1.5])
    expect(b.dataSync()[0]).toBeCloseTo(3 - 0.05, 6)
    sgd.dispose()
    w.dispose()
    b.dispose()
    m.dispose()
  })

  test("the weights artifact round-trips the scalars (checkpoints use the same arrays); a plain net refuses them", async () => {
    const m = build()
    applyInit(m, fixupInit, { seed: 5 })
    // Values a fresh model would not have: every scalar its own number.
    writeWeights(m, Object.fromEntries(Object.entries(readWeights(m)).map(([k, a], i) => [k, a.shape.length === 1 && a.shape[0] === 1 ? { ...a, data: Float32Array.of(0.1 * i) } : a])))
    const arrays = await runWithEngine(Effect.flatMap(putWeights(readWeights(m)), getWeights), makeEngine())
    const copy = build()
    writeWeights(copy, arrays)
    expect(scalars(copy)).toEqual(scalars(m))
    const x = batch()
    const [a, b] = [m, copy].map((net) => (net.predict(x) as tf.Tensor).arraySync() as number[][])
    expect(b).toEqual(a!)
    const plain = createResNet18({ inputShape: [16, 16, 1], classes: 3, batchNorm: false, stem: "imagenet" })
    expect(() => writeWeights(plain, arrays)).toThrow(/"conv1\/bias": missing/)
    x.dispose()
    for (const net of [plain, m, copy]) net.dispose()
  })

  test("the walks: evidence and monitor go through the scalars; flatten rebuilds them inside a nested model", () => {
    const m = build()
    applyInit(m, fixupInit, { seed: 2 })
    const x = batch()
    const stats = layerStats(m, x)
    expect(stats.map((s) => s.name)).toEqual(learnableLayers(m).map((l) => l.name))
    // A block's conv2 starts at 0, so the block starts as its shortcut: act2 = relu(input) = the input (post-ReLU).
    const conv2 = stats.find((s) => s.name === "layer1.0.conv2")!
    const stem = stats.find((s) => s.name === "conv1")!
    expect(conv2.outputVar).toBe(0)
    expect(conv2.activationMean).toBeGreaterThan(0)
    expect(stem.hasActivation).toBe(true)
    // The monitor samples the conv/dense layers, each at its activation, reached through the scalars.
    const plan = monitorPlan(m)
    expect(plan.layers.map((l) => l.name)).toEqual(learnableLayers(m).map((l) => l.name))
    const site = (name: string) => plan.model.outputs[plan.layers.find((l) => l.name === name)!.output]!.sourceLayer.name
    expect(site("layer1.0.conv1")).toBe("layer1.0.act1")
    expect(site("layer1.0.conv2")).toBe("layer1.0.act2")
    expect(site("conv1")).toBe("act")
    // Nested: the fixup net as a layer of an outer model is read flat, scalars rebuilt from their registered class.
    const input = tf.input({ shape: [16, 16, 1] })
    const outer = tf.model({ inputs: input, outputs: m.apply(input) as tf.SymbolicTensor })
    const flat = flatten(outer)
    expect(flat.model.layers.filter((l) => l instanceof ScalarBias || l instanceof ScalarScale)).toHaveLength(42)
    const [p, q] = [outer, flat.model].map((net) => (net.predict(x) as tf.Tensor).arraySync() as number[][])
    expect(q).toEqual(p!)
    flat.dispose()
    x.dispose()
    m.dispose()
  })
})
