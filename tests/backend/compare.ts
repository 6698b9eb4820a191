/**
 * Run the same tensor function on `cpu` (the reference) and `wasm` (with our kernels) and compare the results.
 */
import { expect } from "bun:test"
import * as tf from "@tensorflow/tfjs"
import { setWasmPaths } from "@tensorflow/tfjs-backend-wasm"
import { wasmBinaryDir } from "../../shared/backend/select.ts"
import { registerWasmKernels } from "../../shared/backend/wasm-kernels.ts"

/** Registers our kernels and initializes wasm once; returns the backend that was active before, to restore. */
export const useWasm = async (): Promise<string> => {
  // No backend chosen yet means tfjs's default, which in Node is cpu (once wasm is imported it would be wasm).
  const before = tf.getBackend() ?? "cpu"
  registerWasmKernels()
  if (!("wasm" in tf.engine().registry)) setWasmPaths(wasmBinaryDir())
  expect(await tf.setBackend("wasm")).toBe(true)
  return before
}

/** Deterministic values in [-1, 1) (an LCG), so both backends see the same inputs. */
export const values = (n: number, seed: number): Float32Array => {
  const out = new Float32Array(n)
  let s = (seed * 2654435761) >>> 0
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0
    out[i] = s / 2 ** 31 - 1
  }
  return out
}

export const sizeOf = (shape: ReadonlyArray<number>) => shape.reduce((a, b) => a * b, 1)

/** An input spec: its shape, and either a seed for `values` or the data itself. */
export type Input = { readonly shape: ReadonlyArray<number>; readonly seed?: number; readonly data?: Float32Array }

export const input = (shape: ReadonlyArray<number>, seed: number): Input => ({ shape, seed })

const materialize = (i: Input): tf.Tensor => tf.tensor(i.data ?? values(sizeOf(i.shape), i.seed ?? 1), [...i.shape])

/** Runs `f` on `backend` with fresh tensors for `inputs`; returns every output's values. Leaks nothing. */
export const runOn = async (
  backend: string,
  inputs: ReadonlyArray<Input>,
  f: (...xs: Array<tf.Tensor>) => Array<tf.Tensor>
): Promise<Array<{ shape: Array<number>; data: Float32Array }>> => {
  expect(await tf.setBackend(backend)).toBe(true)
  const before = tf.memory().numTensors
  const out = tf.tidy(() => f(...inputs.map(materialize)))
  const result = out.map((t) => ({ shape: t.shape, data: t.dataSync() as Float32Array }))
  tf.dispose(out)
  expect(tf.memory().numTensors).toBe(before)
  return result
}

/** max |a − b| over max |b|: the error relative to the reference tensor's scale. */
export const relativeError = (a: Float32Array, b: Float32Array): number => {
  let diff = 0
  let scale = 0
  for (let i = 0; i < b.length; i++) {
    diff = Math.max(diff, Math.abs(a[i]! - b[i]!))
    scale = Math.max(scale, Math.abs(b[i]!))
  }
  return scale === 0 ? diff : diff / scale
}

export const TOLERANCE = 1e-4

/**
 * `f` gives the same outputs (same shapes, values within TOLERANCE) on wasm as `reference` (by default `f`) on cpu.
 * Returns the worst error.
 */
export const expectSameOnWasm = async (
  inputs: ReadonlyArray<Input>,
  f: (...xs: Array<tf.Tensor>) => Array<tf.Tensor>,
  reference_: (...xs: Array<tf.Tensor>) => Array<tf.Tensor> = f
): Promise<number> => {
  const reference = await runOn("cpu", inputs, reference_)
  const got = await runOn("wasm", inputs, f)
  expect(got.length).toBe(reference.length)
  let worst = 0
  reference.forEach((r, i) => {
    const g = got[i]!
    expect(g.shape).toEqual(r.shape)
    expect(g.data.every(Number.isFinite)).toBe(true)
    const e = relativeError(g.data, r.data)
    worst = Math.max(worst, e)
    expect(e).toBeLessThan(TOLERANCE)
  })
  return worst
}

/**
 * The outputs of `f` and the gradients of Σ(f(xs) · w) with respect to every input, w a fixed random weighting
 * (so every output element gets a different upstream gradient, unlike the all-ones gradient of a plain sum).
 */
export const withGrads = (f: (...xs: Array<tf.Tensor>) => tf.Tensor) => (...xs: Array<tf.Tensor>): Array<tf.Tensor> => {
  const y = f(...xs)
  const w = tf.tensor(values(y.size, 99), y.shape)
  const grads = tf.grads((...args: Array<tf.Tensor>) => tf.sum(tf.mul(f(...args), w)))(xs)
  return [y, ...grads]
}
