/**
 * results.json's published schema: the committed JSON Schemas are current; each pipeline's output type matches its
 * schema (checked by the compiler, below); a run writes `config` and `flags`; a results.json that does not match its
 * schema fails the run naming the field, before anything is written; and a real run's results.json passes another
 * tool's validator (ajv, JSON Schema 2020-12) with nothing undeclared in it.
 */
import { afterAll, describe, expect, test } from "bun:test"
import Ajv2020 from "ajv/dist/2020.js"
import { Effect, Schema } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { type Pipeline, definePipeline } from "../../shared/engine/pipeline.ts"
import { runPipeline } from "../../shared/engine/main.ts"
import { makeRecordingReporter } from "../../shared/engine/reporter.ts"
import { type ResultsHead, type ResultsSchema, encodeResults, fieldPath, jsonNumbersOnly, resultsIssues, resultsSchema } from "../../shared/engine/results.ts"
import { makeMemoryStore } from "../../shared/engine/store.ts"
import { pipelineResults } from "../../pipelines/lib/results.ts"
import { REGENERATE, SCHEMAS_DIR, renderSchemas, staleSchemas } from "../../scripts/results-schema.ts"
import type { baseline } from "../../pipelines/baseline.ts"
import type { demo } from "../../pipelines/demo.ts"
import type { exampleAblation } from "../../pipelines/example-ablation.ts"
import type { lenetAblation } from "../../pipelines/lenet-ablation.ts"
import type { lenetInitGrid } from "../../pipelines/lenet-init-grid.ts"
import type { resnetNobn } from "../../pipelines/resnet-nobn.ts"
import type { circleNormalization } from "../../pipelines/circle-normalization.ts"
import type { deepStats } from "../../pipelines/deep-stats.ts"
import type { dropoutEnsemble } from "../../pipelines/dropout-ensemble.ts"
import type { enhancedInit } from "../../pipelines/enhanced-init.ts"
import { makeTempDir } from "../data/fixtures.ts"

// The compiler's half of the check (`npm run typecheck`): every pipeline's output is assignable to its schema's own
// part, so a field the schema requires that the pipeline lost, or a type changed on one side only, fails to compile.
// (A field the pipeline added that the schema lacks is caught at run time below: decoding with excess rejected.)
// The LW pipelines type `layerStats` as report rows (pipelines/lib/report.ts LayerStatsRow), which leave out the
// `hasActivation` that steps/freeze.ts writes: left out here, checked at run time (tests/report/browser.test.ts).
type OutOf<P> = P extends Pipeline<any, infer O, any> ? Omit<O, "layerStats"> : never
type Own<S extends ResultsSchema> = Omit<S["Type"], keyof ResultsHead | "layerStats">
type Fits<A extends B, B> = A
export type PipelinesFitTheirSchemas = [
  Fits<OutOf<typeof demo>, Own<typeof pipelineResults.demo>>,
  Fits<OutOf<typeof baseline>, Own<typeof pipelineResults.baseline>>,
  Fits<OutOf<typeof exampleAblation>, Own<(typeof pipelineResults)["example-ablation"]>>,
  Fits<OutOf<typeof lenetAblation>, Own<(typeof pipelineResults)["lenet-ablation"]>>,
  Fits<OutOf<typeof lenetInitGrid>, Own<(typeof pipelineResults)["lenet-init-grid"]>>,
  Fits<OutOf<typeof resnetNobn>, Own<(typeof pipelineResults)["resnet-nobn"]>>,
  Fits<OutOf<typeof deepStats>, Own<(typeof pipelineResults)["deep-stats"]>>,
  Fits<OutOf<typeof dropoutEnsemble>, Own<(typeof pipelineResults)["dropout-ensemble"]>>,
  Fits<OutOf<typeof circleNormalization>, Own<(typeof pipelineResults)["circle-normalization"]>>,
  Fits<OutOf<typeof enhancedInit>, Own<(typeof pipelineResults)["enhanced-init"]>>
]

const root = path.resolve(import.meta.dir, "../..")
const temp = await makeTempDir("lwi-results-")
afterAll(() => temp.cleanup())

/** ajv in JSON Schema 2020-12 mode, strict about the schema itself (unknown keywords are errors). */
const jsonSchemaValidator = () => new Ajv2020({ strict: true, allErrors: true })

describe("the published JSON Schemas (schemas/)", () => {
  test("are current: regenerate with the command in the message when this fails", () => {
    const stale = staleSchemas()
    expect(stale, `stale or missing in schemas/: ${stale.join(", ")}; regenerate: ${REGENERATE}`).toEqual([])
    // Nothing else in schemas/ (a pipeline removed or renamed leaves no orphan behind).
    expect(fs.readdirSync(SCHEMAS_DIR).sort()).toEqual([...renderSchemas().keys()].sort())
  })

  test("are valid JSON Schema 2020-12 documents, one per pipeline in pipelines/", () => {
    const ajv = jsonSchemaValidator()
    for (const text of renderSchemas().values()) expect(() => ajv.compile(JSON.parse(text))).not.toThrow()
    // The files in pipelines/ that run a pipeline (cache.ts and report.ts are commands over its outputs).
    const pipelines = fs
      .readdirSync(path.join(root, "pipelines"))
      .filter((f) => f.endsWith(".ts") && fs.readFileSync(path.join(root, "pipelines", f), "utf8").includes("runMain("))
      .map((f) => f.slice(0, -3))
    expect(Object.keys(pipelineResults).sort()).toEqual(pipelines.sort())
  })

  test("say `number` where results.json holds one (JSON.stringify writes no NaN strings)", () => {
    const codec = { anyOf: [{ type: "number" }, { type: "string", enum: ["Infinity", "-Infinity", "NaN"] }, { type: "null" }] }
    expect(jsonNumbersOnly({ a: codec, b: { anyOf: [codec.anyOf[0], codec.anyOf[1]], description: "d" } })).toEqual({
      a: { anyOf: [{ type: "number" }, { type: "null" }] },
      b: { type: "number", description: "d" }
    })
    for (const text of renderSchemas().values()) expect(text).not.toContain('"NaN"')
  })
})

describe("checking results.json before writing it", () => {
  const Own = resultsSchema("t", { experiments: Schema.Array(Schema.Struct({ id: Schema.String, loss: Schema.Finite })) }, "a test")

  test("issues name the field by its path", () => {
    expect(fieldPath(["experiments", 2, "testLoss"])).toBe("experiments[2].testLoss")
    const issues = resultsIssues(Own, { pipeline: "t", experiments: [{ id: "a", loss: 1 }, { id: "b", loss: null }] })
    expect(issues.map((i) => i.field)).toContain("experiments[1].loss")
  })

  const pipeline = (loss: number) =>
    definePipeline({
      name: "t",
      description: "a pipeline whose output is given",
      flags: {
        epochs: { kind: "int", default: 8, quick: 2, check: "number.integer >= 1", doc: "epochs" },
        lr: { kind: "number", default: 0.1, doc: "learning rate" },
        model: { kind: "enum", values: ["a", "b"], default: "a", doc: "model" }
      },
      run: () => Effect.succeed({ experiments: [{ id: "x", loss }] })
    })
  const runIt = (loss: number, argv: string[], out: string) => {
    const recorder = makeRecordingReporter()
    return runPipeline(pipeline(loss), { argv: [...argv, "--out", out], reporter: recorder.reporter, store: makeMemoryStore(), results: Own }).then(
      (r) => ({ ...r, lines: recorder.lines, warnings: recorder.warnings })
    )
  }

  test("a run records every flag but --out/--cache/--help in `config`, and those that differ from the mode's defaults in `flags`", async () => {
    const out = path.join(temp.dir, "runs", "ok")
    const r = await runIt(0.5, ["--quick", "--lr", "0.5", "--model", "a", "--seed", "3"], out)
    expect(r.exitCode).toBe(0)
    const written = JSON.parse(fs.readFileSync(path.join(out, "results.json"), "utf8"))
    expect(written.config).toEqual({ epochs: 2, lr: 0.5, model: "a", seed: 3, quick: true, fresh: false })
    // epochs is --quick's value under --quick, model its default: only lr differs.
    expect(written.flags).toEqual({ lr: 0.5 })
  })

  test("a mismatch fails the run, naming the field, and writes nothing", async () => {
    const out = path.join(temp.dir, "runs", "bad")
    // NaN: JSON.stringify writes null, which the schema refuses where a number is required.
    const r = await runIt(Number.NaN, [], out)
    expect(r.exitCode).toBe(1)
    expect(r.lines.join("\n")).toContain("ResultsMismatch: results.json of t does not match its schema at experiments[0].loss")
    expect(r.lines.join("\n")).toContain(REGENERATE)
    expect(fs.existsSync(out) ? fs.readdirSync(out) : []).toEqual([])
  })

  test("encodeResults gives the text it checked", async () => {
    const results = { pipeline: "t", experiments: [{ id: "x", loss: 1 }] }
    const head = Schema.Struct({ pipeline: Schema.String, experiments: Schema.Array(Schema.Struct({ loss: Schema.Finite })) })
    const text = await Effect.runPromise(encodeResults("t", head, results))
    expect(JSON.parse(text)).toEqual(results)
  })
})

describe("a real run's results.json, read by another tool", () => {
  test("demo --quick: valid against schemas/demo.results.schema.json (ajv, 2020-12), nothing undeclared", async () => {
    const out = path.join(temp.dir, "real", "demo")
    const p = Bun.spawn(
      [process.execPath, "run", "pipelines/demo.ts", "--quick", "--epochs", "1", "--samples", "200", "--backend", "cpu", "--cache", path.join(temp.dir, "cache"), "--out", out],
      { cwd: root, stdout: "pipe", stderr: "pipe", env: { ...process.env, LWI_CACHE: "", LWI_BACKEND: "" } }
    )
    const [stderr, code] = await Promise.all([new Response(p.stderr).text(), p.exited])
    expect(code, stderr.slice(-2000)).toBe(0)
    const written = JSON.parse(fs.readFileSync(path.join(out, "results.json"), "utf8"))
    const validate = jsonSchemaValidator().compile(JSON.parse(fs.readFileSync(path.join(SCHEMAS_DIR, "demo.results.schema.json"), "utf8")))
    expect(validate(written), JSON.stringify(validate.errors)).toBe(true)
    expect(resultsIssues(pipelineResults.demo, written, { excess: "error" })).toEqual([])
    expect(written.flags).toEqual({ epochs: 1, samples: 200, backend: "cpu" })
    // The validator is not a rubber stamp: the same file with a string accuracy is refused, at that field.
    const broken = structuredClone(written)
    broken.experiments[0].testAccuracy = "90 %"
    expect(validate(broken)).toBe(false)
    expect(validate.errors?.map((e) => e.instancePath)).toContain("/experiments/0/testAccuracy")
  })
})
