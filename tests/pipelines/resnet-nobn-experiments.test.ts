import { expect, test } from "bun:test"
import * as fs from "node:fs"
import * as path from "node:path"
import { selectExperiments } from "../../pipelines/resnet-nobn.ts"

const keys = (value: string) => selectExperiments(value).map((e) => e.key)

test("--experiments thesis is the thesis's five rows, all is every row, a list comes back in the plan's order", () => {
  expect(keys("thesis")).toEqual(["lw", "lw-thesis", "kaiming", "normal", "kaiming-bn"])
  expect(keys("all")).toEqual(["lw", "lw-thesis", "kaiming", "normal", "kaiming-bn", "lsuv", "fixup", "fixup-init"])
  expect(keys("fixup,lw")).toEqual(["lw", "fixup"])
})

test("an unknown row is a BadConfig naming --experiments, the words all and thesis, and the rows there are", () => {
  expect(() => keys("lw,thesis")).toThrow(/--experiments[\s\S]*all, thesis, or a comma-separated list of lw, lw-thesis/)
})

test("npm start runs the thesis rows (the main job the README times)", () => {
  const pkg = JSON.parse(fs.readFileSync(path.resolve(import.meta.dir, "../../package.json"), "utf8"))
  expect(pkg.scripts.start).toBe("bun run pipelines/resnet-nobn.ts --experiments thesis")
})
