/**
 * Failure modes of the `torch` backend once it is loaded. (Failing to build or load the shim is not an exception:
 * `registerTorchBackend` returns `{ ok: false, reason }`.)
 */
import { Schema } from "effect"

/** An ATen op refused its inputs (shape mismatch, bad index, unsupported dtype...): ATen's own message. */
export class TorchOpError extends Schema.TaggedError<TorchOpError>()("TorchOpError", {
  op: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `torch backend: ${this.op} failed: ${this.reason}`
  }
}

/** A tfjs kernel was called with something this backend does not handle (string/complex tensors, NCHW pooling). */
export class TorchUnsupported extends Schema.TaggedError<TorchUnsupported>()("TorchUnsupported", {
  kernel: Schema.String,
  what: Schema.String
}) {
  override get message() {
    return `torch backend: ${this.kernel} does not support ${this.what}`
  }
}
