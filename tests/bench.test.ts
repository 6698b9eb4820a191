/** The benchmark harnesses run and print what BENCHMARKS.md is made from (no timing is asserted here). */
import { describe, expect, test } from "bun:test"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { target } from "../bench/compare.ts"
import { autogroupNote, runSide, sameEnvironment } from "../bench/environment.ts"
import { groupSteps } from "../bench/main-job.ts"
import { fashionMnistDir, PYTHON, requiring } from "./requirements.ts"

const root = path.resolve(import.meta.dir, "..")
// Both harnesses read real Fashion-MNIST batches; the peers also need PyTorch (on OpenBLAS). CI requires all of it.
const withData = await requiring("fashion-mnist")
const withPeer = await requiring("fashion-mnist", "pytorch")
/** The peer reads the same files as lwi's harness. */
const peerData = async () => ["--data", await fashionMnistDir()]

const runJson = (cmd: string[], env: Record<string, string> = {}) => {
  const p = Bun.spawnSync(cmd, { cwd: root, stderr: "pipe", env: { ...process.env, ...env } })
  if (p.exitCode !== 0) throw new Error(`${cmd.join(" ")} failed: ${p.stderr.toString()}`)
  return JSON.parse(p.stdout.toString().trim().split("\n").at(-1)!)
}

describe("train-throughput benchmark (needs Fashion-MNIST)", () => {
  withData("lwi prints one JSON line with imagesPerSecond on real batches", () => {
    const r = runJson([process.execPath, "run", "bench/train-throughput.ts", "--json", "--model", "lenet", "--steps", "3", "--warmup", "1", "--samples", "128", "--backend", "torch"], sameEnvironment(1))
    expect(r).toMatchObject({ bench: "train-throughput", impl: "lwi", model: "lenet", batch: 32, steps: 3 })
    expect(r.imagesPerSecond).toBeGreaterThan(0)
    // What it ran with: the resolved BLAS (OpenBLAS, as scripts/setup.sh installs), the malloc thresholds it was
    // started with and the shim's own, its threads and versions, its peak RSS.
    expect(r.ranWith.blas).toContain("openblas")
    expect(r.ranWith.malloc).toContain("MALLOC_MMAP_THRESHOLD_=33554432")
    expect(r.ranWith.malloc).toContain("(torch shim)")
    expect(r.ranWith.threads).toBe(1)
    expect(Object.keys(r.ranWith.versions)).toEqual(["bun", "tfjs", "libtorch"])
    expect(r.ranWith.peakRssMiB).toBeGreaterThan(10)
  })

  withPeer("the PyTorch peer prints the same JSON", async () => {
    const r = runJson([PYTHON, "bench/peers/train_throughput_torch.py", "--model", "lenet", "--steps", "3", "--warmup", "1", "--samples", "128", ...(await peerData())], sameEnvironment(1))
    expect(r).toMatchObject({ bench: "train-throughput", impl: "pytorch", model: "lenet", batch: 32, steps: 3 })
    expect(r.imagesPerSecond).toBeGreaterThan(0)
    expect(r.ranWith.blas).toContain("openblas")
    expect(r.ranWith.malloc).toBe("MALLOC_MMAP_THRESHOLD_=33554432; MALLOC_TRIM_THRESHOLD_=1073741824")
    expect(r.ranWith.threads).toBe(1)
    expect(Object.keys(r.ranWith.versions)).toEqual(["python", "torch", "numpy"])
    expect(r.ranWith.peakRssMiB).toBeGreaterThan(10)
  })

  withPeer("compare.ts: one row per side and batch, a target column, and the same BLAS on both sides", () => {
    const p = Bun.spawnSync(
      [process.execPath, "run", "bench/compare.ts", "--models", "lenet", "--batches", "32,128", "--steps", "2", "--samples", "256", "--python", PYTHON],
      { cwd: root, stderr: "pipe" }
    )
    const out = p.stdout.toString()
    expect(p.exitCode).toBe(0)
    expect(out).toContain("| model | batch | implementation | img/s | lwi / PyTorch | target | meets target | peak RSS MiB |")
    expect(out).toMatch(/\| lenet \| 32 \| lwi torch \| \d+ \| [\d.]+ \| ≥ 1\.2 \| (yes|\*\*no\*\*) \| \d+ \|/)
    expect(out).toMatch(/\| lenet \| 128 \| lwi torch \| \d+ \| [\d.]+ \| ≥ 1\.0 \| (yes|\*\*no\*\*) \| \d+ \|/)
    expect(out).toMatch(/- PyTorch: BLAS [^;]*openblas/)
    expect(out).toMatch(/- lwi torch: BLAS [^;]*openblas/)
    expect(out).not.toContain("NOT A FAIR PEER")
  }, 120_000)

  test("compare.ts: bad --batches is an error naming the flag", () => {
    const p = Bun.spawnSync([process.execPath, "run", "bench/compare.ts", "--batches", "32,abc"], { cwd: root, stderr: "pipe" })
    expect(p.exitCode).toBe(2)
    expect(p.stderr.toString()).toContain("--batches")
  })

  test("targets: batch 32 at 1.2x (1 thread) and 1.1x (2 threads); 128 and 256 at parity", () => {
    expect([target(32, 1), target(32, 2), target(128, 1), target(256, 2)]).toEqual([1.2, 1.1, 1.0, 1.0])
  })
})

describe("the same environment on both sides (bench/environment.ts)", () => {
  test("autogroup scheduling on is said, with the fix; off or absent says nothing", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "lwi-autogroup-"))
    const file = path.join(dir, "sched_autogroup_enabled")
    writeFileSync(file, "1\n")
    expect(autogroupNote(file)).toContain(`echo 0 > ${file}`)
    writeFileSync(file, "0\n")
    expect(autogroupNote(file)).toBeNull()
    expect(autogroupNote(path.join(dir, "absent"))).toBeNull()
    rmSync(dir, { recursive: true })
  })

  test("runSide starts a child with the thread pools and malloc thresholds, and reports its peak RSS", async () => {
    // The child allocates and touches 64 MiB, then prints what it was started with.
    const script = "import os, json; b = bytearray(64 << 20); print('noise'); print(json.dumps({k: os.environ.get(k) for k in ['OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MALLOC_MMAP_THRESHOLD_', 'MALLOC_TRIM_THRESHOLD_']}))"
    const r = await runSide<Record<string, string>>(["python3", "-c", script], 2)
    if ("error" in r) throw new Error(r.error)
    expect(r).toMatchObject({ OMP_NUM_THREADS: "2", OPENBLAS_NUM_THREADS: "2", MALLOC_MMAP_THRESHOLD_: "33554432", MALLOC_TRIM_THRESHOLD_: "1073741824" })
    expect(r.childPeakRssMiB).toBeGreaterThan(64)
    expect(r.wallSeconds).toBeGreaterThan(0)
  })

  test("a side that fails or prints no JSON is an error, not a figure", async () => {
    expect(await runSide(["python3", "-c", "import sys; sys.exit('peer broke')"], 1)).toEqual({ error: "peer broke" })
    const r = await runSide(["python3", "-c", "print('no json')"], 1)
    expect("error" in r && r.error).toContain("no JSON on the last line")
  })
})

describe("main job end to end (bench/main-job.ts, bench/peers/resnet_nobn_torch.py)", () => {
  test("lwi's steps: data handling before the first init-weights, one group per experiment", () => {
    const step = (name: string, seconds: number) => ({ name, seconds, cached: false })
    const steps = [step("prepare-dataset", 2), step("sample-minibatch", 1), step("init-weights", 1), step("learn-layer-init", 5), step("train", 10), step("evaluate", 1), step("init-weights", 1), step("train", 20), step("evaluate", 2)]
    expect(groupSteps(steps, ["LW", "RAE1"])).toEqual({
      dataSeconds: 3,
      experiments: [
        { id: "LW", seconds: 17, trainTestSeconds: 11 },
        { id: "RAE1", seconds: 23, trainTestSeconds: 22 }
      ]
    })
    expect(() => groupSteps(steps, ["LW"])).toThrow("2 init-weights steps for 1 experiments")
  })

  withPeer("the PyTorch peer runs the heuristic experiments on the same files and reports each one's time", async () => {
    const r = runJson(
      [PYTHON, "bench/peers/resnet_nobn_torch.py", "--epochs", "1", "--subset", "164", "--validation", "100", "--test-subset", "50", "--experiments", "rae1,kaiming-bn", ...(await peerData())],
      sameEnvironment(1)
    )
    expect(r).toMatchObject({ bench: "main-job", impl: "pytorch", train: 64, validation: 100, test: 50, epochs: 1 })
    expect(r.experiments.map((e: { id: string }) => e.id)).toEqual(["RAE1: Kaiming (no BN)", "Kaiming + BN"])
    for (const e of r.experiments) {
      expect(e.seconds).toBeGreaterThan(0)
      expect(e.history).toHaveLength(1)
      // Neither start diverges in two steps at lr 0.01: finite losses, recorded as numbers, not nulls.
      expect(e.diverged).toBeNull()
      expect(e.history[0].trainLoss).toBeGreaterThan(0)
      expect(Number.isFinite(e.testLoss)).toBe(true)
      expect(e.testAccuracy).toBeGreaterThanOrEqual(0)
      expect(e.testAccuracy).toBeLessThanOrEqual(1)
    }
    expect(r.ranWith.blas).toContain("openblas")
  }, 120_000)
})
