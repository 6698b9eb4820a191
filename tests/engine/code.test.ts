import { describe, expect, test } from "bun:test"
import { mkdtempSync, symlinkSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { makeCodeHasher, projectRoot } from "../../shared/engine/code.ts"

/** A small project in a temp dir: a.ts → b.ts → c.ts, a type-only import of t.ts, and a package import. */
const project = () => {
  const root = mkdtempSync(join(tmpdir(), "lwi-code-"))
  symlinkSync(join(projectRoot(), "node_modules"), join(root, "node_modules"))
  const files: Record<string, string> = {
    "package.json": '{ "name": "p", "version": "0.0.0" }',
    "a.ts": 'import { b } from "./b.ts"\nimport type { T } from "./t.ts"\nimport { Schema } from "effect"\nexport const a = (x: T) => b(x) + Schema.Number.ast._tag.length\n',
    "b.ts": 'import { c } from "./lib/c.ts"\n// adds one\nexport const b = (x: number) => c(x) + 1\n',
    "lib/c.ts": "export const c = (x: number) => x * 2\n",
    "t.ts": "export type T = number\n",
    "other.ts": "export const other = 1\n"
  }
  const write = (rel: string, text: string) => writeFileSync(join(root, rel), text)
  Bun.spawnSync(["mkdir", "-p", join(root, "lib")])
  for (const [rel, text] of Object.entries(files)) write(rel, text)
  return { root, write, files }
}

describe("code fingerprint", () => {
  test("follows value imports transitively, records packages, not type-only imports", () => {
    const p = project()
    const fp = makeCodeHasher(p.root).fingerprint(join(p.root, "a.ts"))
    expect(Object.keys(fp.files).sort()).toEqual(["a.ts", "b.ts", "lib/c.ts"])
    expect(fp.packages.effect).toMatch(/^\d+\.\d+\.\d+/)
    expect(fp.hash).toMatch(/^[0-9a-f]{64}$/)
  })

  test("an edit of code anywhere it reaches changes the hash; a comment, a type or an unrelated file does not", () => {
    const p = project()
    const hash = () => makeCodeHasher(p.root).fingerprint(join(p.root, "a.ts")).hash
    const base = hash()
    p.write("b.ts", p.files["b.ts"]!.replace("// adds one", "/** adds one, documented at length */"))
    p.write("t.ts", "export type T = number | bigint\n")
    p.write("other.ts", "export const other = 2\n")
    expect(hash()).toBe(base)
    p.write("lib/c.ts", "export const c = (x: number) => x * 3\n")
    const edited = hash()
    expect(edited).not.toBe(base)
    p.write("lib/c.ts", "export const c = (x: number) => x * 2\n")
    expect(hash()).toBe(base)
  })

  test("a module tagged @lwi-key-neutral is listed but neither its content nor its imports count", () => {
    const p = project()
    p.write("b.ts", '/**\n * @lwi-key-neutral — test\n */\nimport { c } from "./lib/c.ts"\nexport const b = (x: number) => c(x) + 1\n')
    const hash = () => makeCodeHasher(p.root).fingerprint(join(p.root, "a.ts"))
    const base = hash()
    expect(base.files["b.ts"]).toBe("neutral")
    expect(Object.keys(base.files)).not.toContain("lib/c.ts")
    p.write("b.ts", '/**\n * @lwi-key-neutral — test\n */\nimport { c } from "./lib/c.ts"\nexport const b = (x: number) => c(x) + 100\n')
    expect(hash().hash).toBe(base.hash)
  })

  test("an import that does not resolve is an error naming the file and the import", () => {
    const p = project()
    p.write("b.ts", 'import { c } from "./lib/missing.ts"\nexport const b = c\n')
    expect(() => makeCodeHasher(p.root).fingerprint(join(p.root, "a.ts"))).toThrow(/b\.ts imports "\.\/lib\/missing\.ts"/)
  })

  test("the repository's steps: LW reaches shared/lw, data preparation does not; no step reaches a report", () => {
    const h = makeCodeHasher()
    const files = (step: string) => Object.keys(h.fingerprint(join(projectRoot(), "steps", `${step}.ts`)).files)
    expect(files("learn-layer-init")).toContain("shared/lw/learn-layer.ts")
    expect(files("prepare-dataset").filter((f) => f.startsWith("shared/lw/"))).toEqual([])
    for (const step of ["prepare-dataset", "sample-minibatch", "init-weights", "learn-layer-init", "freeze", "train", "evaluate"]) {
      expect(files(step).filter((f) => f.startsWith("pipelines/") || /report\.ts$/.test(f))).toEqual([])
    }
  })
})
