/** The benchmark harnesses run and print what BENCHMARKS.md is made from (no timing is asserted here). */
import { describe, expect } from "bun:test"
import * as path from "node:path"
import { fashionMnistDir, PYTHON, requiring } from "./requirements.ts"

const root = path.resolve(import.meta.dir, "..")
// Both harnesses read real Fashion-MNIST batches; the peers also need PyTorch (on OpenBLAS). CI requires all of it.
const withData = await requiring("fashion-mnist")
const withPeer = await requiring("fashion-mnist", "pytorch")
/** The peer reads the same files as lwi's harness. */
const peerData = async () => ["--data", await fashionMnistDir()]

const runJson = (cmd: string[]) => {
  const p = Bun.spawnSync(cmd, { cwd: root, stderr: "pipe" })
  if (p.exitCode !== 0) throw new Error(`${cmd.join(" ")} failed: ${p.stderr.toString()}`)
  return JSON.parse(p.stdout.toString().trim().split("\n").at(-1)!)
}

describe("train-throughput benchmark (needs Fashion-MNIST)", () => {
  withData("lwi prints one JSON line with imagesPerSecond on real batches", () => {
    const r = runJson([process.execPath, "run", "bench/train-throughput.ts", "--json", "--model", "lenet", "--steps", "3", "--warmup", "1", "--samples", "128"])
    expect(r).toMatchObject({ bench: "train-throughput", impl: "lwi", model: "lenet", batch: 32, steps: 3 })
    expect(r.imagesPerSecond).toBeGreaterThan(0)
  })

  withPeer("the PyTorch peer prints the same JSON", async () => {
    const r = runJson([PYTHON, "bench/peers/train_throughput_torch.py", "--model", "lenet", "--steps", "3", "--warmup", "1", "--samples", "128", ...(await peerData())])
    expect(r).toMatchObject({ bench: "train-throughput", impl: "pytorch", model: "lenet", batch: 32, steps: 3 })
    expect(r.imagesPerSecond).toBeGreaterThan(0)
  })
})
