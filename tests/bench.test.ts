/** The benchmark harnesses run and print what BENCHMARKS.md is made from (no timing is asserted here). */
import { describe, expect, test } from "bun:test"
import { existsSync } from "node:fs"
import * as path from "node:path"

const root = path.resolve(import.meta.dir, "..")
const hasFmnist = existsSync("/usr/share/datasets/fashion-mnist") || existsSync(path.join(root, "data/fashion-mnist"))
const hasTorch = Bun.spawnSync(["/usr/bin/python3", "-c", "import torch"], { stderr: "ignore" }).exitCode === 0

const runJson = (cmd: string[]) => {
  const p = Bun.spawnSync(cmd, { cwd: root, stderr: "pipe" })
  if (p.exitCode !== 0) throw new Error(`${cmd.join(" ")} failed: ${p.stderr.toString()}`)
  return JSON.parse(p.stdout.toString().trim().split("\n").at(-1)!)
}

describe.skipIf(!hasFmnist)("train-throughput benchmark (needs Fashion-MNIST)", () => {
  test("lwi prints one JSON line with imagesPerSecond on real batches", () => {
    const r = runJson([process.execPath, "run", "bench/train-throughput.ts", "--json", "--model", "lenet", "--steps", "3", "--warmup", "1", "--samples", "128"])
    expect(r).toMatchObject({ bench: "train-throughput", impl: "lwi", model: "lenet", batch: 32, steps: 3 })
    expect(r.imagesPerSecond).toBeGreaterThan(0)
  })

  test.skipIf(!hasTorch)("the PyTorch peer prints the same JSON", () => {
    const r = runJson(["/usr/bin/python3", "bench/peers/train_throughput_torch.py", "--model", "lenet", "--steps", "3", "--warmup", "1", "--samples", "128"])
    expect(r).toMatchObject({ bench: "train-throughput", impl: "pytorch", model: "lenet", batch: 32, steps: 3 })
    expect(r.imagesPerSecond).toBeGreaterThan(0)
  })
})
