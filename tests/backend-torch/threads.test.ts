/**
 * Why the thread count is in the torch backend's cache keys (shared/backend/fingerprint.ts `threadsChangeResults`):
 * ATen splits reductions across threads, so 1 and 2 threads round differently. Measured here on a sum and, in a
 * real run, on LeNet's first-epoch training loss (2.3654433131 with 1 thread, 2.3654433370 with 2; same data and
 * seed). If this test starts failing, results no longer depend on threads: take torch out of threadsChangeResults
 * so caches are shared across thread counts again.
 */
import { describe, expect } from "bun:test"
import * as tf from "@tensorflow/tfjs"
import { tensorEnvironment, threadsChangeResults } from "../../shared/backend/fingerprint.ts"
import { torchNative } from "../../shared/backend/torch/backend.ts"
import { rand, torchTest } from "./compare.ts"

describe("torch: thread count and results", () => {
  torchTest("a reduction gives other bits with 1 and with 2 threads, the same bits again with the same count", async () => {
    await tf.setBackend("torch")
    const native = torchNative()!
    const before = native.threads()
    const x = rand([64, 28, 28, 8], 7)
    const sumWith = (threads: number) => {
      native.setThreads(threads)
      return tf.tidy(() => tf.sum(x).dataSync()[0]!)
    }
    try {
      const one = sumWith(1)
      const two = sumWith(2)
      expect(sumWith(1)).toBe(one)
      expect(sumWith(2)).toBe(two)
      expect(two).not.toBe(one)
      expect(Math.abs(two - one)).toBeLessThan(1e-3 * Math.abs(one))
      expect(threadsChangeResults.has("torch")).toBe(true)
    } finally {
      native.setThreads(before)
      x.dispose()
    }
  })

  torchTest("the tensor environment names the backend build: libtorch, the BLAS, lwi's shim and kernels, threads", async () => {
    await tf.setBackend("torch")
    const env = tensorEnvironment(1)
    expect(env.backend).toBe("torch")
    expect(env.native.some((l) => l.startsWith("libtorch_cpu.so"))).toBe(true)
    expect(env.native.some((l) => /blas/.test(l))).toBe(true)
    expect(env.native).toContain(env.native.find((l) => l.startsWith("libshim.so"))!)
    expect(env.shim).toMatch(/^[0-9a-f]{64}$/)
    expect(env.kernels).toMatch(/^[0-9a-f]{64}$/)
    expect(tensorEnvironment(2)).toEqual({ ...env, threads: 2 })
    await tf.setBackend("cpu")
    const cpu = tensorEnvironment(1)
    expect(cpu.backend).toBe("cpu")
    expect(cpu.kernels).toBeNull()
    expect("threads" in cpu).toBe(false)
    await tf.setBackend("torch")
  })
})
