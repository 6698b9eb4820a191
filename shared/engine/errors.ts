/**
 * Engine failure modes. Data and config errors shared with the rest of lwi live in shared/errors.ts.
 * @lwi-key-neutral — error classes and their messages; a failed step is never cached (shared/engine/code.ts).
 */
import { Effect, Schema } from "effect"

/** What a user can do about a file system failure, by its error code. */
const fixFor = (reason: string): string =>
  /ENOSPC|EFBIG|EDQUOT/.test(reason)
    ? "; the disk (or a size limit) is full: free space there, or point --cache / --out at another disk, then run the same command again (finished steps are kept)"
    : /EACCES|EPERM|EROFS/.test(reason)
      ? "; no permission to write there: choose a writable --cache / --out"
      : ""

/** The file system refused an operation on the cache or an output file. */
export class StoreError extends Schema.TaggedError<StoreError>()("StoreError", {
  path: Schema.String,
  operation: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `could not ${this.operation} ${this.path}: ${this.reason}${fixFor(this.reason)}`
  }
}

/** A step was given input (or produced output) that its Schema rejects. */
export class InvalidStepData extends Schema.TaggedError<InvalidStepData>()("InvalidStepData", {
  step: Schema.String,
  direction: Schema.Literals(["input", "output"]),
  issue: Schema.String
}) {
  override get message() {
    return `step "${this.step}" ${this.direction} rejected: ${this.issue}`
  }
}

/** A blob named by a cache entry or checkpoint is not in the store. */
export class MissingArtifact extends Schema.TaggedError<MissingArtifact>()("MissingArtifact", {
  hash: Schema.String
}) {
  override get message() {
    return `artifact ${this.hash.slice(0, 12)} is not in the store`
  }
}

/**
 * A step whose code uses tensors ran before the pipeline set up its backend: its key would not say which backend
 * build computed it, so it is refused rather than cached under an incomplete key.
 */
export class MissingEnvironment extends Schema.TaggedError<MissingEnvironment>()("MissingEnvironment", {
  step: Schema.String
}) {
  override get message() {
    return `step "${this.step}" uses tensors, but no tensor environment is set: set up the backend first ` +
      `(a pipeline's setup: setupBackend from shared/backend/setup.ts; in code, makeRunner({ environment: tensorEnvironment(...) }))`
  }
}

/** A value stored as a JSON artifact that JSON cannot carry faithfully (NaN, Infinity, binary data). */
export class InvalidJsonArtifact extends Schema.TaggedError<InvalidJsonArtifact>()("InvalidJsonArtifact", {
  kind: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `cannot store the ${this.kind} artifact as JSON: ${this.reason} (record non-finite values explicitly, e.g. as null with a flag)`
  }
}

/** A file-system operation of the cache as an Effect failing with StoreError (the one such wrapper). */
export const storeIo = <A>(operation: string, p: string, f: () => Promise<A>) =>
  Effect.tryPromise({ try: f, catch: (e) => new StoreError({ path: p, operation, reason: (e as Error).message }) })
