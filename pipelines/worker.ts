/**
 * worker — runs pipeline steps that pipelines started with `--queue` submitted, against the shared cache:
 *
 *   bun run pipelines/worker.ts --queue redis://HOST:PORT --cache DIR [--backend torch] [--threads 1]
 *
 * Start as many as there are cores to spare, on any machines that see the same cache directory (README: "Running a
 * grid on several machines"). A worker serves the pipelines whose environment (backend build, library versions,
 * threads where they change results) is its own: give it the same --backend and --threads as the pipeline.
 * SIGTERM/SIGINT stop it gracefully: the running step checkpoints and its job goes back to the queue.
 */
import { Effect } from "effect"
import * as path from "node:path"
import { backendFlags, setupBackend } from "../shared/backend/setup.ts"
import { commonFlags, parseFlagsOrExit } from "../shared/engine/flags.ts"
import { startWorker } from "../shared/engine/queue/worker.ts"
import { Reporter, makeConsoleReporter } from "../shared/engine/reporter.ts"
import { runtime } from "../shared/engine/runner.ts"
import { makeDiskStore } from "../shared/engine/store.ts"
import { stepRegistry } from "../steps/index.ts"

const flags = {
  queue: { ...commonFlags.queue, doc: "redis://HOST:PORT of the queue the pipelines submit to (required)" },
  cache: { ...commonFlags.cache, doc: "the step cache the pipelines use (a shared directory across machines)" },
  ...backendFlags,
  concurrency: { kind: "int", default: 1, check: "1 <= number.integer <= 64", doc: "jobs at once (steps use the cores through --threads)" },
  lockSeconds: {
    kind: "number",
    default: 30,
    check: "number >= 1",
    doc: "a job's lock: a dead worker's job is taken over by another after about this long"
  },
  help: commonFlags.help
} as const

const main = async () => {
  const config = parseFlagsOrExit(flags)
  if (config.help) {
    console.log("bun run pipelines/worker.ts --queue redis://HOST:PORT --cache DIR [--backend B] [--threads N]\n\nSee README: Running a grid on several machines.")
    return 0
  }
  const reporter = makeConsoleReporter()
  if (!config.queue) {
    reporter.line("error: --queue redis://HOST:PORT is required (or LWI_QUEUE)\nrun with --help to see the flags")
    return 2
  }
  const setup = await Effect.runPromise(setupBackend(config).pipe(Effect.provideService(Reporter, reporter)))
  const store = makeDiskStore(path.resolve(config.cache))
  const worker = await startWorker({
    url: config.queue,
    store,
    reporter,
    steps: stepRegistry,
    runtime: runtime(),
    environment: setup.environment,
    concurrency: config.concurrency,
    lockMs: config.lockSeconds * 1000
  })
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => () => {
      reporter.line(`${signal}: stopping worker ${worker.name}; its running step checkpoints and goes back to the queue`)
      void worker.stop().then(resolve)
    }
    process.once("SIGINT", stop("SIGINT"))
    process.once("SIGTERM", stop("SIGTERM"))
  })
  return 0
}

if (import.meta.main) {
  main().then(
    (code) => process.exit(code),
    (e) => {
      process.stderr.write(`error: ${(e as Error).message ?? e}\n`)
      process.exit(1)
    }
  )
}
