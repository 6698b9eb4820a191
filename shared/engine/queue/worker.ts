/**
 * The worker's side of the queue: takes a step's job from the queue of its own environment, checks that its key
 * context for the step (code, runtime, environment) is the one the pipeline computed, and runs the step through the
 * same runner as a local run, against the shared cache: a key already cached is a hit, claims stop two workers (or a
 * worker and a local run) computing one key, and a step resumes from its last checkpoint. The result is in the cache
 * under the job's key when the job completes; the pipeline reads it from there.
 *
 * Faults are BullMQ's: a worker holds a lock on its job, renewed every `lockMs / 2`; a worker that dies (SIGKILL)
 * stops renewing, and another worker's stalled-job check moves the job back to the queue after `lockMs`, where a
 * worker takes it and resumes from the checkpoint the dead one left. SIGTERM/SIGINT stop gracefully: the running
 * step is interrupted (it saves its checkpoint), its job goes back to the queue, the worker exits.
 */
import { DelayedError, UnrecoverableError, type Job, Worker } from "bullmq"
import { Cause, Effect, Exit, Fiber, Layer, Schema } from "effect"
import * as os from "node:os"
import { Reporter, type ReporterShape } from "../reporter.ts"
import { Runner, keyContext, keyOf, makeRunner, runStep } from "../runner.ts"
import type { Step } from "../step.ts"
import { Store, type StoreShape } from "../store.ts"
import { canonicalJson } from "../hash.ts"
import { WorkerRefused } from "./errors.ts"
import { type JobOutcome, StepJob, connectionFor, encodeFailure, queueName } from "./protocol.ts"

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyStep = Step<any, any, any, any>

export interface WorkerOptions {
  readonly url: string
  readonly store: StoreShape
  readonly reporter: ReporterShape
  /** The steps this worker can run, by name (steps/index.ts). */
  readonly steps: Readonly<Record<string, AnyStep>>
  readonly runtime: string
  /** This process's tensor environment (after its backend is set up): names the queue, goes into keys. */
  readonly environment: Readonly<Record<string, unknown>> | undefined
  /** Jobs at once. 1: steps use the cores through the backend's threads. */
  readonly concurrency?: number
  /** A job's lock; a dead worker's job is taken over within about this long. 30 s (BullMQ's default). */
  readonly lockMs?: number
  /** In messages and job outcomes; default host:pid. */
  readonly name?: string
}

export interface RunningWorker {
  readonly name: string
  readonly queue: string
  /** Interrupts the running steps (they checkpoint), returns their jobs to the queue, disconnects. */
  readonly stop: () => Promise<void>
}

/** The fields of two key contexts that differ ("code", "runtime", "environment.threads", ...). */
export const contextDifferences = (mine: Readonly<Record<string, unknown>>, theirs: Readonly<Record<string, unknown>>): string[] => {
  const differ = (a: unknown, b: unknown) => canonicalJson(a ?? null) !== canonicalJson(b ?? null)
  const out: string[] = []
  for (const k of [...new Set([...Object.keys(mine), ...Object.keys(theirs)])].sort()) {
    const [a, b] = [mine[k], theirs[k]]
    if (!differ(a, b)) continue
    if (a && b && typeof a === "object" && typeof b === "object" && !Array.isArray(a)) {
      out.push(...contextDifferences(a as Record<string, unknown>, b as Record<string, unknown>).map((f) => `${k}.${f}`))
    } else out.push(k)
  }
  return out
}

export const startWorker = async (options: WorkerOptions): Promise<RunningWorker> => {
  const name = options.name ?? `${os.hostname()}:${process.pid}`
  const queue = queueName(options.runtime, options.environment)
  const { reporter, store } = options
  const running = new Set<Fiber.Fiber<unknown, unknown>>()
  let stopping = false

  /** One job: check, run through the runner, report the outcome. Fails with the wire form of the step's error. */
  const program = (data: StepJob) =>
    Effect.gen(function* () {
      const step = options.steps[data.step]
      if (step === undefined) {
        return yield* new WorkerRefused({ step: data.step, key: data.key, worker: name, differences: ["step registry (no step of that name)"] })
      }
      const runner = yield* Runner
      const differences = contextDifferences(yield* keyContext(step), data.context)
      if (differences.length > 0) return yield* new WorkerRefused({ step: data.step, key: data.key, worker: name, differences })
      const input = yield* Schema.decodeUnknownEffect(step.input)(data.input)
      const { key } = yield* keyOf(step, input)
      if (key !== data.key) return yield* new WorkerRefused({ step: data.step, key: data.key, worker: name, differences: ["input encoding (its key)"] })
      yield* runStep(step, input)
      const record = runner.records.at(-1)
      return { worker: name, resumed: record?.resumed ?? false, cached: record?.cached ?? false } satisfies JobOutcome
    }) as Effect.Effect<JobOutcome, unknown, Runner | Store | Reporter> // steps need only the engine's services

  const process_ = async (job: Job, token?: string): Promise<string> => {
    const data = Schema.decodeUnknownSync(StepJob)(job.data)
    // A runner per job: its records and in-flight map are that job's; code fingerprints are shared per process.
    const runner = makeRunner({ fresh: data.fresh, ...(options.environment ? { environment: options.environment } : {}) })
    const fiber = Effect.runFork(
      program(data).pipe(
        Effect.provide(Layer.mergeAll(Layer.succeed(Store, store), Layer.succeed(Runner, runner), Layer.succeed(Reporter, reporter)))
      )
    )
    running.add(fiber)
    const exit = await Effect.runPromise(Fiber.await(fiber))
    running.delete(fiber)
    if (Exit.isSuccess(exit)) return JSON.stringify(exit.value)
    if (Cause.hasInterruptsOnly(exit.cause)) {
      // Stopped (SIGTERM): back to the queue at once, for this or another worker to resume from the checkpoint.
      await job.moveToDelayed(Date.now(), token)
      throw new DelayedError()
    }
    const failure = Cause.findErrorOption(exit.cause)
    const error = failure._tag === "Some" ? failure.value : new Error(Cause.pretty(exit.cause))
    reporter.warn(`${data.step} [${data.key.slice(0, 10)}] failed: ${(error as Error).message}`)
    // A step's failure is deterministic (same key, same code): retrying it would fail again.
    throw new UnrecoverableError(encodeFailure(error))
  }

  const lockMs = options.lockMs ?? 30_000
  const worker = new Worker(queue, process_, {
    connection: connectionFor(options.url),
    name,
    concurrency: options.concurrency ?? 1,
    lockDuration: lockMs,
    stalledInterval: lockMs,
    // A job whose workers keep dying is failed after this many takeovers, not passed around forever.
    maxStalledCount: 3
  })
  // ioredis retries a lost connection forever, raising the same error each time: said once per distinct message.
  const errors = new Set<string>()
  worker.on("error", (e) => {
    if (!errors.has(e.message)) reporter.warn(`queue ${options.url}: ${e.message} (retrying)`)
    errors.add(e.message)
  })
  worker.on("stalled", (id) => reporter.warn(`job ${id.slice(0, 10)} stalled (its worker stopped renewing its lock): back in the queue`))
  await worker.waitUntilReady()
  reporter.line(`worker ${name} listening on ${options.url} queue ${queue} (cache ${store.location})`)
  return {
    name,
    queue,
    stop: async () => {
      if (stopping) return
      stopping = true
      const closing = worker.close()
      await Promise.all([...running].map((f) => Effect.runPromise(Fiber.interrupt(f))))
      await closing
    }
  }
}
