/**
 * The pipeline's side of `--queue redis://HOST:PORT`: a `RemoteRunner` (shared/engine/runner.ts) that submits a step
 * whose key is not in the cache as a BullMQ job whose id IS the key, and waits for it. A key already queued or running
 * (another pipeline of the pool asked for it) is not submitted twice: BullMQ ignores an add with an existing job id,
 * and this pipeline waits on that job. A failed job left by an earlier run is removed and submitted again (a rerun
 * retries, as a local rerun recomputes). Finished jobs are removed: the cache holds results, the queue only work.
 *
 * Waiting: the queue's events wake the waiter; a poll of the job's state every `pollMs` covers an event missed
 * (e.g. emitted between the add and the subscription).
 */
import { Queue, QueueEvents } from "bullmq"
import { Effect } from "effect"
import * as os from "node:os"
import type { ReporterShape } from "../reporter.ts"
import type { RemoteJob, RemoteRunner } from "../runner.ts"
import { type InvalidQueueUrl, QueueUnavailable } from "./errors.ts"
import { type JobOutcome, type StepJob, connectionFor, decodeFailure, queueName, rebuildFailure } from "./protocol.ts"

export interface QueueClientOptions {
  readonly url: string
  /** The runtime and tensor environment of this process: they name the queue (protocol.ts). */
  readonly runtime: string
  readonly environment: unknown
  readonly reporter: ReporterShape
  /** Fallback poll of a job's state. 1 s: a small cost against steps of seconds. */
  readonly pollMs?: number
  /** Warn when a job has waited this long and no worker listens on the queue. 10 s. */
  readonly idleWarnMs?: number
}

export interface QueueClient extends RemoteRunner {
  readonly name: string
  /** Resolves once the server answers (ioredis retries a refused connection meanwhile). */
  readonly ready: () => Promise<void>
  readonly close: () => Promise<void>
}

type Settled = { readonly ok: true; readonly outcome: JobOutcome | undefined } | { readonly ok: false; readonly reason: string }

export const makeQueueClient = (options: QueueClientOptions): QueueClient => {
  const connection = connectionFor(options.url)
  const name = queueName(options.runtime, options.environment)
  const queue = new Queue(name, { connection })
  const events = new QueueEvents(name, { connection })
  const pollMs = options.pollMs ?? 1000
  const idleWarnMs = options.idleWarnMs ?? 10_000
  const submitter = `${os.hostname()}:${process.pid}`
  const wakers = new Map<string, Set<(s: Settled) => void>>()
  const wake = (key: string, settled: Settled) => {
    for (const f of wakers.get(key) ?? []) f(settled)
  }
  events.on("completed", ({ jobId, returnvalue }) => wake(jobId, { ok: true, outcome: parseOutcome(returnvalue) }))
  events.on("failed", ({ jobId, failedReason }) => wake(jobId, { ok: false, reason: failedReason }))
  // Connection errors are retried by ioredis; one line each, not an unhandled event.
  const errors = new Set<string>()
  const onError = (e: Error) => {
    if (!errors.has(e.message)) options.reporter.warn(`queue ${options.url}: ${e.message}`)
    errors.add(e.message)
  }
  queue.on("error", onError)
  events.on("error", onError)
  let warnedIdle = false

  /** Resolves when the job has settled: by an event, or by its state at a poll. */
  const settle = async (key: string): Promise<Settled> => {
    let wakeUp: (s: Settled) => void = () => {}
    const woken = new Promise<Settled>((resolve) => (wakeUp = resolve))
    const set = wakers.get(key) ?? new Set()
    set.add(wakeUp)
    wakers.set(key, set)
    const since = Date.now()
    try {
      for (;;) {
        const state = await queue.getJobState(key)
        // Removed on completion (or never there): the cache tells whether it is done.
        if (state === "unknown") return { ok: true, outcome: undefined }
        if (state === "completed" || state === "failed") {
          // Read after the state: a job read before it finished carries no result or reason yet.
          const job = await queue.getJob(key)
          if (state === "completed") return { ok: true, outcome: parseOutcome(job?.returnvalue) }
          return { ok: false, reason: job?.failedReason || "failed (no reason recorded)" }
        }
        if (!warnedIdle && Date.now() - since > idleWarnMs && state !== "active" && (await queue.getWorkersCount()) === 0) {
          warnedIdle = true
          options.reporter.warn(
            `no worker listens on queue ${name} (this pipeline's environment); start one with the same backend and threads: ` +
              `bun run pipelines/worker.ts --queue ${options.url} --cache DIR --backend B --threads N (a worker of another build listens on another queue)`
          )
        }
        const settled = await Promise.race([woken, Bun.sleep(pollMs).then(() => undefined)])
        if (settled) return settled
      }
    } finally {
      set.delete(wakeUp)
      if (set.size === 0) wakers.delete(key)
    }
  }

  const submitAndWait = async (job: RemoteJob): Promise<Settled> => {
    await events.waitUntilReady()
    const existing = await queue.getJob(job.key)
    if (existing && (await existing.getState()) === "failed") await existing.remove()
    const data: StepJob = { step: job.step, key: job.key, input: job.input, context: job.context, fresh: job.fresh, submitter }
    // A failed job stays for its submitter to read the reason (and for `redis-cli` inspection) for a day, at most the
    // last 1,000: a long-lived server does not accumulate every failure ever; resubmitting a key replaces its job.
    await queue.add(job.step, data, { jobId: job.key, removeOnComplete: true, removeOnFail: { age: 24 * 3600, count: 1000 }, attempts: 1 })
    return settle(job.key)
  }

  return {
    name,
    ready: async () => {
      await Promise.all([queue.waitUntilReady(), events.waitUntilReady()])
    },
    run: (job) =>
      Effect.tryPromise({
        try: () => submitAndWait(job),
        catch: (e) => new QueueUnavailable({ url: options.url, reason: (e as Error).message })
      }).pipe(
        Effect.flatMap((settled) =>
          settled.ok
            ? Effect.succeed(settled.outcome ?? { worker: "another worker", resumed: false, cached: false })
            : Effect.fail(rebuildFailure(job.step, decodeFailure(settled.reason)))
        )
      ),
    close: async () => {
      // QueueEvents.close() never settles when the server was never reached (bullmq 6.7.0): bounded.
      await Promise.race([Promise.allSettled([events.close(), queue.close()]), Bun.sleep(2000)])
    }
  }
}

/** A client whose server answered within `timeoutMs` (5 s), or QueueUnavailable / InvalidQueueUrl. */
export const openQueue = (options: QueueClientOptions & { readonly timeoutMs?: number }) =>
  Effect.gen(function* () {
    const client = yield* Effect.try({ try: () => makeQueueClient(options), catch: (e) => e as InvalidQueueUrl })
    const unavailable = (reason: string) =>
      Effect.andThen(Effect.promise(client.close), Effect.fail(new QueueUnavailable({ url: options.url, reason })))

    yield* Effect.tryPromise({ try: client.ready, catch: (e) => (e as Error).message }).pipe(
      Effect.timeoutOrElse({ duration: options.timeoutMs ?? 5000, orElse: () => Effect.fail("no answer within 5 s") }),
      Effect.catch((reason: string) => unavailable(reason))
    )
    return client
  })

const parseOutcome = (value: unknown): JobOutcome | undefined => {
  try {
    const v = (typeof value === "string" ? JSON.parse(value) : value) as JobOutcome | undefined
    return v && typeof v.worker === "string" ? v : undefined
  } catch {
    return undefined
  }
}
