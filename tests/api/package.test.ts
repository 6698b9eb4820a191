/**
 * `import { learnInit } from "lwi"` as a user gets it: the README's example (examples/lw-own-model.ts, shown
 * verbatim in docs/lw-api.md) run as a script in this repository (package.json "exports" lets a package import
 * itself by name) and copied into a separate project that depends on lwi through a `file:` path — linked into its
 * node_modules as npm links a file: dependency, offline.
 */
import { afterAll, describe, expect, test } from "bun:test"
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync, mkdirSync, copyFileSync } from "node:fs"
import { tmpdir } from "node:os"
import * as path from "node:path"

const root = path.resolve(import.meta.dir, "../..")
const example = path.join(root, "examples/lw-own-model.ts")
const project = mkdtempSync(path.join(tmpdir(), "lwi-user-"))
afterAll(() => rmSync(project, { recursive: true, force: true }))

const run = (cwd: string, script: string) => {
  const p = Bun.spawnSync([process.execPath, "run", script], { cwd, stderr: "pipe", env: { ...process.env } })
  const stdout = p.stdout.toString()
  if (p.exitCode !== 0) throw new Error(`${script} in ${cwd} exited ${p.exitCode}:\n${stdout}\n${p.stderr.toString()}`)
  return stdout.trim().split("\n")
}

/** What the example must print: the backend, one line per layer with a kernel, the summary. */
const checkOutput = (lines: string[]) => {
  expect(lines[0]).toMatch(/^backend: wasm /)
  const layers = lines.filter((l) => l.startsWith("lw: "))
  expect(layers.map((l) => l.split(" ")[1])).toEqual(["stem", "dw", "pw", "hidden", "logits"])
  expect(layers[0]).toMatch(/^lw: stem \(Conv2D\) learned: output mean -?0\.0[0-3]\d \(target 0\), activation variance (0\.9[7-9]|1\.0[0-3])\d \(target 1, auto\); /)
  // Learned (not skipped); on this batch it stops on a false plateau just short of the mean target (docs/lw-api.md).
  expect(layers[1]).toMatch(/^lw: dw \(DepthwiseConv2D\) (learned|target not reached): output mean -?0\.0\d\d\b/)
  expect(layers[4]).toBe("lw: logits (Dense) skipped: the classifier (last layer with a kernel): keeps its initial weights, by design")
  expect(lines.at(-1)).toMatch(/^wasm: \d+ layers learned in [\d.]+ s$/)
}

describe("the public module", () => {
  test("the example runs inside this repository, importing lwi by its name", () => {
    checkOutput(run(root, example))
  })

  test("the example runs unchanged in a separate project depending on lwi via file:", () => {
    writeFileSync(
      path.join(project, "package.json"),
      JSON.stringify({ name: "my-model", type: "module", dependencies: { lwi: `file:${root}`, "@tensorflow/tfjs": "4.22.0" } }, null, 2)
    )
    mkdirSync(path.join(project, "node_modules"))
    symlinkSync(root, path.join(project, "node_modules/lwi"), "dir")
    // The user's own tfjs: the same install (one copy of tfjs, or its tensors and lwi's would not mix).
    symlinkSync(path.join(root, "node_modules/@tensorflow"), path.join(project, "node_modules/@tensorflow"), "dir")
    copyFileSync(example, path.join(project, "train.ts"))
    checkOutput(run(project, "train.ts"))
  })

  test("docs/lw-api.md and the README show the example file verbatim", () => {
    expect(readFileSync(path.join(root, "docs/lw-api.md"), "utf8")).toContain(readFileSync(example, "utf8").trim())
    expect(readFileSync(path.join(root, "README.md"), "utf8")).toContain(readFileSync(example, "utf8").trim())
  })
})
