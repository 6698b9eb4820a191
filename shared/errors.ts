/**
 * The failure modes every part of lwi shares. One tagged class per mode, with structured fields and a message a
 * user can act on. Branch with `Effect.catchTag`, never on strings.
 * @lwi-key-neutral — error classes and their messages; a failed step is never cached (shared/engine/code.ts).
 */
import { Effect, Schema } from "effect"

/** A configuration value (flag, config file field, step input) is not allowed. */
export class BadConfig extends Schema.TaggedError<BadConfig>()("BadConfig", {
  field: Schema.String,
  value: Schema.String,
  expected: Schema.String,
  source: Schema.optional(Schema.String)
}) {
  override get message() {
    const where = this.source ? ` (${this.source})` : ""
    return `bad config${where}: ${this.field} = ${this.value}; expected ${this.expected}`
  }
}

/** Data a run needs is not on this machine. `howToGet` lists exactly what the user can do about it. */
export class MissingData extends Schema.TaggedError<MissingData>()("MissingData", {
  dataset: Schema.String,
  searched: Schema.Array(Schema.String),
  howToGet: Schema.Array(Schema.String)
}) {
  override get message() {
    return [
      `dataset "${this.dataset}" not found. Searched:`,
      ...this.searched.map((p) => `  - ${p}`),
      "To get it:",
      ...this.howToGet.map((h) => `  - ${h}`)
    ].join("\n")
  }
}

/**
 * The folder the user named (--data DIR or LWI_DATA) holds no usable copy of the dataset. A named folder is
 * authoritative: lwi never falls back to ./data, a system folder or a download behind the user's back.
 * `looked` has one line per folder checked (what it lacks, or that it does not exist).
 */
export class NoDatasetInDir extends Schema.TaggedError<NoDatasetInDir>()("NoDatasetInDir", {
  dataset: Schema.String,
  dir: Schema.String,
  expected: Schema.Array(Schema.String),
  looked: Schema.Array(Schema.String),
  fix: Schema.Array(Schema.String)
}) {
  override get message() {
    return [
      `--data ${this.dir} (or LWI_DATA) holds no "${this.dataset}" dataset, and a folder you name is the only place lwi looks.`,
      `Expected: ${this.expected.join(", ")}. Looked in:`,
      ...this.looked.map((l) => `  - ${l}`),
      "To fix:",
      ...this.fix.map((f) => `  - ${f}`)
    ].join("\n")
  }
}

/** A data file exists but is not what it should be (wrong magic number, truncated, undecodable...). */
export class BadDataFile extends Schema.TaggedError<BadDataFile>()("BadDataFile", {
  file: Schema.String,
  problem: Schema.String,
  fix: Schema.optional(Schema.String)
}) {
  override get message() {
    return `${this.file}: ${this.problem}${this.fix ? `. ${this.fix}` : ""}`
  }
}

/** A stored artifact or cache entry failed its checksum or could not be decoded. It is discarded, never trusted. */
export class CorruptArtifact extends Schema.TaggedError<CorruptArtifact>()("CorruptArtifact", {
  path: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `corrupt artifact ${this.path}: ${this.reason} (it will be discarded and recomputed)`
  }
}

/**
 * A numeric computation produced NaN/Inf. Steps normally record divergence as an outcome (`diverged: true`);
 * this error exists for code that cannot go on (e.g. a layer whose learning blew up) and says where it happened.
 */
export class Diverged extends Schema.TaggedError<Diverged>()("Diverged", {
  where: Schema.String,
  epoch: Schema.optional(Schema.Number),
  value: Schema.String
}) {
  override get message() {
    const at = this.epoch === undefined ? "" : ` at epoch ${this.epoch}`
    return `diverged in ${this.where}${at}: ${this.value}`
  }
}

/** A tagged error (one of lwi's failure modes, from any module), as opposed to a bug. */
export type TaggedFailure = Error & { readonly _tag: string }

const isTagged = (e: unknown): e is TaggedFailure => e instanceof Error && typeof (e as { _tag?: unknown })._tag === "string"

/**
 * Runs plain (possibly async) code that signals problems by throwing lwi's tagged errors: those become typed
 * failures (printed as their message), anything else is a defect (a bug, reported with its stack).
 */
export const attempt = <A>(f: () => A | Promise<A>): Effect.Effect<A, TaggedFailure> =>
  Effect.tryPromise({ try: async () => f(), catch: (e) => e }).pipe(
    Effect.catch((e) => (isTagged(e) ? Effect.fail(e) : Effect.die(e)))
  )
