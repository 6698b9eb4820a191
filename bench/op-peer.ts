/**
 * Per-op A/B against PyTorch (used by `bench/profile-ops.ts --peer`): each distinct shim call of a training step
 * (op, input shapes, scalar arguments) is captured once with its real inputs — same strides and values lwi's step
 * hands the kernel — then timed in isolation, and bench/peers/op_peer_torch.py times the ATen op a PyTorch training
 * step runs for the same work (NCHW, PyTorch's layout), under the same threads and environment
 * (environment.ts `sameEnvironment`). Both are medians of single-call timings.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { Handle, Native } from "../shared/backend/torch/native.ts"
import { describeRanWith, type RanWith, runSide } from "./environment.ts"

export interface Captured {
  readonly key: string
  readonly op: number
  readonly name: string
  /** Own handles to the inputs (views sharing their storage), kept alive until `release`. */
  readonly inputs: ReadonlyArray<Handle>
  readonly shapes: ReadonlyArray<ReadonlyArray<number>>
  readonly dtypes: ReadonlyArray<string>
  readonly ints: ReadonlyArray<number>
  readonly floats: ReadonlyArray<number>
}

/** Ops that read tensors through `ptrs` (lists, PReLU weights): not replayable from a, b, c alone. */
const usesPtrs = new Set(["add_n", "concat", "stack", "batch_norm"])

/** Captures one call (call it before the call itself runs: the exchange area holds its arguments). */
export const capture = (native: Native, call: Native["call"], key: string, op: number, args: ReadonlyArray<Handle | null>): Captured | null => {
  const name = native.opName(op)
  if (usesPtrs.has(name)) return null
  const ints = [...native.ints.subarray(0, 64)]
  const floats = [...native.floats.subarray(0, 8)]
  const present = args.filter((h): h is Handle => h !== null)
  const shapes = present.map((h) => {
    native.describe(h)
    return native.resultShape()
  })
  const dtypes = present.map((h) => {
    native.describe(h)
    return native.resultDtype()
  })
  // identity hands out a second handle on the same storage: the input outlives tfjs's disposal of it
  const inputs = present.map((h) => call(native.op.identity, h))
  native.ints.set(ints)
  native.floats.set(floats)
  return { key, op, name, inputs, shapes, dtypes, ints, floats }
}

const medianOf = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

/** Median µs of one call, each call timed on its own; at least `minMs` of calls and 10 calls. */
export const timeCaptured = (native: Native, c: Captured, minMs: number): number => {
  const [a = null, b = null, d = null] = c.inputs
  const once = () => {
    native.ints.set(c.ints)
    native.floats.set(c.floats)
    const t = performance.now()
    const h = native.call(c.op, a, b, d)
    const ms = performance.now() - t
    native.free(h)
    return ms
  }
  for (let i = 0; i < 3; i++) once()
  const times: number[] = []
  let total = 0
  while ((total < minMs || times.length < 10) && times.length < 2000) {
    const ms = once()
    times.push(ms)
    total += ms
  }
  return 1000 * medianOf(times)
}

export const release = (native: Native, cs: Iterable<Captured>) => {
  for (const c of cs) c.inputs.forEach((h) => native.free(h))
}

type PeerLine = { times: Record<string, number | null>; ranWith: RanWith }

/** PyTorch's µs per captured call (null where the peer has no counterpart), or an error line. */
export const peerTimes = async (calls: ReadonlyArray<Captured>, threads: number, python: string, minMs: number) => {
  const dir = mkdtempSync(join(tmpdir(), "lwi-op-peer-"))
  try {
    const file = join(dir, "calls.json")
    const plain = calls.map(({ key, name, shapes, dtypes, ints, floats }) => ({ key, op: name, shapes, dtypes, ints, floats }))
    writeFileSync(file, JSON.stringify(plain))
    const r = await runSide<PeerLine>([python, "bench/peers/op_peer_torch.py", "--calls", file, "--threads", String(threads), "--min-ms", String(minMs)], threads)
    if ("error" in r) return { error: r.error }
    return { times: r.times, ranWith: describeRanWith(r.ranWith) }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
