/** Failures of the per-layer model API: asking for a layer a model does not have, or weights that do not fit. */
import { Schema } from "effect"

/** A layer name that is not in the model. `known` lists the names that are (learnable ones, for brevity). */
export class UnknownLayer extends Schema.TaggedError<UnknownLayer>()("UnknownLayer", {
  model: Schema.String,
  layer: Schema.String,
  known: Schema.Array(Schema.String)
}) {
  override get message() {
    return `model "${this.model}" has no layer "${this.layer}"; its conv/dense layers are: ${this.known.join(", ")}`
  }
}

/** Weights given for a model or layer do not match it (missing, unexpected, or wrong shape). */
export class WeightMismatch extends Schema.TaggedError<WeightMismatch>()("WeightMismatch", {
  weight: Schema.String,
  problem: Schema.String
}) {
  override get message() {
    return `weight "${this.weight}": ${this.problem}`
  }
}
