/**
 * Denormal flushing in the torch backend (shim.cpp `FlushGuard`, `apply_flush_to_pool`): on by default, ops return
 * 0 where a result (or an input) would be a denormal float, on the calling thread and on every thread of ATen's
 * pool; JS's own arithmetic between calls keeps its denormals; off restores IEEE gradual underflow.
 */
import { describe, expect } from "bun:test"
import * as tf from "@tensorflow/tfjs"
import { torchNative } from "../../shared/backend/torch/backend.ts"
import { sgdUpdateKernel } from "../../shared/train/optim.ts"
import { torchTest } from "./compare.ts"

const ftzDaz = 0x8040
const smallestDenormal = 2 ** -149
// Large enough for ATen to split the product across 2 threads (its grain is 32,768 elements).
const n = 1 << 17

const product = () => tf.tidy(() => tf.mul(tf.fill([n], 1e-20), tf.fill([n], 1e-20)).dataSync())

describe("torch: denormal floats", () => {
  torchTest("flushed to zero by default on every pool thread; kept when flushing is off", async () => {
    await tf.setBackend("torch")
    const native = torchNative()!
    const before = native.threads()
    try {
      native.setThreads(2)
      expect(native.setFlushDenormals(true)).toBe(2)
      expect(product().every((v) => v === 0)).toBe(true)
      expect(native.setFlushDenormals(false)).toBe(0)
      const kept = product()
      // 1e-40 is a denormal float32: gradual underflow keeps it (rounded to the denormal grid), on both threads' halves
      expect(kept[0]).toBeGreaterThan(0)
      expect(kept[n - 1]).toBe(kept[0])
      expect(Math.abs(kept[0]! - 1e-40)).toBeLessThan(smallestDenormal)
    } finally {
      native.setFlushDenormals(true)
      native.setThreads(before)
    }
  })

  torchTest("the JS thread keeps denormals between calls", async () => {
    await tf.setBackend("torch")
    const native = torchNative()!
    product()
    expect(native.callerCsr() & ftzDaz).toBe(0)
    const tiny = new Float32Array([smallestDenormal])
    expect(tiny[0]! * 3).toBe(3 * smallestDenormal)
    expect(Number.MIN_VALUE * 2).toBeGreaterThan(Number.MIN_VALUE)
  })

  torchTest("a momentum buffer of denormals with zero gradients goes to 0 (it would stay denormal forever)", async () => {
    await tf.setBackend("torch")
    const native = torchNative()!
    const update = () =>
      tf.tidy(() => {
        const w = tf.ones([1024])
        const g = tf.zeros([1024])
        const v = tf.fill([1024], 4 * smallestDenormal)
        const out = tf.engine().runKernel(sgdUpdateKernel, { w, g, v }, { lr: 0.01, momentum: 0.9 }) as tf.Tensor[]
        return [out[0]!.dataSync(), out[1]!.dataSync()] as const
      })
    try {
      const [w, v] = update()
      expect(v.every((x) => x === 0)).toBe(true)
      expect(w.every((x) => x === 1)).toBe(true)
      native.setFlushDenormals(false)
      // 0.9 · 4 denormals = 3.6, rounded back to 4: without flushing the buffer never decays
      expect(update()[1].every((x) => x === 4 * smallestDenormal)).toBe(true)
    } finally {
      native.setFlushDenormals(true)
    }
  })
})
