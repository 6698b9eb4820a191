/**
 * Strict CI (tests/requirements.ts): a test that needs a missing requirement fails with what is missing and how to
 * install it; LWI_ALLOW_MISSING turns that into a skip printed in one line, and nothing else does.
 * Fashion-MNIST is made missing for a child `bun test` by pointing LWI_DATA (authoritative) at an empty folder.
 */
import { afterAll, describe, expect, test } from "bun:test"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { allowedMissing, missingMessage } from "./requirements.ts"

const root = path.resolve(import.meta.dir, "..")
const empty = mkdtempSync(path.join(tmpdir(), "lwi-no-data-"))
afterAll(() => rmSync(empty, { recursive: true, force: true }))

const bunTest = (file: string, env: Record<string, string>) => {
  const p = Bun.spawnSync([process.execPath, "test", file], {
    cwd: root,
    env: { ...process.env, LWI_ALLOW_MISSING: "", ...env },
    stdout: "pipe",
    stderr: "pipe"
  })
  return { code: p.exitCode, out: p.stdout.toString() + p.stderr.toString() }
}

describe("LWI_ALLOW_MISSING", () => {
  test("a comma-separated subset of torch, fashion-mnist, pytorch; blanks ignored", () => {
    expect([...allowedMissing("")]).toEqual([])
    expect([...allowedMissing(" torch , pytorch,")].sort()).toEqual(["pytorch", "torch"])
  })

  test("an unknown name is an error naming it, so a typo cannot make a requirement optional", () => {
    expect(() => allowedMissing("torch,fashion_mnist")).toThrow("unknown fashion_mnist")
  })

  test("the failure message says what is missing, how to install it, and how a developer may skip", () => {
    const m = missingMessage([{ requirement: "pytorch", reason: "no torch module", install: "sudo apt-get install python3-torch libopenblas0-pthread" }])
    expect(m).toContain("pytorch: no torch module")
    expect(m).toContain("install: sudo apt-get install python3-torch libopenblas0-pthread")
    expect(m).toContain("LWI_ALLOW_MISSING=pytorch")
  })
})

describe("a test file whose requirement is missing", () => {
  test("fails, saying Fashion-MNIST is missing and how to install it", () => {
    const r = bunTest("tests/data/system.test.ts", { LWI_DATA: empty })
    expect(r.code).not.toBe(0)
    expect(r.out).toContain("fashion-mnist: Fashion-MNIST not found")
    expect(r.out).toContain("install: sudo apt-get install dataset-fashion-mnist")
    expect(r.out).toMatch(/1 fail/)
  })

  test("with LWI_ALLOW_MISSING=fashion-mnist: skipped, one line per test saying so", () => {
    const r = bunTest("tests/data/system.test.ts", { LWI_DATA: empty, LWI_ALLOW_MISSING: "fashion-mnist" })
    expect(r.code).toBe(0)
    expect(r.out.split("\n").filter((l) => l.startsWith("SKIP (LWI_ALLOW_MISSING=fashion-mnist)"))).toHaveLength(1)
    expect(r.out).toMatch(/1 skip/)
  })

  test("allowing another requirement does not skip it", () => {
    const r = bunTest("tests/data/system.test.ts", { LWI_DATA: empty, LWI_ALLOW_MISSING: "torch" })
    expect(r.code).not.toBe(0)
    expect(r.out).toMatch(/1 fail/)
  })

  test("a machine without the torch backend (libtorch not where LWI_LIBTORCH says) fails the torch tests", () => {
    const r = bunTest("tests/backend-torch/threads.test.ts", { LWI_LIBTORCH: empty })
    expect(r.code).not.toBe(0)
    expect(r.out).toMatch(/torch: .*LWI_LIBTORCH/)
    expect(r.out).toMatch(/2 fail/)
  })
})
