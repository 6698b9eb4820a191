/**
 * LW learns every linear layer kind tfjs has, in each data format tfjs runs, to its targets ON HELD-OUT DATA: a
 * small model (the layer → ReLU → flatten → classifier), learned with the default config on one batch of
 * generated smooth data, then measured by `layerStats` (the model's own forward pass) on a second batch from the
 * same distribution. On the torch backend, and on cpu.
 *
 * Tolerances: |output mean| < 0.1 and |activation variance − 1| < 0.15 on the held-out batch (64 samples, as the batch learned on). The
 * threshold LW stops at on its own batch is |·| < 0.032; the rest is the batch-to-batch spread of the statistics.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import * as tf from "@tensorflow/tfjs"
import { defaultLwConfig } from "../../shared/lw/config.ts"
import { layerStats, learnModelInit } from "../../shared/lw/greedy.ts"
import { layerProblem } from "../../shared/lw/layer-problem.ts"
import { getLayerWeights, learnableLayers } from "../../shared/models/index.ts"
import { requiring } from "../requirements.ts"
import { blobBatch } from "./fixtures.ts"

const withTorch = await requiring("torch")

beforeAll(async () => {
  await tf.setBackend("cpu")
})
afterAll(async () => {
  await tf.setBackend("cpu")
})

const N = 64
type Data = (seed: number) => tf.Tensor

/** Images [N, size, size, 3] (or channels-first [N, 3, size, size]). */
const images =
  (first = false, size = 10): Data =>
  (seed) =>
    tf.tidy(() => {
      const x = blobBatch(N, size, size, 3, seed)
      return first ? tf.transpose(x, [0, 3, 1, 2]) : x
    })
/** Sequences [N, 24, 3] (channels-first: [N, 3, 24]): one row of a blob image each. */
const sequences =
  (first = false): Data =>
  (seed) =>
    tf.tidy(() => {
      const x = tf.reshape(blobBatch(N, 1, 24, 3, seed), [N, 24, 3])
      return first ? tf.transpose(x, [0, 2, 1]) : x
    })
/** Volumes [N, 4, 6, 6, 2] (channels-first [N, 2, 4, 6, 6]): a blob image cut into 4 slices. */
const volumes =
  (first = false): Data =>
  (seed) =>
    tf.tidy(() => {
      const x = tf.reshape(blobBatch(N, 24, 6, 2, seed), [N, 4, 6, 6, 2])
      return first ? tf.transpose(x, [0, 4, 1, 2, 3]) : x
    })

/** input → `layer` (named "k") → ReLU "act" → flatten → Dense "head". */
const model = (inputShape: number[], layer: tf.layers.Layer): tf.LayersModel => {
  const input = tf.input({ shape: inputShape })
  const k = layer.apply(input) as tf.SymbolicTensor
  const act = tf.layers.reLU({ name: "act" }).apply(k) as tf.SymbolicTensor
  const flat = tf.layers.flatten({ name: "flat" }).apply(act) as tf.SymbolicTensor
  return tf.model({ inputs: input, outputs: tf.layers.dense({ units: 3, name: "head" }).apply(flat) as tf.SymbolicTensor })
}

interface Case {
  readonly label: string
  readonly make: () => tf.LayersModel
  readonly data: Data
  /** Runs on torch too (Conv3D/Conv3DTranspose: tfjs kernels the torch backend does not register). */
  readonly torch: boolean
}

const k = { name: "k" }
const cases: Case[] = [
  { label: "Dense on rank-3 input", make: () => model([24, 3], tf.layers.dense({ ...k, units: 8 })), data: sequences(), torch: true },
  {
    label: "Conv1D channelsLast, stride 2, same",
    make: () => model([24, 3], tf.layers.conv1d({ ...k, filters: 6, kernelSize: 3, strides: 2, padding: "same" })),
    data: sequences(),
    torch: true
  },
  {
    label: "Conv1D channelsLast, dilation 2, valid",
    make: () => model([24, 3], tf.layers.conv1d({ ...k, filters: 6, kernelSize: 3, dilationRate: 2 })),
    data: sequences(),
    torch: true
  },
  {
    label: "Conv1D channelsFirst",
    make: () => model([3, 24], tf.layers.conv1d({ ...k, filters: 6, kernelSize: 3, dataFormat: "channelsFirst" })),
    data: sequences(true),
    torch: true
  },
  {
    label: "Conv2D channelsFirst, stride 2, same",
    make: () => model([3, 10, 10], tf.layers.conv2d({ ...k, filters: 6, kernelSize: 3, strides: 2, padding: "same", dataFormat: "channelsFirst" })),
    data: images(true),
    torch: true
  },
  {
    label: "Conv3D channelsLast, stride 2, same",
    make: () => model([4, 6, 6, 2], tf.layers.conv3d({ ...k, filters: 6, kernelSize: 3, strides: 2, padding: "same" })),
    data: volumes(),
    torch: false
  },
  {
    label: "Conv3D channelsFirst, valid",
    make: () => model([2, 4, 6, 6], tf.layers.conv3d({ ...k, filters: 6, kernelSize: [2, 3, 3], dataFormat: "channelsFirst" })),
    data: volumes(true),
    torch: false
  },
  {
    label: "DepthwiseConv2D channelsLast, multiplier 2, stride 2, same",
    make: () => model([10, 10, 3], tf.layers.depthwiseConv2d({ ...k, kernelSize: 3, depthMultiplier: 2, strides: 2, padding: "same" })),
    data: images(),
    torch: true
  },
  {
    label: "DepthwiseConv2D channelsFirst, valid",
    make: () => model([3, 10, 10], tf.layers.depthwiseConv2d({ ...k, kernelSize: 3, dataFormat: "channelsFirst" })),
    data: images(true),
    torch: true
  },
  {
    label: "SeparableConv2D channelsLast, multiplier 2, dilation 2, same",
    make: () =>
      model([10, 10, 3], tf.layers.separableConv2d({ ...k, filters: 6, kernelSize: 3, depthMultiplier: 2, dilationRate: 2, padding: "same" })),
    data: images(),
    torch: true
  },
  {
    label: "Conv2DTranspose channelsLast, stride 2, valid",
    make: () => model([6, 6, 3], tf.layers.conv2dTranspose({ ...k, filters: 4, kernelSize: 3, strides: 2 })),
    data: images(false, 6),
    torch: true
  },
  {
    label: "Conv2DTranspose channelsFirst, stride 2, same",
    make: () =>
      model([3, 6, 6], tf.layers.conv2dTranspose({ ...k, filters: 4, kernelSize: 4, strides: 2, padding: "same", dataFormat: "channelsFirst" })),
    data: images(true, 6),
    torch: true
  },
  {
    label: "Conv3DTranspose channelsLast, strides [1, 2, 2], same",
    make: () => model([4, 6, 6, 2], tf.layers.conv3dTranspose({ ...k, filters: 3, kernelSize: 2, strides: [1, 2, 2], padding: "same" })),
    data: volumes(),
    torch: false
  }
]

/** Learn `k` with the default config, then check it on a held-out batch (see the module comment). */
const learnsToTargets = ({ make, data }: Case) => {
  const m = make()
  const [batch, heldOut] = [data(1), data(2)]
  const before = getLayerWeights(m, "k")
  const tensors = tf.memory().numTensors
  const log: string[] = []
  const result = learnModelInit(m, batch, defaultLwConfig, { seed: 3, log: (line) => log.push(line) })
  expect(result.layers.map((l) => l.name)).toEqual(["k"])
  expect(result.layers[0]!.reached).toBe(true)
  expect(result.unreached).toEqual([])
  expect(result.skipped.map((s) => s.layer)).toEqual(["head"])
  expect(log.some((l) => l.startsWith(`LW "k": learned in`))).toBe(true)
  // Every kernel (SeparableConv2D: both) moved away from its draw; the model holds what learning reported.
  const after = getLayerWeights(m, "k")
  expect(after.map((w) => w.name)).toEqual(before.map((w) => w.name))
  for (const [i, w] of after.entries()) if (!w.name.endsWith("/bias")) expect(Array.from(w.data)).not.toEqual(Array.from(before[i]!.data))
  expect(result.weights.map((w) => w.name)).toEqual(after.map((w) => w.name))
  const held = layerStats(m, heldOut).find((s) => s.name === "k")!
  expect(tf.memory().numTensors).toBe(tensors)
  console.log(
    `  ${tf.getBackend().padEnd(5)} ${result.layers[0]!.result.epochs.toString().padStart(3)} epochs | held-out output mean ${held.outputMean.toFixed(4)}, activation variance ${held.activationVar.toFixed(4)}`
  )
  expect(held.hasActivation).toBe(true)
  expect(Math.abs(held.outputMean)).toBeLessThan(0.1)
  expect(Math.abs(held.activationVar - 1)).toBeLessThan(0.15)
  m.dispose()
  tf.dispose([batch, heldOut])
}

describe("each linear layer kind: the recomputation is the model's own, and learnableLayers sees it", () => {
  for (const c of cases) {
    test(c.label, () => {
      const m = c.make()
      const x = c.data(5)
      // layerProblem throws if its maths differs from the model's forward output (relative 1e-4).
      const p = layerProblem(m, "k", x, "zero")
      expect(p.hasActivation).toBe(true)
      p.dispose()
      const info = learnableLayers(m).find((l) => l.name === "k")!
      expect(info.kind).toBe(c.label.startsWith("Dense") ? "dense" : "conv")
      expect(info.units).toBe(getLayerWeights(m, "k").find((w) => w.name === "k/bias")!.shape[0]!)
      m.dispose()
      x.dispose()
    })
  }
})

describe("each linear layer kind is learned to its targets on held-out data (cpu)", () => {
  for (const c of cases) test(c.label, () => learnsToTargets(c), 120_000)
})

describe("each linear layer kind is learned to its targets on held-out data (torch)", () => {
  for (const c of cases.filter((c) => c.torch)) {
    withTorch(
      c.label,
      async () => {
        await tf.setBackend("torch")
        try {
          learnsToTargets(c)
        } finally {
          await tf.setBackend("cpu")
        }
      },
      120_000
    )
  }
})
