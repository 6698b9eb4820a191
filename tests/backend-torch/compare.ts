/**
 * Shared by the torch-backend suites: load the backend once, run the same tfjs code on `cpu` and on `torch`, and
 * compare every output (shape, dtype, values to 1e-4 relative).
 */
import { expect } from "bun:test"
import * as tf from "@tensorflow/tfjs"
import { torchNative } from "../../shared/backend/torch/backend.ts"
import { requiring } from "../requirements.ts"

/**
 * `test` for the torch backend, which CI requires: it loads the backend (threads 2) once; where the shim cannot be
 * built or loaded, each test fails saying why and how to install it (skipped only under LWI_ALLOW_MISSING=torch).
 */
export const torchTest = await requiring("torch")

export const liveNative = () => torchNative()?.live() ?? 0

/** Deterministic values in [lo, hi) (an LCG), so both backends get identical inputs without sharing tensors. */
export const values = (n: number, seed = 1, lo = -1, hi = 1): Float32Array => {
  let s = (seed * 2654435761) >>> 0
  const out = new Float32Array(n)
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0
    out[i] = lo + ((s >>> 8) / 16777216) * (hi - lo)
  }
  return out
}

/** A float tensor of `shape` with `values(…, seed)`. */
export const rand = (shape: number[], seed = 1, lo = -1, hi = 1) =>
  tf.tensor(values(shape.reduce((a, b) => a * b, 1), seed, lo, hi), shape)

interface Out {
  shape: number[]
  dtype: string
  data: number[]
}

const collect = (r: tf.Tensor | tf.Tensor[] | tf.NamedTensorMap): Out[] => {
  const list = r instanceof tf.Tensor ? [r] : Array.isArray(r) ? r : Object.values(r)
  return list.map((t) => ({ shape: t.shape, dtype: t.dtype, data: Array.from(t.dataSync()) }))
}

/** Runs `fn` under `backend` in a tidy scope and returns its outputs as plain arrays. */
export const runOn = (backend: "cpu" | "torch", fn: () => tf.Tensor | tf.Tensor[] | tf.NamedTensorMap): Out[] => {
  tf.setBackend(backend)
  if (tf.getBackend() !== backend) throw new Error(`could not switch to ${backend}`)
  // tidy disposes every tensor fn made; what it returns here are plain arrays
  return tf.tidy(() => collect(fn()) as unknown as tf.TensorContainer) as unknown as Out[]
}

const close = (a: number, b: number, scale: number, rtol: number) => {
  if (Number.isNaN(a) || Number.isNaN(b)) return Number.isNaN(a) && Number.isNaN(b)
  if (!Number.isFinite(a) || !Number.isFinite(b)) return a === b
  // Relative to the value, or to the tensor's typical size for entries that cancel down to near zero.
  return Math.abs(a - b) <= rtol * Math.max(Math.abs(b), scale, 1e-6)
}

/**
 * Runs `fn` on cpu and on torch and expects the same outputs: shapes and dtypes exactly, values to `rtol`
 * relative (per element, floored at 1e-3 of the largest value, for entries that cancel to near zero).
 */
export const expectSame = (fn: () => tf.Tensor | tf.Tensor[] | tf.NamedTensorMap, rtol = 1e-4) => {
  const want = runOn("cpu", fn)
  const got = runOn("torch", fn)
  expect(got.length).toBe(want.length)
  want.forEach((w, i) => {
    const g = got[i]!
    expect({ output: i, shape: g.shape, dtype: g.dtype }).toEqual({ output: i, shape: w.shape, dtype: w.dtype })
    const scale = 1e-3 * w.data.reduce((m, v) => (Number.isFinite(v) ? Math.max(m, Math.abs(v)) : m), 0)
    const bad = w.data.findIndex((v, j) => !close(g.data[j]!, v, scale, rtol))
    if (bad >= 0) {
      throw new Error(`output ${i} differs at [${bad}]: torch ${g.data[bad]}, cpu ${w.data[bad]} (shape ${w.shape})`)
    }
  })
}

/**
 * Gradients of Σ f(xs)·r (r fixed pseudo-random weights, so every output element matters differently) with respect
 * to every input, plus f's value: the forward and backward kernels of f in one comparison.
 */
export const valueAndGrads = (f: (...xs: tf.Tensor[]) => tf.Tensor, xs: () => tf.Tensor[]) => () => {
  const inputs = xs()
  const y = f(...inputs)
  const r = tf.tensor(values(y.size, 99), y.shape)
  const g = tf.grads((...a: tf.Tensor[]) => tf.sum(tf.mul(f(...a), r)))(inputs)
  return [y, ...g]
}
