/**
 * What the scaling benchmarks share: the models they name, and a training stepper over real Fashion-MNIST batches
 * taken in order (as bench/train-throughput.ts and the PyTorch peers do).
 *
 *   modelSpec("mlp", { depth: 8, width: 512 })   → ModelSpec of an 8 × 512 MLP on 28×28×1, 10 classes
 *   trainingStepper(model, set, 32)              → { step(): loss, dispose() } — one SGD-momentum step per call
 */
import type * as tf from "@tensorflow/tfjs"
import type { ImageSet } from "../shared/data/types.ts"
import type { ModelSpec } from "../shared/models/spec.ts"
import { batchIndices, trainBatch, trainableVars } from "../shared/train/loop.ts"
import { makeOptimizer } from "../shared/train/optim.ts"

export const modelNames = ["lenet", "resnet18", "resnet18-imagenet", "mlp", "cnn4"] as const
export type ModelName = (typeof modelNames)[number]

/** The architecture behind a bench model name, on 28×28×1 Fashion-MNIST (ReLU, no BN: as the peers build it). */
export const modelSpec = (name: ModelName, mlp: { depth: number; width: number } = { depth: 8, width: 512 }): ModelSpec => {
  const common = { inputShape: [28, 28, 1] as [number, number, number], classes: 10, activation: "relu" as const }
  switch (name) {
    case "lenet":
      return { arch: "lenet5", ...common }
    case "resnet18":
      return { arch: "resnet18", ...common, batchNorm: false, stem: "small" }
    case "resnet18-imagenet":
      return { arch: "resnet18", ...common, batchNorm: false, stem: "imagenet" }
    case "mlp":
      return { arch: "mlp", ...common, depth: mlp.depth, width: mlp.width }
    case "cnn4":
      return { arch: "cnn4", ...common }
  }
}

/**
 * Full training steps (forward, softmax cross-entropy, backward, SGD momentum 0.9 at lr 0.01), cycling through the
 * set's batches in order. `step` returns the batch loss (read back every step, as the peers do).
 */
export const trainingStepper = (model: tf.LayersModel, set: ImageSet, batch: number) => {
  const vars = trainableVars(model)
  const optimizer = makeOptimizer({ kind: "sgd", momentum: 0.9, weightDecay: 0 }, vars)
  const order = Uint32Array.from({ length: set.n }, (_, i) => i)
  const batches = Math.max(1, Math.floor(set.n / batch))
  let b = 0
  return {
    step: (): number => {
      const { loss } = trainBatch(model, vars, optimizer, set, batchIndices(order, b, batch), 0.01)
      b = (b + 1) % batches
      return loss
    },
    dispose: () => optimizer.dispose()
  }
}

/**
 * Runs `warmup` untimed steps, sizes a window of about `seconds` from 3 more, then times `repeats` windows of
 * `steps` steps each (0: that size). Reports each window's images per second and the best: on a machine shared
 * with other jobs the best window is the one least disturbed.
 */
export const timeSteps = (
  step: () => unknown,
  batch: number,
  o: { warmup: number; steps: number; seconds: number; repeats: number }
) => {
  for (let i = 0; i < o.warmup; i++) step()
  let steps = o.steps
  if (steps === 0) {
    const t = performance.now()
    for (let i = 0; i < 3; i++) step()
    steps = Math.max(3, Math.round((o.seconds * 1000 * 3) / (performance.now() - t)))
  }
  const windows: number[] = []
  let seconds = 0
  for (let r = 0; r < o.repeats; r++) {
    const t0 = performance.now()
    for (let i = 0; i < steps; i++) step()
    const s = (performance.now() - t0) / 1000
    seconds += s
    windows.push((steps * batch) / s)
  }
  return { steps, repeats: o.repeats, seconds, windows, imagesPerSecond: Math.max(...windows) }
}
