/**
 * A pipeline's report hooks run after training, once results.json is written: a figure or headline builder that
 * throws costs the figures (said in one warning line and in report.md), never the run or its results.
 */
import { afterAll, expect, test } from "bun:test"
import { Effect } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { runPipeline } from "../../shared/engine/main.ts"
import { definePipeline } from "../../shared/engine/pipeline.ts"
import { makeRecordingReporter } from "../../shared/engine/reporter.ts"
import { makeMemoryStore } from "../../shared/engine/store.ts"
import { makeTempDir } from "../data/fixtures.ts"

const temp = await makeTempDir("lwi-main-hooks-")
afterAll(() => temp.cleanup())

const broken = definePipeline({
  name: "broken-hooks",
  description: "a pipeline whose figure and headline builders throw",
  flags: {},
  run: () => Effect.succeed({ answer: 42 }),
  report: ({ answer }) => `The answer is ${answer}.`,
  figures: () => {
    throw new Error("no such series 'loss'")
  },
  headline: () => {
    throw new Error("headline exploded")
  }
})

test("a figure or headline builder that throws is warned about and noted in report.md; the run and results.json stand", async () => {
  const out = path.join(temp.dir, "runs", "broken")
  const recorder = makeRecordingReporter()
  const r = await runPipeline(broken, { argv: ["--out", out], reporter: recorder.reporter, store: makeMemoryStore() })
  expect(r.exitCode).toBe(0)
  const results = JSON.parse(fs.readFileSync(path.join(out, "results.json"), "utf8"))
  expect(results.answer).toBe(42)
  expect(results.headline).toEqual([])
  expect(recorder.warnings.filter((w) => w.includes("not drawn"))).toEqual([
    "headline numbers not drawn: the pipeline's builder failed: headline exploded",
    "figures not drawn: the pipeline's builder failed: no such series 'loss'"
  ])
  const md = fs.readFileSync(path.join(out, "report.md"), "utf8")
  expect(md).toContain("The answer is 42.")
  expect(md).toContain("**Figures not drawn**: the pipeline's figure builder failed (no such series 'loss').")
  expect(fs.existsSync(path.join(out, "report.html"))).toBe(true)
})
