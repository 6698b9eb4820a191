/** Failures of LW on a model: a layer it cannot learn, and a resume that does not fit the model. */
import { Schema } from "effect"

/**
 * A conv/dense layer LW cannot express as a function of its weights (or whose recomputation disagrees), or whose
 * activation lies behind a layer LW does not follow (`between`: that layer's name).
 */
export class UnsupportedLayer extends Schema.TaggedError<UnsupportedLayer>()("UnsupportedLayer", {
  layer: Schema.String,
  className: Schema.String,
  problem: Schema.String,
  between: Schema.optional(Schema.String)
}) {
  override get message() {
    return `LW cannot learn layer "${this.layer}" (${this.className}): ${this.problem}`
  }
}

/** Already-learned layers given to resume from are not the first layers of the model's LW order. */
export class ResumeMismatch extends Schema.TaggedError<ResumeMismatch>()("ResumeMismatch", {
  expected: Schema.Array(Schema.String),
  given: Schema.Array(Schema.String)
}) {
  override get message() {
    return `cannot resume LW: learned layers [${this.given.join(", ")}] are not a prefix of the model's order [${this.expected.join(", ")}]`
  }
}
