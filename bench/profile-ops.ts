/**
 * Per-op profile of lwi training steps on the `torch` backend: every shim call is timed (its op name and input
 * shapes form the key), and the step is split into forward+backward (tf.variableGrads) and optimizer update, so the
 * rest — tfjs's engine (tape, tidy, layers API) — is what is left over. Same models, data and optimizer as
 * bench/train-throughput.ts.
 *
 *   bun run bench/profile-ops.ts --model resnet18-imagenet [--threads 1] [--steps 10] [--top 30] [--conv auto|gemm|aten]
 *                                [--conv-ab]
 *                                [--peer [--python /usr/bin/python3] [--min-ms 30]]
 *
 * --peer captures each distinct call once with its inputs, times it again in isolation and has PyTorch time its own
 * kernel for the same work (bench/op-peer.ts, bench/peers/op_peer_torch.py), printed side by side.
 *
 * --conv-ab re-runs every convolution call twice with each of the tap-GEMM path, ATen's (oneDNN's) and Winograd
 * F(2×2, 3×3), interleaved on the same inputs, and prints the times per shape: a comparison that the machine's load
 * moves far less than separate runs. "Winograd" forces it where it applies (3×3, stride 1) and is the shape rule
 * elsewhere.
 */
import * as tf from "@tensorflow/tfjs"
import { selectBackend } from "../shared/backend/select.ts"
import { torchNative } from "../shared/backend/torch/backend.ts"
import type { Handle, Native } from "../shared/backend/torch/native.ts"
import { helpText, parseFlagsOrExit } from "../shared/engine/flags.ts"
import { markdownTable } from "../shared/engine/report.ts"
import { buildModel } from "../shared/models/spec.ts"
import { batchIndices, gatherBatch, trainableVars } from "../shared/train/loop.ts"
import { makeOptimizer } from "../shared/train/optim.ts"
import { fmnistTrain } from "./fmnist-batches.ts"
import { capture, type Captured, peerTimes, release, timeCaptured } from "./op-peer.ts"
import { specs } from "./train-throughput.ts"

const flags = {
  model: { kind: "enum", values: ["lenet", "resnet18", "resnet18-imagenet"], default: "resnet18-imagenet", doc: "architecture" },
  batch: { kind: "int", default: 32, check: "number.integer >= 1", doc: "batch size" },
  steps: { kind: "int", default: 10, check: "number.integer >= 1", doc: "profiled steps" },
  warmup: { kind: "int", default: 3, check: "number.integer >= 0", doc: "unprofiled steps first" },
  threads: { kind: "int", default: 1, check: "number.integer >= 1", doc: "intra-op threads" },
  conv: { kind: "enum", values: ["auto", "direct", "gemm", "aten", "winograd"], default: "auto", doc: "torch convolution algorithm (shim-conv.h)" },
  "conv-ab": { kind: "boolean", default: false, doc: "also time every conv call with each algorithm, back to back" },
  peer: { kind: "boolean", default: false, doc: "time each distinct call in isolation beside PyTorch's kernel for it" },
  python: { kind: "string", default: "/usr/bin/python3", doc: "python with torch (for --peer)" },
  "min-ms": { kind: "int", default: 30, check: "number.integer >= 1", doc: "--peer: time each op for at least this long" },
  top: { kind: "int", default: 30, check: "number.integer >= 1", doc: "rows of the per-op table" },
  help: { kind: "boolean", default: false, doc: "show this help" }
} as const

interface Row {
  calls: number
  ms: number
}

const main = async () => {
  const f = parseFlagsOrExit(flags)
  if (f.help) return console.log(helpText("bun run bench/profile-ops.ts", "per-op profile on the torch backend", flags))
  tf.env().set("PROD", true)
  await selectBackend({ prefer: "torch", threads: f.threads, log: (l) => console.error(l) })
  const native = torchNative()!
  native.setConvAlgorithm(f.conv)
  const { set } = await fmnistTrain(f.batch * (f.warmup + f.steps + 1))
  const model = buildModel(specs[f.model]!)
  const vars = trainableVars(model)
  const optimizer = makeOptimizer({ kind: "sgd", momentum: 0.9, weightDecay: 0 }, vars)
  const order = Uint32Array.from({ length: set.n }, (_, i) => i)

  const rows = new Map<string, Row>()
  const ab = new Map<string, { calls: number; gemm: number; aten: number; winograd: number }>()
  const captured = new Map<string, Captured>()
  let profiling = false
  let nativeMs = 0
  const shapeOf = (h: Handle | null | undefined) => {
    if (!h) return "-"
    native.describe(h)
    return native.resultShape().join("×")
  }
  const call = native.call
  ;(native as { call: typeof call }).call = (op, a = null, b = null, c = null) => {
    if (!profiling) return call(op, a, b, c)
    const name = native.opName(op)
    const conv = name.startsWith("conv2d") ? ` s${native.ints[0]} p${native.ints[2]}` : ""
    const key = `${name}(${[a, b, c].filter((h) => h).map(shapeOf).join(", ")})${conv}`
    if (f["conv-ab"] && name.startsWith("conv2d")) {
      const r = ab.get(key) ?? { calls: 0, gemm: 0, aten: 0, winograd: 0 }
      for (const algorithm of ["gemm", "aten", "winograd", "gemm", "aten", "winograd"] as const) {
        native.setConvAlgorithm(algorithm)
        const t = performance.now()
        const extra = call(op, a, b, c)
        r[algorithm] += performance.now() - t
        native.free(extra)
      }
      native.setConvAlgorithm(f.conv)
      r.calls += 2
      ab.set(key, r)
    }
    if (f.peer && !captured.has(key)) {
      const k = capture(native, call, key, op, [a, b, c])
      if (k !== null) captured.set(key, k)
    }
    const t = performance.now()
    const h = call(op, a, b, c)
    const ms = performance.now() - t
    nativeMs += ms
    const r = rows.get(key) ?? { calls: 0, ms: 0 }
    r.calls++
    r.ms += ms
    rows.set(key, r)
    return h
  }

  let freeMs = 0
  const free = native.free
  ;(native as { free: typeof free }).free = (h) => {
    if (!profiling) return free(h)
    const t = performance.now()
    free(h)
    freeMs += performance.now() - t
  }

  let gradMs = 0
  let optMs = 0
  let totalMs = 0
  let optNativeMs = 0
  const stepOnce = (b: number) => {
    const t0 = performance.now()
    const loss = tf.tidy(() => {
      const batch = gatherBatch(set, batchIndices(order, b, f.batch))
      const { value, grads } = tf.variableGrads(
        () => tf.losses.softmaxCrossEntropy(batch.y, model.apply(batch.x, { training: true }) as tf.Tensor) as tf.Scalar,
        [...vars]
      )
      const t1 = performance.now()
      const n0 = nativeMs
      optimizer.step(vars.map((v) => grads[v.name]!), 0.01)
      optNativeMs += nativeMs - n0
      optMs += performance.now() - t1
      gradMs += t1 - t0
      return value
    })
    loss.dataSync()
    loss.dispose()
    totalMs += performance.now() - t0
  }
  for (let i = 0; i < f.warmup; i++) stepOnce(i)
  gradMs = optMs = totalMs = optNativeMs = freeMs = 0
  profiling = true
  for (let i = 0; i < f.steps; i++) stepOnce(f.warmup + i)
  profiling = false

  const per = (ms: number) => (ms / f.steps).toFixed(2)
  const calls = [...rows.values()].reduce((s, r) => s + r.calls, 0) / f.steps
  console.log(`${f.model}, batch ${f.batch}, ${f.threads} thread(s), ${f.steps} steps; ms per step:`)
  console.log(
    markdownTable(
      ["step", "forward+backward", "optimizer", "native calls", "native ms", "native ms in optimizer", "freeing tensors", "rest (tfjs engine)"],
      [[per(totalMs), per(gradMs), per(optMs), calls.toFixed(0), per(nativeMs), per(optNativeMs), per(freeMs), per(totalMs - nativeMs - freeMs)]]
    )
  )
  console.log()
  const sorted = [...rows.entries()].sort((a, b) => b[1].ms - a[1].ms).slice(0, f.top)
  console.log(
    markdownTable(
      ["op (input shapes)", "calls/step", "ms/step", "µs/call", "% of native"],
      sorted.map(([k, r]) => [k, (r.calls / f.steps).toFixed(0), per(r.ms), ((1000 * r.ms) / r.calls).toFixed(0), ((100 * r.ms) / nativeMs).toFixed(1)])
    )
  )
  if (f["conv-ab"]) {
    console.log()
    console.log(
      markdownTable(
        ["conv (input shapes)", "tap GEMM µs/call", "ATen µs/call", "Winograd µs/call", "ATen / GEMM", "ATen / Winograd"],
        [...ab.entries()]
          .sort((x, y) => y[1].aten - x[1].aten)
          .map(([k, r]) => {
            const us = (ms: number) => ((1000 * ms) / r.calls).toFixed(0)
            return [k, us(r.gemm), us(r.aten), us(r.winograd), (r.aten / r.gemm).toFixed(2), (r.aten / r.winograd).toFixed(2)]
          })
      )
    )
  }
  if (f.peer) await printPeer(native, [...captured.values()], rows, f)
  optimizer.dispose()
  model.dispose()
}

const printPeer = async (
  native: Native,
  calls: Captured[],
  rows: Map<string, Row>,
  f: { steps: number; threads: number; python: string; "min-ms": number; top: number }
) => {
  const inStep = (c: Captured) => rows.get(c.key)!
  calls.sort((x, y) => inStep(y).ms - inStep(x).ms)
  const lwi = new Map(calls.map((c) => [c.key, timeCaptured(native, c, f["min-ms"])]))
  release(native, calls)
  const peer = await peerTimes(calls, f.threads, f.python, f["min-ms"])
  if ("error" in peer) return console.log(`PyTorch peer failed: ${peer.error}`)
  const perStep = (c: Captured) => inStep(c).calls / f.steps
  let lwiSum = 0
  let peerSum = 0
  for (const c of calls) {
    const p = peer.times[c.key]
    if (p === null || p === undefined) continue
    lwiSum += perStep(c) * lwi.get(c.key)!
    peerSum += perStep(c) * p
  }
  console.log()
  console.log(`Each call alone (median µs), lwi vs PyTorch ${f.threads} thread(s); PyTorch ran with ${peer.ranWith}`)
  console.log(
    markdownTable(
      ["op (input shapes)", "calls/step", "lwi µs in step", "lwi µs alone", "PyTorch µs", "PyTorch / lwi"],
      calls.slice(0, f.top).map((c) => {
        const p = peer.times[c.key]
        const alone = lwi.get(c.key)!
        return [c.key, perStep(c).toFixed(0), ((1000 * inStep(c).ms) / inStep(c).calls).toFixed(0), alone.toFixed(0), p == null ? "-" : p.toFixed(0), p == null ? "-" : (p / alone).toFixed(2)]
      })
    )
  )
  console.log(`Σ calls/step × µs over ops with a PyTorch counterpart: lwi ${(lwiSum / 1000).toFixed(2)} ms, PyTorch ${(peerSum / 1000).toFixed(2)} ms`)
}

await main()
