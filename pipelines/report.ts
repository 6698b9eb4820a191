/**
 * report — rebuilds what people read from what runs wrote, without running anything:
 *   the run index `<runs>/index.html` (shared/report/run-index.ts), and with --run, one run's report
 *   (report.md, report.html, figures/) from its results.json, through its pipeline's own report and figures hooks.
 *
 *   npx bun run pipelines/report.ts [--runs runs]          rebuild runs/index.html
 *   npx bun run pipelines/report.ts --run runs/lenet-ablation   rebuild that run's report, then its runs dir's index
 *
 * Exit 0 when done, 1 on a failure (printed, naming the file), 2 on a usage error.
 */
import { Effect } from "effect"
import { existsSync } from "node:fs"
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { UsageError, helpText, parseFlags } from "../shared/engine/flags.ts"
import type { Pipeline } from "../shared/engine/pipeline.ts"
import { consoleReporterLayer } from "../shared/engine/reporter.ts"
import { ResultsHead, resultsIssues } from "../shared/engine/results.ts"
import { BadConfig } from "../shared/errors.ts"
import { writeRunIndex } from "../shared/report/run-index.ts"
import { writeRunReport } from "../shared/report/write.ts"
import { resultsSchemaOf } from "./lib/results.ts"

const flags = {
  runs: { kind: "string", default: "runs", doc: "the runs directory whose index.html to rebuild (each run one level below it)" },
  run: { kind: "string", default: "", doc: "a run's directory (its --out): rebuild its report from its results.json first, then its runs dir's index" },
  help: { kind: "boolean", default: false, doc: "show this help" }
} as const

type AnyPipeline = Pipeline<any, Record<string, unknown>, unknown>

/** The pipeline `name` as pipelines/<name>.ts exports it (importing a pipeline runs nothing). */
const loadPipeline = (name: string) =>
  Effect.gen(function* () {
    const file = path.join(import.meta.dir, `${name}.ts`)
    const notFound = (why: string) =>
      new BadConfig({ field: "results.json pipeline", value: name, expected: `a pipeline in pipelines/ (${why}); only those reports can be rebuilt` })
    if (!/^[a-z0-9-]+$/.test(name) || !existsSync(file)) return yield* notFound(`no ${path.relative(process.cwd(), file)}`)
    const module = (yield* Effect.promise(() => import(file))) as Record<string, unknown>
    const found = Object.values(module).find(
      (v): v is AnyPipeline => typeof v === "object" && v !== null && (v as AnyPipeline).name === name && typeof (v as AnyPipeline).run === "function"
    )
    return found ?? (yield* notFound(`${file} exports no pipeline named ${name}`))
  })

/** Rebuilds one run's report from its results.json. */
const rebuildRun = (dir: string) =>
  Effect.gen(function* () {
    const file = path.join(dir, "results.json")
    const text = yield* Effect.tryPromise({
      try: () => fs.readFile(file, "utf8"),
      catch: (e) => new BadConfig({ field: "--run", value: dir, expected: `a run directory with a results.json (${(e as NodeJS.ErrnoException).code ?? e})` })
    })
    const results = yield* Effect.try({
      try: () => JSON.parse(text) as Record<string, unknown>,
      catch: (e) => new BadConfig({ field: file, value: "not JSON", expected: `results.json as a run writes it (${(e as Error).message})` })
    })
    const name = String(results.pipeline)
    const pipeline = yield* loadPipeline(name)
    // The hooks read the run's own fields: they must have the shape this code's pipeline writes.
    const [issue] = resultsIssues(resultsSchemaOf(name) ?? ResultsHead, results)
    if (issue !== undefined) {
      return yield* new BadConfig({
        field: `${file}: ${issue.field}`,
        value: issue.issue,
        expected: `results.json as pipelines/${name}.ts writes it now (an older run: run the pipeline again, its steps come from the cache)`
      })
    }
    // Checked against the pipeline's schema above: its hooks get what its run returned, and its flags as they were
    // (the types are the pipeline's own, unknown to this command, hence the casts).
    const config = { ...(results.config as Record<string, unknown>), explicit: new Set(Object.keys(results.flags as object)) }
    const section = pipeline.report ? pipeline.report(results, config as never) : ""
    const figures = pipeline.figures ? pipeline.figures(results, config as never) : []
    return yield* writeRunReport({ out: dir, results: results as never, section, figures })
  })

export const main = (argv: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const config = parseFlags(flags, argv)
    if (config.help) return console.log(helpText("bun run pipelines/report.ts", "rebuild the run index and a run's report", flags))
    if (config.run !== "") {
      const written = yield* rebuildRun(config.run)
      console.log(`report: ${Object.values(written).join("  ")}`)
    }
    const runsDir = config.run !== "" ? path.dirname(path.resolve(config.run)) : config.runs
    const index = yield* writeRunIndex(runsDir)
    const unreadable = index.runs.filter((r) => !r.ok).length
    console.log(`run index: ${index.file} (${index.runs.length} runs${unreadable > 0 ? `, ${unreadable} unreadable` : ""})`)
  }).pipe(Effect.provide(consoleReporterLayer()))

if (import.meta.main) {
  Effect.runPromiseExit(main(process.argv.slice(2))).then((exit) => {
    if (exit._tag === "Success") process.exit(0)
    const error = exit.cause.reasons.find((r) => r._tag === "Fail" || r._tag === "Die")
    const e = error?._tag === "Fail" ? error.error : error?._tag === "Die" ? error.defect : exit.cause
    if (e instanceof UsageError) {
      console.error(`error: ${e.message}\nrun with --help to see the flags`)
      process.exit(2)
    }
    const tagged = e as { _tag?: string; message?: string }
    console.error(`error: ${tagged._tag ? `${tagged._tag}: ` : ""}${tagged.message ?? String(e)}`)
    process.exit(1)
  })
}
