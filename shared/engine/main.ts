/**
 * Entry point of every pipeline: `if (import.meta.main) runMain(pipeline)`.
 *
 * Parses and validates flags (exit 2 on a usage error), sets up the cache, runner and reporter, runs the pipeline,
 * checks what it is about to write against the pipeline's results.json schema (pipelines/lib/results.ts; a mismatch
 * fails the run, naming the field, before anything is written), writes `<out>/results.json` and the report files
 * atomically, then rebuilds the run index of the directory above `<out>` (shared/report/run-index.ts; not when that
 * is a directory shared with everything else, such as /tmp: `runIndexDir`).
 * SIGINT/SIGTERM interrupt the run between effects: steps flush their checkpoint, nothing half-written is left, and
 * the process exits 130. Typed errors print their message (no stack trace) and exit 1.
 */
import { Cause, Effect, Exit, Fiber, Layer } from "effect"
import * as os from "node:os"
import * as path from "node:path"
import { type FlagDefs, UsageError, commonFlags, helpText, parseFlags } from "./flags.ts"
import { ResultsHead, type ResultsSchema, encodeResults } from "./results.ts"
import type { Pipeline, PipelineConfig } from "./pipeline.ts"
import { Reporter, type ReporterShape, makeConsoleReporter } from "./reporter.ts"
import { Runner, type StepRecord, makeRunner, runtime } from "./runner.ts"
import { openQueue, type QueueClient } from "./queue/client.ts"
import { Store, type StoreShape, makeDiskStore, writeFileAtomic } from "./store.ts"
import { codeProvenance } from "./provenance.ts"
import { writeRunReport } from "../report/write.ts"
import { runIndexDir, writeRunIndex } from "../report/run-index.ts"
import { type RunStatus, recordRun } from "./run-log.ts"

export interface RunResult {
  readonly exitCode: number
  readonly results?: Record<string, unknown>
}

export interface RunOptions {
  readonly argv?: ReadonlyArray<string>
  readonly env?: Readonly<Record<string, string | undefined>>
  readonly reporter?: ReporterShape
  readonly store?: StoreShape
  /** The schema results.json must match; default: the pipeline's in pipelines/lib/results.ts, else the head's. */
  readonly results?: ResultsSchema
  /** Install SIGINT/SIGTERM handlers (the CLI does; tests calling runPipeline directly need not). */
  readonly handleSignals?: boolean
}

export const runPipeline = async <F extends FlagDefs, Out extends Record<string, unknown>, E>(
  pipeline: Pipeline<F, Out, E>,
  options: RunOptions = {}
): Promise<RunResult> => {
  const reporter = options.reporter ?? makeConsoleReporter()
  const defs = { ...commonFlags, ...pipeline.flags }
  let config: PipelineConfig<F>
  try {
    config = parseFlags(defs, options.argv ?? process.argv.slice(2), options.env ?? process.env) as PipelineConfig<F>
  } catch (e) {
    if (!(e instanceof UsageError)) throw e
    reporter.line(`error: ${e.message}\nrun with --help to see the flags`)
    return { exitCode: 2 }
  }
  if (config.help) {
    reporter.line(helpText(`bun run ${usagePath(pipeline.name)}`, pipeline.description, defs))
    return { exitCode: 0 }
  }
  for (const note of config.notes) reporter.line(note)
  const out = config.out || path.join("runs", pipeline.name)
  const store = options.store ?? makeDiskStore(path.resolve(config.cache))
  const runner = makeRunner({ fresh: config.fresh })
  const started = new Date()
  const t0 = performance.now()
  let queue: QueueClient | undefined

  const program = Effect.gen(function* () {
    // Files half-written by a process killed mid-write are never read (writes are renamed into place), but they take
    // space: remove those of dead processes, older than 10 minutes, and say so.
    const swept = yield* store.sweepTemporaries(10 * 60_000)
    if (swept.files > 0) {
      reporter.warn(`removed ${swept.files} half-written temp file(s) (${(swept.bytes / 2 ** 20).toFixed(1)} MiB) left in the cache by killed processes`)
    }
    const setup = pipeline.setup ? yield* pipeline.setup(config) : { facts: {} }
    runner.environment = setup.environment
    if (config.queue) {
      // The queue is named by the environment (shared/engine/queue/protocol.ts), so it opens after the setup.
      queue = yield* openQueue({ url: config.queue, runtime: runtime(), environment: setup.environment, reporter })
      runner.remote = queue
      reporter.line(`queue: steps not in the cache go to ${config.queue} (queue ${queue.name}); workers must share --cache ${store.location}`)
    }
    const own = yield* pipeline.run(config)
    const seconds = (performance.now() - t0) / 1000
    const results = {
      pipeline: pipeline.name,
      seed: config.seed,
      quick: config.quick,
      backend: "none",
      ...setup.facts,
      startedAt: started.toISOString(),
      seconds,
      machine: machine(),
      code: codeProvenance(),
      environment: setup.environment ?? null,
      cache: store.location,
      ...flagRecord(defs, config),
      steps: runner.records.map((r: StepRecord) => ({ ...r })),
      headline: drawn("headline numbers", () => pipeline.headline?.(own) ?? [], reporter),
      ...own
    }
    const schema = options.results ?? pipeline.results ?? ResultsHead
    yield* writeFileAtomic(path.join(out, "results.json"), yield* encodeResults(pipeline.name, schema, results))
    const section = pipeline.report ? pipeline.report(own, config) : ""
    // Training is done and results.json written: a figure builder that throws costs the figures, said in the
    // console and in the report, not the run (a figure that fails to draw is handled in writeRunReport, per figure).
    let figuresFailed = ""
    const figures = drawn("figures", () => pipeline.figures?.(own, config) ?? [], reporter, (m) => (figuresFailed = m))
    const note = figuresFailed && `\n\n**Figures not drawn**: the pipeline's figure builder failed (${figuresFailed}).\n`
    const written = yield* writeRunReport({ out, results, section: section + note, figures })
    reporter.line(`results: ${path.join(out, "results.json")}  report: ${Object.values(written).join("  ")}`)
    // The index is a convenience over the runs beside this one: a failure to write it is a warning, not a failed run.
    const indexDir = runIndexDir(out, { cwd: process.cwd(), home: os.homedir(), tmp: os.tmpdir() })
    if ("reason" in indexDir) reporter.line(`run index: not written (${indexDir.reason})`)
    else
      yield* writeRunIndex(indexDir.dir).pipe(
        Effect.match({
          onSuccess: (index) => reporter.line(`run index: ${index.file} (${index.runs.length} runs)`),
          onFailure: (e) => reporter.warn(`run index not written: ${e.message}`)
        })
      )
    return results
  }).pipe(
    Effect.provide(
      Layer.mergeAll(
        Layer.succeed(Store, store),
        Layer.succeed(Runner, runner),
        Layer.succeed(Reporter, reporter)
      )
    )
  )

  // The run log in the cache (shared/engine/run-log.ts): `gc` keeps what recent runs used, and everything written
  // since a run that is still going started. Only for a cache on disk that this run opened itself.
  const cacheRoot = options.store === undefined ? path.resolve(config.cache) : undefined
  const logRun = (status: RunStatus) =>
    cacheRoot === undefined
      ? Promise.resolve()
      : Effect.runPromise(
          recordRun(cacheRoot, { pipeline: pipeline.name, out, startedAt: started.toISOString(), status, keys: runner.records.map((r) => r.key) }).pipe(
            Effect.catch((e) => Effect.sync(() => reporter.warn(`run log not written: ${e.message}`)))
          )
        )
  await logRun("running")

  const fiber = Effect.runFork(program)
  const onSignal = (signal: string) => () => {
    reporter.line(`\n${signal}: stopping; progress is checkpointed, run the same command again to resume`)
    fiber.interruptUnsafe()
  }
  const handlers = options.handleSignals ? { SIGINT: onSignal("SIGINT"), SIGTERM: onSignal("SIGTERM") } : undefined
  if (handlers) for (const [s, h] of Object.entries(handlers)) process.on(s, h)
  const exit = await Effect.runPromise(Fiber.await(fiber))
  if (handlers) for (const [s, h] of Object.entries(handlers)) process.off(s, h)
  await queue?.close()

  await logRun(Exit.isSuccess(exit) ? "ok" : Cause.hasInterruptsOnly(exit.cause) ? "interrupted" : "failed")
  if (Exit.isSuccess(exit)) return { exitCode: 0, results: exit.value }
  if (Cause.hasInterruptsOnly(exit.cause)) return { exitCode: 130 }
  reporter.line(`error: ${describeFailure(exit.cause)}`)
  return { exitCode: 1 }
}

const describeFailure = (cause: Cause.Cause<unknown>): string => {
  const failure = Cause.findErrorOption(cause)
  if (failure._tag === "Some") {
    const e = failure.value as { _tag?: string; message?: string }
    return e._tag ? `${e._tag}: ${e.message ?? String(e)}` : String(e.message ?? e)
  }
  return Cause.pretty(cause)
}

/** The script the user ran (e.g. scripts/lw-evidence.ts), relative to here; pipelines/<name>.ts when run otherwise. */
const usagePath = (name: string): string => {
  const script = process.argv[1]
  if (script !== undefined && /\.(ts|js)$/.test(script) && !/(^|\/)(node_modules|tests)\//.test(script)) {
    return path.relative(process.cwd(), script) || script
  }
  return `pipelines/${name}.ts`
}

/** A pipeline hook's value, or [] with a one-line warning when it throws (`onFailure` gets the message). */
const drawn = <A>(what: string, f: () => ReadonlyArray<A>, reporter: ReporterShape, onFailure?: (message: string) => void): ReadonlyArray<A> => {
  try {
    return f()
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e)
    reporter.warn(`${what} not drawn: the pipeline's builder failed: ${message}`)
    onFailure?.(message)
    return []
  }
}

/**
 * Flags that are not the run's configuration: where it wrote (results.json is there), the cache (the head's
 * `cache`), where its steps ran (--queue), --help. Two runs of the same command into different places have the same `config`.
 */
const placeFlags = new Set(["out", "cache", "queue", "help"])

/**
 * results.json's `config` (every flag's value but the places) and `flags` (those that differ from the pipeline's
 * default in this mode, --quick's value under --quick, seed and quick aside: what the run index shows).
 */
export const flagRecord = (defs: FlagDefs, config: Readonly<Record<string, unknown>>) => {
  const values = Object.keys(defs).filter((k) => !placeFlags.has(k)).map((k) => [k, config[k]] as const)
  const base = (k: string) => (config.quick === true && defs[k]!.quick !== undefined ? defs[k]!.quick : defs[k]!.default)
  return {
    config: Object.fromEntries(values),
    flags: Object.fromEntries(values.filter(([k, v]) => k !== "seed" && k !== "quick" && v !== base(k)))
  }
}

export const machine = () => ({
  cpu: os.cpus()[0]?.model ?? "unknown",
  cores: os.cpus().length,
  memoryGiB: Math.round(os.totalmem() / 2 ** 30),
  platform: `${os.platform()} ${os.arch()}`,
  runtime: typeof Bun !== "undefined" ? `bun ${Bun.version}` : `node ${process.version}`
})

/** For `pipelines/*.ts`: run from the command line and exit with the run's code. */
export const runMain = <F extends FlagDefs, Out extends Record<string, unknown>, E>(pipeline: Pipeline<F, Out, E>) =>
  runPipeline(pipeline, { handleSignals: true }).then(
    ({ exitCode }) => process.exit(exitCode),
    (e) => {
      process.stderr.write(`internal error (please report): ${(e as Error).stack ?? e}\n`)
      process.exit(70)
    }
  )
