/**
 * A plain MLP (deep-net init studies use 50 × 512 on MNIST):
 *
 *   input → flatten → [fc_i width → act] for i = 1..depth → fc_{depth+1} classes (logits)
 *
 * `depth` counts the hidden layers; the output layer is `fc{depth+1}`. Logits, as every factory here.
 * `widths` gives each hidden layer its own size (a 2-6-3-2 net: depth 2, widths [6, 3]); without it every hidden
 * layer has `width` units.
 */
import * as tf from "@tensorflow/tfjs"
import { activationLayer, type ActivationSpec } from "../init/activations.ts"
import { apply, dense } from "./layers.ts"

export interface MlpConfig {
  readonly inputShape: readonly number[]
  /** Hidden layers. */
  readonly depth: number
  /** Units per hidden layer (when `widths` is not given). */
  readonly width: number
  /** Units of each hidden layer, `depth` entries: replaces `width` (which must then be its largest entry). */
  readonly widths?: readonly number[]
  readonly classes: number
  readonly activation?: ActivationSpec
}

export const createMLP = ({ inputShape, depth, width, widths, classes, activation = "relu" }: MlpConfig): tf.LayersModel => {
  if (!(Number.isInteger(depth) && depth >= 0)) throw new RangeError(`createMLP: depth must be an integer ≥ 0, got ${depth}`)
  const units = hiddenWidths({ depth, width, widths })
  const input = tf.input({ shape: [...inputShape], name: "input" })
  let x = inputShape.length > 1 ? apply(tf.layers.flatten({ name: "flatten" }), input) : input
  for (let i = 1; i <= depth; i++) x = apply(activationLayer(activation, `fc${i}.act`), dense(x, `fc${i}`, units[i - 1]!))
  const logits = dense(x, `fc${depth + 1}`, classes)
  const name = widths === undefined ? `mlp${depth}x${width}` : `mlp${units.join("-")}`
  return tf.model({ inputs: input, outputs: logits, name })
}

/**
 * Each hidden layer's units. `width` stays meaningful when `widths` is given (the widest layer), so a spec never
 * carries a field that is silently ignored.
 */
export const hiddenWidths = ({ depth, width, widths }: Pick<MlpConfig, "depth" | "width" | "widths">): number[] => {
  if (widths === undefined) return new Array<number>(depth).fill(width)
  if (widths.length !== depth || !widths.every((w) => Number.isInteger(w) && w >= 1)) {
    throw new RangeError(`createMLP: widths must be ${depth} integers ≥ 1 (one per hidden layer, depth ${depth}), got [${widths.join(", ")}]`)
  }
  if (depth > 0 && width !== Math.max(...widths)) {
    throw new RangeError(`createMLP: width must be the largest of widths [${widths.join(", ")}] (${Math.max(...widths)}), got ${width}`)
  }
  return [...widths]
}
