/** The scaling harnesses run and print what BENCHMARKS.md's "Scaling" section is made from (no timing asserted). */
import { describe, expect } from "bun:test"
import * as path from "node:path"
import { fashionMnistDir, PYTHON, requiring } from "./requirements.ts"

const root = path.resolve(import.meta.dir, "..")
// Both harnesses read real Fashion-MNIST batches; the peers also need PyTorch (on OpenBLAS). CI requires all of it.
const withData = await requiring("fashion-mnist")
const withPeer = await requiring("fashion-mnist", "pytorch")
/** The peer reads the same files as lwi's harness. */
const peerData = async () => ["--data", await fashionMnistDir()]

const run = (cmd: string[]) => {
  const p = Bun.spawnSync(cmd, { cwd: root, stderr: "pipe" })
  const lines = p.stdout.toString().trim().split("\n")
  return { exitCode: p.exitCode, stderr: p.stderr.toString(), json: lines.filter((l) => l.startsWith("{")).map((l) => JSON.parse(l)) }
}

const runOk = (cmd: string[]) => {
  const r = run(cmd)
  if (r.exitCode !== 0) throw new Error(`${cmd.join(" ")} failed: ${r.stderr}`)
  return r.json
}

describe("scaling benchmarks (need Fashion-MNIST)", () => {
  withData("memory: a quick LeNet run samples RSS and tensors, and the tensor count does not grow", () => {
    const lines = runOk([process.execPath, "run", "bench/scaling-memory.ts", "--quick", "--json"])
    const summary = lines.at(-1)
    expect(summary).toMatchObject({ bench: "memory", model: "lenet", steps: 30, every: 10, tensorsGrew: false })
    expect(summary.tensors.max).toBe(summary.tensors.first)
    expect(summary.tensors.last).toBe(summary.tensors.first)
    const samples = lines.slice(0, -1)
    expect(samples.map((s) => s.step)).toEqual([10, 20, 30])
    for (const s of samples) expect(s.rssMiB).toBeGreaterThan(0)
  })

  withData("memory: a leak of one tensor every 5 steps makes the run exit 1", () => {
    const r = run([process.execPath, "run", "bench/scaling-memory.ts", "--quick", "--json", "--leak-every", "5"])
    expect(r.exitCode).toBe(1)
    expect(r.json.at(-1)).toMatchObject({ tensorsGrew: true })
    expect(r.stderr).toContain("tensor count grew")
  })

  withData("throughput: the lwi MLP runner prints one JSON line", () => {
    const [r] = runOk([process.execPath, "run", "bench/scaling-throughput.ts", "--json", "--model", "mlp", "--depth", "3", "--width", "32", "--steps", "3", "--warmup", "1", "--samples", "128"])
    expect(r).toMatchObject({ impl: "lwi", model: "mlp", depth: 3, width: 32, batch: 32, steps: 3 })
    expect(r.params).toBe(784 * 32 + 32 + 2 * (32 * 32 + 32) + 32 * 10 + 10)
    expect(r.imagesPerSecond).toBeGreaterThan(0)
  })

  withPeer("throughput: the PyTorch MLP peer builds the same network", async () => {
    const [r] = runOk([PYTHON, "bench/peers/scaling_torch.py", "--model", "mlp", "--depth", "3", "--width", "32", "--steps", "3", "--warmup", "1", "--samples", "128", ...(await peerData())])
    expect(r).toMatchObject({ impl: "pytorch", model: "mlp", depth: 3, width: 32, batch: 32, steps: 3 })
    // The peer runs on OpenBLAS (libopenblas0-pthread), as lwi's libtorch does: the same BLAS on both sides.
    expect(r.blas).toContain("openblas")
    expect(r.params).toBe(784 * 32 + 32 + 2 * (32 * 32 + 32) + 32 * 10 + 10)
  })

  withData("LW init time: one line per model with a time for every LW layer", () => {
    const [r] = runOk([process.execPath, "run", "bench/scaling-lw.ts", "--json", "--mlps", "3x16", "--cnns", "", "--max-epochs", "2", "--samples", "16", "--backend", "cpu"])
    expect(r).toMatchObject({ bench: "lw-init-time", model: "MLP 3 × 16", layers: 3, epochs: 6, maxEpochs: 2 })
    expect(r.perLayer).toHaveLength(3)
    expect(r.seconds).toBeGreaterThan(0)
  })
})
