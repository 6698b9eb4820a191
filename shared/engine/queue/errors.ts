/**
 * What can go wrong when steps run on workers (`--queue`): each a tagged error with the fix in its message.
 * @lwi-key-neutral — error classes; a failed step is never cached (shared/engine/code.ts).
 */
import { Schema } from "effect"

/** A `--queue` value that is not a redis:// URL. */
export class InvalidQueueUrl extends Schema.TaggedError<InvalidQueueUrl>()("InvalidQueueUrl", { url: Schema.String, issue: Schema.String }) {
  override get message() {
    return `--queue ${this.url}: ${this.issue}; expected redis://HOST:PORT (start a server: bun run shared/engine/queue/server.ts start)`
  }
}

/** A worker refused a job: its own key context for the step differs from the submitter's. */
export class WorkerRefused extends Schema.TaggedError<WorkerRefused>()("WorkerRefused", {
  step: Schema.String,
  key: Schema.String,
  worker: Schema.String,
  differences: Schema.Array(Schema.String)
}) {
  override get message() {
    return `worker ${this.worker} refused ${this.step} [${this.key.slice(0, 10)}]: its ${this.differences.join(", ")} differ from the pipeline's; ` +
      "run the worker from the same checkout, lockfile and backend build as the pipeline (it would cache a result under a key it did not compute)"
  }
}

/** The job finished but its result is not in the cache: the worker wrote to another cache. */
export class RemoteResultMissing extends Schema.TaggedError<RemoteResultMissing>()("RemoteResultMissing", {
  step: Schema.String,
  key: Schema.String,
  cache: Schema.String
}) {
  override get message() {
    return `${this.step} [${this.key.slice(0, 10)}] finished on a worker, but ${this.cache} has no valid entry for it: ` +
      "give the workers the same --cache as the pipeline (a shared file system when they run on other machines)"
  }
}

/** The queue server could not be reached or refused a command. */
export class QueueUnavailable extends Schema.TaggedError<QueueUnavailable>()("QueueUnavailable", { url: Schema.String, reason: Schema.String }) {
  override get message() {
    return `queue ${this.url}: ${this.reason} (is the server running? bun run shared/engine/queue/server.ts start)`
  }
}

/**
 * The step's own error as a worker raised it: same `_tag` and fields, so `catchTag` on the step's error matches as in a
 * local run; `worker` says where it happened.
 */
export class RemoteStepError extends Schema.TaggedError<RemoteStepError>()("RemoteStepError", {
  step: Schema.String,
  remoteMessage: Schema.String
}) {
  override get message() {
    return this.remoteMessage
  }
}

/** What a step run through the queue can fail with, besides the step's own errors (which come back as themselves). */
export type QueueFailure = WorkerRefused | RemoteResultMissing | QueueUnavailable | RemoteStepError
