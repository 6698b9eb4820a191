/**
 * Failure modes of backend selection. (An unknown backend name is a `BadConfig` from shared/errors.ts.)
 */
import { Schema } from "effect"

/** One backend that was tried: did it load and pass the smoke op, and if not, why. */
export const BackendAttempt = Schema.Struct({
  name: Schema.String,
  ok: Schema.Boolean,
  reason: Schema.optional(Schema.String)
})
export type BackendAttempt = typeof BackendAttempt.Type

/** A backend that was asked for (or that every fallback needed) could not be loaded or failed its smoke op. */
export class BackendUnavailable extends Schema.TaggedError<BackendUnavailable>()("BackendUnavailable", {
  backend: Schema.String,
  reason: Schema.String,
  tried: Schema.Array(BackendAttempt),
  fix: Schema.optional(Schema.String)
}) {
  override get message() {
    const tried = this.tried.map((t) => `  - ${t.name}: ${t.ok ? "ok" : t.reason ?? "failed"}`)
    return [
      `backend "${this.backend}" is not available: ${this.reason}`,
      ...(tried.length > 0 ? ["Tried:", ...tried] : []),
      ...(this.fix ? [this.fix] : [])
    ].join("\n")
  }
}
