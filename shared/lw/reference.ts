/**
 * LW — learned weight initialization — for a SEQUENTIAL stack of Dense/Conv2D layers, top to bottom in one file.
 * The method as the thesis states it; the general implementation (greedy.ts, learn-layer.ts, layer-problem.ts:
 * functional graphs, BN, residual adds, im2col, batch splitting, resuming) is tested against this one
 * (tests/lw/reference.test.ts).
 *
 * For each Dense/Conv2D layer but the last (the classifier keeps its draw), in order:
 *   1. x   = the batch run through the layers below it, which already hold their learned weights
 *   2. W ~ config.init (fan-in scaled by default), b = 0
 *   3. repeat, one step per epoch on the whole batch:
 *        out  = x·W + b  (Dense)   or   conv2d(x, W) + b  (Conv2D, the layer's strides/padding/dilation)
 *        act  = the activation after it: its own (`activation: "relu"`), else the next layer's if that is an
 *               activation layer, else none (act = out)
 *        loss = α·(mean(out) − meanTarget)² + (var(act) − varianceTarget)²     one scalar over all elements
 *      stop when both terms are below `threshold`, or each has moved less than `tolerance` over `window`
 *      epochs, or after `maxEpochs`; otherwise take an SGD-with-momentum (or Adam) step on W and b
 *   4. write W and b into the layer
 *
 * Deliberately plain: no im2col, no caching of the input across layers, no tidy-free tricks. Not supported here
 * (the general one does them): other loss sites or per-channel statistics (presets lae1–lae4, scope "channel"),
 * mini-batch splitting, non-sequential graphs.
 */
import * as tf from "@tensorflow/tfjs"
import { isActivation } from "../models/graph.ts"
import { initialize } from "../init/initializers.ts"
import { deriveSeed } from "../init/random.ts"
import type { LwConfig } from "./config.ts"

/** The part of LwConfig the method reads (any LwConfig fits; its sites must be the method's: see `check`). */
export type ReferenceConfig = Pick<
  LwConfig,
  | "meanAt" | "varianceAt" | "meanTarget" | "varianceTarget" | "alpha" | "alphaScales" | "scope" | "unbiasedVariance"
  | "init" | "optimizer" | "lr" | "momentum" | "decayFactor" | "decayEvery" | "maxEpochs" | "batchSize" | "convergence"
>

export interface ReferenceLayer {
  readonly name: string
  readonly epochs: number
  readonly stop: "threshold" | "plateau" | "maxEpochs" | "diverged"
  /** [meanLoss, varLoss] at the weights each epoch started from. */
  readonly curve: ReadonlyArray<readonly [number, number]>
  /** Statistics at the returned weights. */
  readonly outputMean: number
  readonly outputVar: number
  readonly activationMean: number
  readonly activationVar: number
  readonly kernel: Float32Array
  readonly bias: Float32Array | undefined
}

/** The config's variance target; throws unless the config is the method's (sites, scope, one step per epoch). */
const check = (c: ReferenceConfig): number => {
  const method = c.meanAt === "output" && c.varianceAt === "activation" && c.scope === "tensor" && c.batchSize === "all"
  if (!method) throw new Error("the reference runs the method only: meanAt output, varianceAt activation, scope tensor, batchSize all")
  const target: unknown = c.varianceTarget
  if (typeof target !== "number") throw new Error(`the reference takes a numeric varianceTarget (the thesis: 1), not ${JSON.stringify(target)}`)
  return target
}

const mean = (t: tf.Tensor) => tf.mean(t)
const variance = (t: tf.Tensor, unbiased: boolean) =>
  tf.div(tf.sum(tf.square(tf.sub(t, tf.mean(t)))), unbiased ? t.size - 1 : t.size)

/** LW on every Dense/Conv2D layer of `model` but the last, in place. `batch`: the model's input, batch on axis 0. */
export const referenceLw = (model: tf.LayersModel, batch: tf.Tensor, config: ReferenceConfig, seed: number): ReferenceLayer[] => {
  const varianceTarget = check(config)
  const layers = model.layers.filter((l) => l.getClassName() !== "InputLayer")
  const linear = layers.filter((l) => l.getClassName() === "Dense" || l.getClassName() === "Conv2D")
  const report: ReferenceLayer[] = []
  for (const layer of linear.slice(0, -1)) {
    const i = layers.indexOf(layer)
    const layerConfig = layer.getConfig()
    // 1. The layer's input: the batch through the (learned) layers below. Inference mode: Dropout is off.
    //    (A copy even when nothing is below: x is disposed after the layer, the batch belongs to the caller.)
    const x = tf.tidy(() => layers.slice(0, i).reduce((t, l) => l.apply(t, { training: false }) as tf.Tensor, batch).clone())
    // The layer's linear map, and the activation that follows it.
    const linearMap = (w: tf.Tensor, b: tf.Tensor | undefined): tf.Tensor => {
      const y =
        layer.getClassName() === "Dense"
          ? tf.matMul(x as tf.Tensor2D, w as tf.Tensor2D)
          : tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, layerConfig.strides as [number, number],
              layerConfig.padding as "same" | "valid", "NHWC", layerConfig.dilationRate as [number, number])
      return b === undefined ? y : tf.add(y, b)
    }
    const fused = layerConfig.activation
    const next = layers[i + 1]
    const activate = (out: tf.Tensor): tf.Tensor =>
      typeof fused === "string" && fused !== "linear"
        ? (tf.layers.activation({ activation: fused as "relu" }).apply(out) as tf.Tensor)
        : next !== undefined && isActivation(next) ? (next.apply(out) as tf.Tensor) : out
    const losses = (w: tf.Tensor, b: tf.Tensor | undefined) => {
      const out = linearMap(w, b)
      const meanLoss = tf.square(tf.sub(mean(out), config.meanTarget))
      const varLoss = tf.square(tf.sub(variance(activate(out), config.unbiasedVariance), varianceTarget))
      const loss = config.alphaScales === "mean" ? tf.add(tf.mul(config.alpha, meanLoss), varLoss) : tf.add(meanLoss, tf.mul(config.alpha, varLoss))
      return { meanLoss, varLoss, loss: loss as tf.Scalar }
    }

    // 2. The start: a fresh draw seeded by the layer's name, bias 0.
    const [kernelVar, biasVar] = layer.getWeights()
    const shape = kernelVar!.shape
    const params = [tf.tensor(initialize(config.init, shape, deriveSeed(seed, layer.name)), shape)]
    if (biasVar !== undefined) params.push(tf.zerosLike(biasVar))
    // Optimizer state: SGD's velocity v, or Adam's moments m and s.
    let v = params.map((p) => tf.zerosLike(p))
    let s = params.map((p) => tf.zerosLike(p))

    // 3. One step per epoch until the losses stop.
    const { window, tolerance, threshold } = config.convergence
    const curve: Array<[number, number]> = []
    let stop: ReferenceLayer["stop"] = "maxEpochs"
    for (let epoch = 0; epoch < config.maxEpochs; epoch++) {
      const { value, grads } = tf.tidy(() => {
        const f = (...ps: tf.Tensor[]) => losses(ps[0]!, ps[1]).loss
        const grads = tf.grads(f)(params)
        const l = losses(params[0]!, params[1])
        return { value: tf.stack([l.meanLoss, l.varLoss]), grads }
      })
      const [m, va] = value.dataSync()
      value.dispose()
      curve.push([m!, va!])
      const moved = (term: 0 | 1) => curve[epoch]![term] < threshold ||
        (epoch >= window && Math.abs(curve[epoch]![term] - curve[epoch - window]![term]) < tolerance)
      if (!Number.isFinite(m!) || !Number.isFinite(va!)) stop = "diverged"
      else if (m! < threshold && va! < threshold) stop = "threshold"
      else if (moved(0) && moved(1)) stop = "plateau"
      if (stop !== "maxEpochs") {
        tf.dispose(grads)
        break
      }
      const lr = config.lr * config.decayFactor ** Math.floor(epoch / config.decayEvery)
      const t = epoch + 1
      const updated = tf.tidy(() =>
        params.map((p, k) => {
          const g = grads[k]!
          if (config.optimizer === "sgd") {
            // PyTorch's SGD: v ← μ·v + g;  p ← p − lr·v
            const vk = tf.add(tf.mul(v[k]!, config.momentum), g)
            return { p: tf.sub(p, tf.mul(vk, lr)), v: vk, s: s[k]!.clone() }
          }
          // Adam (Kingma & Ba): m ← β1·m + (1−β1)·g;  s ← β2·s + (1−β2)·g²;  p ← p − lr·m̂ / (√ŝ + ε)
          const mk = tf.add(tf.mul(v[k]!, 0.9), tf.mul(g, 0.1))
          const sk = tf.add(tf.mul(s[k]!, 0.999), tf.mul(tf.square(g), 0.001))
          const step = tf.div(tf.div(mk, 1 - 0.9 ** t), tf.add(tf.sqrt(tf.div(sk, 1 - 0.999 ** t)), 1e-8))
          return { p: tf.sub(p, tf.mul(step, lr)), v: mk, s: sk }
        })
      )
      tf.dispose([...params, ...v, ...s, ...grads])
      params.splice(0, params.length, ...updated.map((u) => u.p))
      v = updated.map((u) => u.v)
      s = updated.map((u) => u.s)
    }

    // The statistics at the weights we end with; 4. they go into the layer (a diverged layer's do not).
    const stats = tf.tidy(() => {
      const out = linearMap(params[0]!, params[1])
      const act = activate(out)
      return tf.stack([mean(out), variance(out, config.unbiasedVariance), mean(act), variance(act, config.unbiasedVariance)])
    })
    const [outputMean, outputVar, activationMean, activationVar] = stats.dataSync()
    if (stop !== "diverged") layer.setWeights(params)
    report.push({
      name: layer.name,
      epochs: curve.length,
      stop,
      curve,
      outputMean: outputMean!,
      outputVar: outputVar!,
      activationMean: activationMean!,
      activationVar: activationVar!,
      kernel: Float32Array.from(params[0]!.dataSync()),
      bias: params[1] === undefined ? undefined : Float32Array.from(params[1].dataSync())
    })
    tf.dispose([x, stats, ...params, ...v, ...s])
    if (stop === "diverged") break
  }
  return report
}
