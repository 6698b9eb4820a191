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

/** A layer (or sub-model) applied more than once in one model: its weights serve several places. */
export class SharedLayer extends Schema.TaggedError<SharedLayer>()("SharedLayer", {
  model: Schema.String,
  layer: Schema.String
}) {
  override get message() {
    return (
      `layer "${this.layer}" of model "${this.model}" is applied more than once (shared weights); lwi learns and ` +
      `initializes a layer for one place in the graph: give each use its own layer`
    )
  }
}

/** A layer flatten.ts must rebuild (inside a nested model) whose class tfjs cannot re-create from its config. */
export class LayerNotRebuildable extends Schema.TaggedError<LayerNotRebuildable>()("LayerNotRebuildable", {
  layer: Schema.String,
  className: Schema.String
}) {
  override get message() {
    return (
      `layer "${this.layer}" (${this.className}) sits in a nested model, which lwi reads flattened, but its class is ` +
      `not registered for deserialization: call tf.serialization.registerClass(${this.className})`
    )
  }
}

/** A per-layer function that needs a flat model (flatten.ts) was given a model with nested sub-models. */
export class NestedModel extends Schema.TaggedError<NestedModel>()("NestedModel", {
  model: Schema.String,
  layer: Schema.String
}) {
  override get message() {
    return `model "${this.model}" has nested sub-models: read layer "${this.layer}" through flatten(model).model`
  }
}
