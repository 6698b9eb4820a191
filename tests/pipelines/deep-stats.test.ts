/**
 * deep-stats: the maths (shared/init/depth-stats.ts) against hand computations and a plain-JS forward/backward
 * reference, and the pipeline's --quick run as a user runs it (a real process, real files, a cached rerun).
 */
import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test"
import * as tf from "@tensorflow/tfjs"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { type DepthActivation, depthStats, depthTrend, gaussianExpectation, meanField, moments } from "../../shared/init/depth-stats.ts"
import { createRng, normalArray } from "../../shared/init/random.ts"

setDefaultTimeout(300_000)

const root = path.resolve(import.meta.dir, "../..")
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "lwi-deep-stats-"))
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }))

const close = (a: number, b: number, rel = 1e-4, abs = 1e-9) => expect(Math.abs(a - b)).toBeLessThanOrEqual(abs + rel * Math.abs(b))

describe("moments", () => {
  test("mean and population variance, by hand", () => {
    expect(moments([1, 2, 3, 4])).toEqual({ mean: 2.5, variance: 1.25 })
  })
  test("values near float32's smallest keep their variance (summed in float64)", () => {
    const v = moments(Float32Array.from([1e-39, -1e-39, 1e-39, -1e-39]))
    expect(v.variance).toBeGreaterThan(0.9e-78)
    expect(v.variance).toBeLessThan(1.1e-78)
  })
})

/** Dense weights as tensors from plain arrays: kernel [in][out]. */
const dense = (kernel: number[][], bias: number[]) => ({ kernel: tf.tensor2d(kernel), bias: tf.tensor1d(bias) })

describe("depthStats", () => {
  test("a 2-layer ReLU net with the sum of its logits, by hand", () => {
    // x = [[1, −1], [3, 1]]; z1 = x·W1 + b1 = [[−0.5, 1], [−0.5, 7]] → h1 = [[0, 1], [0, 7]]: mean 2, variance 8.5.
    // z2 = h1·W2 = [[1, 1], [7, 7]] = h2: mean 4, variance 9. loss = Σ h2·r, r = [1, −2]: g2 = [1, −2] per row
    // (mean −0.5, variance 2.25); every z2 > 0, so g1 = g2·W2ᵀ = [1, −1] per row (mean 0, variance 1).
    const x = tf.tensor2d([[1, -1], [3, 1]])
    const hidden = [dense([[1, 2], [-1, 1]], [-2.5, 0]), dense([[1, 0], [1, 1]], [0, 0])]
    const readout = dense([[1], [-2]], [0])
    const r = depthStats(hidden, readout, "relu", x, { kind: "sum" })
    expect(r.layers).toEqual([
      { layer: 1, forwardMean: 2, forwardVar: 8.5, gradMean: 0, gradVar: 1 },
      { layer: 2, forwardMean: 4, forwardVar: 9, gradMean: -0.5, gradVar: 2.25 }
    ])
    close(r.loss, 1 * (1 - 2) + 7 * (1 - 2) + 0)
    tf.dispose([x, readout.kernel, readout.bias, ...hidden.flatMap((l) => [l.kernel, l.bias])])
  })

  /** The same network and loss in plain JS (float64 loops), forward and backward written out. */
  const reference = (kernels: number[][][], biases: number[][], readout: number[][], act: DepthActivation, x: number[][], labels: number[]) => {
    const f = act === "relu" ? (z: number) => Math.max(0, z) : Math.tanh
    const df = act === "relu" ? (z: number) => (z > 0 ? 1 : 0) : (z: number) => 1 - Math.tanh(z) ** 2
    const matmul = (a: number[][], w: number[][]) => a.map((row) => w[0]!.map((_, j) => row.reduce((s, v, k) => s + v * w[k]![j]!, 0)))
    const zs: number[][][] = []
    const hs: number[][][] = []
    let h = x
    kernels.forEach((w, l) => {
      const z = matmul(h, w).map((row) => row.map((v, j) => v + biases[l]![j]!))
      zs.push(z)
      h = z.map((row) => row.map(f))
      hs.push(h)
    })
    const logits = matmul(h, readout)
    const B = x.length
    // ∂(mean cross-entropy)/∂logits = (softmax − onehot) / B.
    let g = logits.map((row, i) => {
      const m = Math.max(...row)
      const e = row.map((v) => Math.exp(v - m))
      const s = e.reduce((a, b) => a + b, 0)
      return e.map((v, j) => (v / s - (j === labels[i] ? 1 : 0)) / B)
    })
    const transpose = (w: number[][]) => w[0]!.map((_, j) => w.map((row) => row[j]!))
    const grads: number[][][] = new Array(kernels.length)
    g = matmul(g, transpose(readout))
    for (let l = kernels.length - 1; l >= 0; l--) {
      grads[l] = g
      g = matmul(g.map((row, i) => row.map((v, j) => v * df(zs[l]![i]![j]!))), transpose(kernels[l]!))
    }
    return hs.map((hl, l) => ({ forward: moments(hl.flat()), grad: moments(grads[l]!.flat()) }))
  }

  for (const act of ["relu", "tanh"] as const) {
    test(`${act}: activations and cross-entropy gradients match a plain-JS forward/backward`, () => {
      const [B, W, L, C] = [6, 5, 4, 3]
      const rng = createRng(7)
      const draw = (rows: number, cols: number, std: number) => Array.from({ length: rows }, () => Array.from(normalArray(rng, cols, 0, std)))
      const kernels = Array.from({ length: L }, () => draw(W, W, Math.sqrt(2 / W)))
      const biases = Array.from({ length: L }, () => draw(1, W, 0.1)[0]!)
      const readout = draw(W, C, Math.sqrt(1 / W))
      const x = draw(B, W, 1)
      const labels = [0, 2, 1, 1, 0, 2]
      const want = reference(kernels, biases, readout, act, x, labels)
      const tensors = kernels.map((k, l) => dense(k, biases[l]!))
      const out = dense(readout, [0, 0, 0])
      const xt = tf.tensor2d(x)
      const before = tf.memory().numTensors
      const got = depthStats(tensors, out, act, xt, { kind: "cross-entropy", labels: Int32Array.from(labels) })
      expect(tf.memory().numTensors).toBe(before) // nothing leaks
      got.layers.forEach((s, l) => {
        close(s.forwardMean, want[l]!.forward.mean)
        close(s.forwardVar, want[l]!.forward.variance)
        close(s.gradMean, want[l]!.grad.mean, 1e-3, 1e-8)
        close(s.gradVar, want[l]!.grad.variance, 1e-3, 1e-10)
      })
      tf.dispose([xt, out.kernel, out.bias, ...tensors.flatMap((t) => [t.kernel, t.bias])])
    })
  }
})

describe("meanField", () => {
  const n = 100
  test("ReLU + Kaiming (n·σ² = 2): the variance 1 − 1/π at every layer, the gradient's second moment constant", () => {
    const m = meanField({ depth: 20, width: n, weightVariance: 2 / n, activation: "relu" })
    for (const l of m) {
      close(l.forwardVar, 1 - 1 / Math.PI, 1e-5)
      close(l.gradRatio, 1, 1e-5)
    }
  })
  test("ReLU + Xavier (n·σ² = 1): both halve per layer, the gradient towards the input", () => {
    const m = meanField({ depth: 10, width: n, weightVariance: 1 / n, activation: "relu" })
    m.forEach((l, i) => {
      close(l.forwardVar, 2 ** -i * (0.5 - 1 / (2 * Math.PI)), 1e-5)
      close(l.gradRatio, 2 ** -(m.length - 1 - i), 1e-5)
    })
  })
  test("linear: variance n·σ² per layer, compounding", () => {
    const m = meanField({ depth: 3, width: n, weightVariance: 1.5 / n, activation: "linear" })
    expect(m.map((l) => Number(l.forwardVar.toPrecision(6)))).toEqual([1.5, 2.25, 3.375])
  })
  test("tanh at n·σ² = 1 decays as a power law: q_l ≈ 1/(2l) deep down", () => {
    const m = meanField({ depth: 400, width: n, weightVariance: 1 / n, activation: "tanh" })
    const q = m[399]!.forwardVar
    expect(q * 2 * 400).toBeGreaterThan(0.8)
    expect(q * 2 * 400).toBeLessThan(1.25)
  })
  test("the Gaussian expectation: E[u²] = 1, E[relu(u)] = 1/√(2π)", () => {
    close(gaussianExpectation((u) => u * u), 1, 1e-6)
    close(gaussianExpectation((u) => Math.max(0, u)), 1 / Math.sqrt(2 * Math.PI), 1e-5)
  })
})

describe("depthTrend", () => {
  test("within 10× holds; beyond, shrinks or grows; 0 underflows and NaN overflows at the first such layer", () => {
    expect(depthTrend([1, 0.5, 0.25]).trend).toBe("holds")
    const s = depthTrend([1, 0.1, 0.01, 0.001, 1e-4])
    expect(s.trend).toBe("shrinks")
    close(s.perLayer, 0.1)
    close(s.perLayerDeeperHalf, 0.1)
    expect(depthTrend([1, 10, 100]).trend).toBe("grows")
    expect(depthTrend([1, 1e-20, 0, 0])).toMatchObject({ trend: "underflows", brokeAt: 3 })
    expect(depthTrend([1, null, 5])).toMatchObject({ trend: "overflows", brokeAt: 2 })
  })
  test("a power law's per-layer factor is nearer 1 over the deeper half", () => {
    const t = depthTrend(Array.from({ length: 50 }, (_, i) => 1 / (i + 1)))
    expect(t.trend).toBe("shrinks")
    expect(t.perLayerDeeperHalf).toBeGreaterThan(t.perLayer)
  })
})

describe("deep-stats pipeline", () => {
  const run = async (args: string[]) => {
    const p = Bun.spawn([process.execPath, "run", "pipelines/deep-stats.ts", ...args], {
      cwd: root,
      stdout: "pipe",
      stderr: "pipe",
      env: { ...process.env, LWI_CACHE: "", LWI_BACKEND: "" }
    })
    const [stderr, code] = await Promise.all([new Response(p.stderr).text(), p.exited])
    return { code, stderr }
  }
  const cache = path.join(tmp, "cache")

  test("--quick: every init × activation measured, the known behaviours checked from the numbers, figures drawn; a rerun is all cached", async () => {
    const out = path.join(tmp, "q")
    const first = await run(["--quick", "--threads", "1", "--cache", cache, "--out", out])
    expect(first.code, first.stderr).toBe(0)
    const r = JSON.parse(fs.readFileSync(path.join(out, "results.json"), "utf8"))
    expect(r.setup).toEqual({ depth: 10, width: 64, batch: 64, fitBatch: 64, classes: 10, loss: "cross-entropy" })
    expect(r.cells.length).toBe(16)
    for (const c of r.cells) {
      expect(c.layers.length).toBe(10)
      // The stored trend is the numbers' own.
      expect(c.forward).toMatchObject({ trend: depthTrend(c.layers.map((l: { forwardVar: number }) => l.forwardVar)).trend })
      expect(c.meanField === null).toBe(c.init === "lsuv" || c.init === "lw")
    }
    const cell = (a: string, i: string) => r.cells.find((c: { activation: string; init: string }) => c.activation === a && c.init === i)
    // LSUV and LW fit their own batch, and report what they did per layer.
    expect(cell("relu", "lsuv").fit.length).toBe(11)
    expect(cell("relu", "lw").fit.filter((f: { status: string }) => f.status === "learned").length).toBeGreaterThanOrEqual(8)
    // Mean-field and measurement agree within 3× at the last layer for the data-free draws (width 64: noisy).
    for (const c of r.cells.filter((c: { meanField: unknown }) => c.meanField !== null)) {
      const ratio = c.layers[9].forwardVar / c.meanField[9].forwardVar
      expect(ratio, c.id).toBeGreaterThan(1 / 3)
      expect(ratio, c.id).toBeLessThan(3)
    }
    // ReLU: Xavier shrinks, Kaiming holds — shown, and said in report.md.
    const relu = r.expectations.filter((e: { activation: string }) => e.activation === "relu")
    expect(relu.length).toBe(4)
    expect(relu.every((e: { shown: boolean }) => e.shown)).toBe(true)
    const report = fs.readFileSync(path.join(out, "report.md"), "utf8")
    expect(report).toContain("**Shown:** Xavier + relu shrinks with depth")
    expect(report).toContain("**Shown:** Kaiming + relu holds with depth")
    for (const f of ["forward-variance", "gradient-variance", "forward-mean", "gradient-mean"]) {
      expect(fs.statSync(path.join(out, "figures", `${f}.svg`)).size).toBeGreaterThan(1000)
    }
    const again = await run(["--quick", "--threads", "1", "--cache", cache, "--out", path.join(tmp, "q2")])
    expect(again.code, again.stderr).toBe(0)
    const r2 = JSON.parse(fs.readFileSync(path.join(tmp, "q2", "results.json"), "utf8"))
    expect(r2.steps.every((s: { cached: boolean }) => s.cached)).toBe(true)
    expect(r2.cells).toEqual(r.cells)
  })

  test("a subset by flag, and the sum-of-logits loss (recorded, and a loss of its own)", async () => {
    const out = path.join(tmp, "sum")
    const res = await run(["--quick", "--threads", "1", "--activations", "relu", "--inits", "kaiming-normal,lsuv", "--loss", "sum", "--cache", cache, "--out", out])
    expect(res.code, res.stderr).toBe(0)
    const r = JSON.parse(fs.readFileSync(path.join(out, "results.json"), "utf8"))
    expect(r.cells.map((c: { id: string }) => c.id)).toEqual(["relu × kaiming-normal", "relu × lsuv"])
    expect(r.setup.loss).toBe("sum")
    const ce = JSON.parse(fs.readFileSync(path.join(tmp, "q", "results.json"), "utf8"))
    const same = ce.cells.find((c: { id: string }) => c.id === "relu × kaiming-normal")
    // The same weights and batch (the forward statistics agree), another loss (the gradients do not).
    expect(r.cells[0].layers.map((l: { forwardVar: number }) => l.forwardVar)).toEqual(same.layers.map((l: { forwardVar: number }) => l.forwardVar))
    expect(r.cells[0].layers[9].gradVar).not.toBe(same.layers[9].gradVar)
  })

  test("an unknown init is a usage error: exit 2, naming the flag", async () => {
    const res = await run(["--quick", "--inits", "kaiming,bogus", "--cache", cache, "--out", path.join(tmp, "bad")])
    expect(res.code).toBe(2)
    expect(res.stderr).toContain("inits")
  })
})
