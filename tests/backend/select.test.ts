import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import * as tf from "@tensorflow/tfjs"
import { BadConfig } from "../../shared/errors.ts"
import { BackendUnavailable } from "../../shared/backend/errors.ts"
import { backendNames, selectBackend, selectFrom, type BackendCandidate } from "../../shared/backend/select.ts"
import { registerWasmKernels, wasmKernelNames } from "../../shared/backend/wasm-kernels.ts"
import { requiring } from "../requirements.ts"

let restore = "cpu"
beforeAll(() => {
  restore = tf.getBackend() ?? "cpu"
})
afterAll(async () => {
  await tf.setBackend(restore)
})

/** Candidates that fail with `reason`, or load by activating the real cpu backend (so the smoke op can run). */
const fake = (outcomes: Record<string, string | "ok">): { candidates: Array<BackendCandidate>; loaded: string[] } => {
  const loaded: string[] = []
  const candidates = backendNames.map((name): BackendCandidate => ({
    name,
    load: async () => {
      loaded.push(name)
      const outcome = outcomes[name] ?? "ok"
      if (outcome !== "ok") throw new Error(outcome)
      await tf.setBackend("cpu")
      return `fake ${name}`
    }
  }))
  return { candidates, loaded }
}

const rejection = async (p: Promise<unknown>): Promise<unknown> => {
  try {
    await p
  } catch (e) {
    return e
  }
  throw new Error("expected a rejection")
}

describe("selectFrom (the selection rules, with fake backends)", () => {
  test("the first backend that loads wins; the ones before it are reported with their reasons", async () => {
    const { candidates, loaded } = fake({ tensorflow: "not installed", torch: "no libtorch" })
    const lines: string[] = []
    const choice = await selectFrom(candidates, { log: (l) => lines.push(l) })
    expect(choice.name).toBe("wasm")
    expect(choice.tried).toEqual([
      { name: "tensorflow", ok: false, reason: "not installed" },
      { name: "torch", ok: false, reason: "no libtorch" },
      { name: "wasm", ok: true }
    ])
    expect(loaded).toEqual(["tensorflow", "torch", "wasm"])
    expect(lines).toHaveLength(1)
    expect(lines[0]).toContain("backend: wasm")
    expect(lines[0]).toContain("tensorflow: not installed")
    expect(lines[0]).toContain("torch: no libtorch")
  })

  test("falls through to cpu when wasm fails too", async () => {
    const { candidates } = fake({ tensorflow: "not installed", torch: "no g++", wasm: "no .wasm file" })
    const choice = await selectFrom(candidates)
    expect(choice.name).toBe("cpu")
    expect(choice.tried.map((t) => t.ok)).toEqual([false, false, false, true])
  })

  test("prefer forces one backend (case-insensitive) and tries nothing else", async () => {
    const { candidates, loaded } = fake({})
    expect((await selectFrom(candidates, { prefer: "CPU" })).name).toBe("cpu")
    expect(loaded).toEqual(["cpu"])
  })

  test("an unknown prefer is a BadConfig naming the field and every allowed value", async () => {
    const e = await rejection(selectFrom(fake({}).candidates, { prefer: "gpu" }))
    expect(e).toBeInstanceOf(BadConfig)
    const bad = e as BadConfig
    expect(bad._tag).toBe("BadConfig")
    expect(bad.field).toBe("backend")
    expect(bad.value).toBe("gpu")
    expect(bad.expected).toBe("one of tensorflow, torch, wasm, cpu")
  })

  test("a preferred backend that fails is a BackendUnavailable, not a silent fallback", async () => {
    const e = await rejection(selectFrom(fake({ wasm: "boom" }).candidates, { prefer: "wasm" }))
    expect(e).toBeInstanceOf(BackendUnavailable)
    const un = e as BackendUnavailable
    expect(un._tag).toBe("BackendUnavailable")
    expect(un.backend).toBe("wasm")
    expect(un.tried).toEqual([{ name: "wasm", ok: false, reason: "boom" }])
    expect(un.message).toContain("boom")
  })

  test("nothing loads: BackendUnavailable listing every attempt", async () => {
    const e = await rejection(selectFrom(fake({ tensorflow: "a", torch: "t", wasm: "b", cpu: "c" }).candidates))
    expect(e).toBeInstanceOf(BackendUnavailable)
    expect((e as BackendUnavailable).tried.map((t) => t.reason)).toEqual(["a", "t", "b", "c"])
  })
})

const resolvable = (pkg: string) => {
  try {
    import.meta.resolve(pkg)
    return true
  } catch {
    return false
  }
}
const tfjsNodeInstalled = resolvable("@tensorflow/tfjs-node-gpu") || resolvable("@tensorflow/tfjs-node")

// CI requires the torch backend: without tfjs-node (an optional package) the real choice must be torch.
const withTorch = await requiring("torch")

describe("selectBackend (the real backends of this machine)", () => {
  withTorch("without tfjs-node it picks torch, and says why tensorflow was skipped; with it, tensorflow if it loads", async () => {
    const lines: string[] = []
    const choice = await selectBackend({ log: (l) => lines.push(l) })
    expect(choice.tried[0]!.name).toBe("tensorflow")
    expect(tf.getBackend()).toBe(choice.name)
    expect(lines).toHaveLength(1)
    if (tfjsNodeInstalled && choice.tried[0]!.ok) {
      expect(choice.name).toBe("tensorflow")
      return
    }
    expect(choice.name).toBe("torch")
    expect(lines[0]).toStartWith("backend: torch (libtorch")
    if (!tfjsNodeInstalled) {
      expect(choice.tried[0]).toEqual({
        name: "tensorflow",
        ok: false,
        reason: "@tensorflow/tfjs-node-gpu not installed; @tensorflow/tfjs-node not installed"
      })
    }
  })

  test("prefer wasm and prefer cpu load those backends and pass the smoke op", async () => {
    expect((await selectBackend({ prefer: "wasm" })).name).toBe("wasm")
    expect((await selectBackend({ prefer: "cpu" })).name).toBe("cpu")
    expect(tf.getBackend()).toBe("cpu")
  })

  test("prefer tensorflow: the tensorflow backend, or (without a loadable tfjs-node) a BackendUnavailable saying how to fix it", async () => {
    const outcome = await selectBackend({ prefer: "tensorflow" }).then(
      (choice) => ({ name: choice.name }),
      (e: unknown) => ({ error: e })
    )
    if ("name" in outcome) {
      expect(tfjsNodeInstalled).toBe(true)
      expect(outcome.name).toBe("tensorflow")
      return
    }
    expect(outcome.error).toBeInstanceOf(BackendUnavailable)
    if (!tfjsNodeInstalled) expect((outcome.error as BackendUnavailable).message).toContain("install @tensorflow/tfjs-node")
  })
})

describe("registerWasmKernels", () => {
  test("is idempotent: a second call keeps the same kernel functions", async () => {
    await import("@tensorflow/tfjs-backend-wasm")
    registerWasmKernels()
    const first = wasmKernelNames.map((k) => tf.getKernel(k, "wasm")!.kernelFunc)
    registerWasmKernels()
    expect(wasmKernelNames.map((k) => tf.getKernel(k, "wasm")!.kernelFunc)).toEqual(first)
    expect(wasmKernelNames).toEqual(
      expect.arrayContaining(["Conv2DBackpropFilter", "Conv2DBackpropInput", "MaxPoolGrad", "BatchMatMul"])
    )
  })
})
