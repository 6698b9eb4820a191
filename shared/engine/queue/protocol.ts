/**
 * What the pipeline and the workers agree on: the job (a step's name, its encoded input and the key context the
 * pipeline computed), the queue it goes to, the connection, and how a failure travels back.
 *
 * One queue per environment: `lwi-<hash of runtime + tensor environment>`. A worker listens only on the queue of its
 * own environment (backend build, library versions, threads where they change results: shared/backend/fingerprint.ts),
 * so a job keyed for another build is never handed to it: it stays for a worker that matches. Each job also carries
 * the key context (code hash, runtime, environment), and the worker checks it against its own before running: a
 * worker whose checkout differs refuses the job (WorkerRefused) instead of caching a result under a key it did not
 * compute.
 * @lwi-key-neutral — transport; the key is computed by the runner (shared/engine/runner.ts).
 */
import { Schema } from "effect"
import { InvalidQueueUrl, RemoteStepError, WorkerRefused } from "./errors.ts"
import type { ConnectionOptions } from "bullmq"
import { canonicalJson, sha256Hex } from "../hash.ts"
import { PASSWORD_ENV } from "./server.ts"

export const StepJob = Schema.Struct({
  step: Schema.String,
  key: Schema.String.check(Schema.isPattern(/^[0-9a-f]{64}$/)),
  /** The step's input, encoded (artifacts as refs: their blobs are in the shared cache). */
  input: Schema.Unknown,
  /** The key context the submitter computed: { code, runtime, environment? } (runner.ts keyContext). */
  context: Schema.Record(Schema.String, Schema.Unknown),
  fresh: Schema.Boolean,
  /** host:pid of the pipeline, for messages. */
  submitter: Schema.String
})
export type StepJob = typeof StepJob.Type

/** What a worker returns for a finished job (the result itself is in the cache, under the job's key). */
export interface JobOutcome {
  readonly worker: string
  readonly resumed: boolean
  readonly cached: boolean
}

/** The queue of an environment: jobs keyed for one build go only to workers of that build. */
export const queueName = (runtime: string, environment: unknown): string =>
  `lwi-${sha256Hex(canonicalJson({ runtime, environment: environment ?? null })).slice(0, 16)}`

/** The connection options for `--queue redis://HOST:PORT` (password from the URL or LWI_REDIS_PASSWORD). */
export const connectionFor = (url: string, env: Readonly<Record<string, string | undefined>> = process.env): ConnectionOptions => {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    throw new InvalidQueueUrl({ url, issue: "not a URL" })
  }
  if (parsed.protocol !== "redis:") throw new InvalidQueueUrl({ url, issue: `protocol ${parsed.protocol} is not redis:` })
  if (parsed.hostname === "" || parsed.port === "") throw new InvalidQueueUrl({ url, issue: "host and port are required" })
  const password = decodeURIComponent(parsed.password) || env[PASSWORD_ENV] || undefined
  return {
    host: parsed.hostname.replace(/^\[|\]$/g, ""),
    port: Number(parsed.port),
    ...(password ? { password } : {}),
    // BullMQ's workers block on the connection; it must retry forever rather than fail a command.
    maxRetriesPerRequest: null
  }
}

/** A job's failure as it travels back: the step's typed error (its tag, message and fields), or a refusal. */
export interface WireFailure {
  readonly lwi: "failure"
  readonly tag: string
  readonly message: string
  readonly fields: Readonly<Record<string, unknown>>
}

/** Properties an error has that are not its fields. */
const wireless = new Set(["stack", "_tag", "message", "name", "cause"])

export const encodeFailure = (error: unknown): string => {
  const e = error as { _tag?: unknown; message?: unknown }
  const fields = error !== null && typeof error === "object" ? Object.fromEntries(Object.entries(error).filter(([k]) => !wireless.has(k))) : {}
  const failure: WireFailure = {
    lwi: "failure",
    tag: typeof e?._tag === "string" ? e._tag : "StepDefect",
    message: typeof e?.message === "string" ? e.message : String(error),
    fields: JSON.parse(JSON.stringify(fields)) as Record<string, unknown>
  }
  return JSON.stringify(failure)
}

export const decodeFailure = (reason: string): WireFailure => {
  try {
    const parsed = JSON.parse(reason) as WireFailure
    if (parsed?.lwi === "failure" && typeof parsed.tag === "string") return parsed
  } catch {
    // not one of ours: BullMQ's own (a job stalled too often, a lost lock)
  }
  return { lwi: "failure", tag: "QueueJobFailed", message: reason, fields: {} }
}

export const rebuildFailure = (step: string, failure: WireFailure): RemoteStepError => {
  const error = new RemoteStepError({ step, remoteMessage: failure.message })
  if (failure.tag === "WorkerRefused") return new WorkerRefused(failure.fields as never) as unknown as RemoteStepError
  const fields = Object.fromEntries(Object.entries(failure.fields).filter(([k]) => !wireless.has(k) && !(k in error)))
  return Object.assign(error, fields, { _tag: failure.tag })
}
