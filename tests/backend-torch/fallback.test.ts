/**
 * The torch shim picks some loops by what the CPU has (shim-pool.h: MaxPoolGrad's arg-max in AVX-512 registers).
 * This machine has AVX-512, so the path for CPUs without it runs only when LWI_NO_AVX512 is in the environment the
 * process starts with (Bun's process.env does not reach the C environment): the pooling suite again, in a child.
 */
import { describe, expect } from "bun:test"
import * as path from "node:path"
import { torchTest } from "./compare.ts"

const root = path.resolve(import.meta.dir, "..", "..")

describe("torch kernels without AVX-512", () => {
  torchTest("max pooling and its gradient match cpu on the scalar path (ties, NaN, 1–17 channels, overlapping windows)", () => {
    const p = Bun.spawnSync([process.execPath, "test", "--timeout", "300000", "tests/backend-torch/nn.test.ts", "-t", "pooling"], {
      cwd: root,
      env: { ...process.env, LWI_NO_AVX512: "1" },
      stdout: "pipe",
      stderr: "pipe"
    })
    const out = p.stdout.toString() + p.stderr.toString()
    expect({ code: p.exitCode, fails: /\n\s*(\d+) fail/.exec(out)?.[1] }).toEqual({ code: 0, fails: "0" })
    expect(Number(/\n\s*(\d+) pass/.exec(out)?.[1] ?? 0)).toBeGreaterThanOrEqual(10)
  })
})
