/**
 * The one-pass SGD update (`sgdUpdateKernel`, registered by the torch backend) against shared/train/optim.ts's
 * generic tfjs-ops path: bit for bit from identical inputs, and over whole runs against the cpu backend (to rounding:
 * the backends' conv gradients differ in the last bits), with and without momentum and weight decay, on filters
 * stored OHWI (used by a conv before the first update), dense weights and biases.
 */
import { describe, expect } from "bun:test"
import * as tf from "@tensorflow/tfjs"
import { makeOptimizer, sgdUpdateKernel, type OptimizerConfig } from "../../shared/train/optim.ts"
import { liveNative, rand, torchTest } from "./compare.ts"

/** Weights of a conv → dense net, a loss over them, and `steps` optimizer steps; returns every weight and state value. */
const train = (backend: "cpu" | "torch", config: OptimizerConfig, steps: number) => {
  tf.setBackend(backend)
  const vars = [
    tf.variable(rand([3, 3, 4, 6], 1, -0.5, 0.5), true, `f_${backend}`),
    tf.variable(rand([6], 2, -0.1, 0.1), true, `b_${backend}`),
    tf.variable(rand([6 * 3 * 3, 5], 3, -0.3, 0.3), true, `w_${backend}`),
    tf.variable(rand([1, 1, 6, 6], 4, -0.5, 0.5), true, `p_${backend}`)
  ]
  const [f, b, w, p] = vars as [tf.Variable, tf.Variable, tf.Variable, tf.Variable]
  const x = rand([2, 6, 6, 4], 5)
  const loss = () => {
    const h = tf.relu(tf.add(tf.conv2d(x as tf.Tensor4D, f as tf.Tensor4D, 2, "same"), b))
    const h2 = tf.conv2d(h as tf.Tensor4D, p as tf.Tensor4D, 1, "same")
    return tf.sum(tf.square(tf.matMul(tf.reshape(h2, [2, -1]), w))) as tf.Scalar
  }
  const opt = makeOptimizer(config, vars)
  for (let s = 0; s < steps; s++) {
    tf.tidy(() => {
      const { grads } = tf.variableGrads(loss, vars)
      opt.step(vars.map((v) => grads[v.name]!), 0.01 * (s + 1))
    })
  }
  const out = [...vars.map((v) => Array.from(v.dataSync())), ...Object.values(opt.state()).map((t) => Array.from(t.dataSync()))]
  opt.dispose()
  for (const v of vars) v.dispose()
  x.dispose()
  return out
}

const configs: Array<[string, OptimizerConfig]> = [
  ["SGD momentum 0.9", { kind: "sgd", momentum: 0.9, weightDecay: 0 }],
  ["plain SGD", { kind: "sgd", momentum: 0, weightDecay: 0 }],
  ["SGD momentum 0.7, weight decay 5e-4", { kind: "sgd", momentum: 0.7, weightDecay: 5e-4 }]
]

describe("one-pass SGD update", () => {
  torchTest("is registered for torch and not for cpu", () => {
    expect(tf.getKernel(sgdUpdateKernel, "torch")).toBeDefined()
    expect(tf.getKernel(sgdUpdateKernel, "cpu")).toBeUndefined()
  })
  for (const [name, config] of configs) {
    torchTest(`${name}: torch (one-pass kernel) matches cpu (tfjs ops) over 3 steps`, () => {
      const cpu = train("cpu", config, 3)
      const torch = train("torch", config, 3)
      expect(torch.length).toBe(cpu.length)
      // gradients differ in the last bits between backends (conv summation order), so whole runs agree to rounding
      cpu.forEach((want, i) => {
        const got = torch[i]!
        const bad = want.findIndex((v, j) => Math.abs(got[j]! - v) > 1e-5 * Math.max(1, Math.abs(v)))
        if (bad >= 0) throw new Error(`value ${i}[${bad}]: torch ${got[bad]}, cpu ${want[bad]}`)
      })
    })
  }
  torchTest("from identical weights, gradients and velocities the kernel's outputs equal the tfjs ops' bit for bit", () => {
    tf.setBackend("torch")
    for (const shape of [[3, 3, 4, 6], [7], [5, 9], [1, 1, 6, 6]]) {
      for (const mu of [0.9, 0]) {
        tf.tidy(() => {
          const w = rand(shape, 1)
          const g = rand(shape, 2, -3, 3)
          const v = rand(shape, 3, -2, 2)
          // a filter used by a conv is stored OHWI: exercise mixed layouts too
          if (shape.length === 4) tf.conv2d(rand([1, 4, 4, shape[2]!], 4) as tf.Tensor4D, w as tf.Tensor4D, 1, "same")
          const lr = 0.0123
          const inputs: tf.NamedTensorMap = mu > 0 ? { w, g, v } : { w, g }
          const out = tf.engine().runKernel(sgdUpdateKernel, inputs, { lr, momentum: mu }) as tf.Tensor[]
          const vNew = mu > 0 ? v.mul(mu).add(g) : g
          const wNew = w.sub(vNew.mul(lr))
          tf.setBackend("cpu")
          const cw = tf.tensor(w.dataSync(), shape)
          const cg = tf.tensor(g.dataSync(), shape)
          const cv = tf.tensor(v.dataSync(), shape)
          const cvNew = mu > 0 ? cv.mul(mu).add(cg) : cg
          const cwNew = cw.sub(cvNew.mul(lr))
          const want = [cwNew.dataSync(), cvNew.dataSync()]
          tf.setBackend("torch")
          expect(out.length).toBe(mu > 0 ? 2 : 1)
          expect(out[0]!.shape).toEqual(shape)
          expect(Array.from(out[0]!.dataSync())).toEqual(Array.from(want[0]!))
          expect(Array.from(out[0]!.dataSync())).toEqual(Array.from(wNew.dataSync()))
          if (mu > 0) {
            expect(Array.from(out[1]!.dataSync())).toEqual(Array.from(want[1]!))
            expect(Array.from(out[1]!.dataSync())).toEqual(Array.from(vNew.dataSync()))
          }
        })
      }
    }
  })
  torchTest("steps leak no tfjs tensors and no native tensors", () => {
    tf.setBackend("torch")
    const vars = [tf.variable(rand([3, 3, 2, 4], 1)), tf.variable(rand([4], 2))]
    const opt = makeOptimizer({ kind: "sgd", momentum: 0.9, weightDecay: 0 }, vars)
    const step = () => tf.tidy(() => opt.step(vars.map((v, i) => rand(v.shape, 10 + i)), 0.1))
    step()
    const tensors = tf.memory().numTensors
    const native = liveNative()
    for (let i = 0; i < 4; i++) step()
    expect(tf.memory().numTensors).toBe(tensors)
    expect(liveNative()).toBe(native)
    opt.dispose()
    for (const v of vars) v.dispose()
  })
})
