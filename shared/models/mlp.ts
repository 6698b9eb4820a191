/**
 * A plain MLP (deep-net init studies use 50 × 512 on MNIST):
 *
 *   input → flatten → [fc_i width → act] for i = 1..depth → fc_{depth+1} classes (logits)
 *
 * `depth` counts the hidden layers; the output layer is `fc{depth+1}`. Logits, as every factory here.
 * `widths` gives each hidden layer its own size (a 2-6-3-2 net: depth 2, widths [6, 3]); without it every hidden
 * layer has `width` units.
 * `dropout` > 0 puts a `fc_i.dropout` layer (SeededDropout) after each hidden activation; absent or 0, the model is
 * exactly the plain one. Dropout layers hold no weights, so weights move between the two unchanged.
 */
import * as tf from "@tensorflow/tfjs"
import { activationLayer, type ActivationSpec } from "../init/activations.ts"
import { createRng, deriveSeed, type Rng } from "../random.ts"
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
  /** Dropout rate of the hidden units, in [0, 1); 0 or absent: no dropout layers. (The dropout paper: 0.5.) */
  readonly dropout?: number
  /** Seed of the dropout masks (each layer draws from its own child seed). Default 0. */
  readonly dropoutSeed?: number
}

export const createMLP = ({ inputShape, depth, width, widths, classes, activation = "relu", dropout = 0, dropoutSeed = 0 }: MlpConfig): tf.LayersModel => {
  if (!(Number.isInteger(depth) && depth >= 0)) throw new RangeError(`createMLP: depth must be an integer ≥ 0, got ${depth}`)
  if (!(dropout >= 0 && dropout < 1)) throw new RangeError(`createMLP: dropout must be in [0, 1), got ${dropout}`)
  const units = hiddenWidths({ depth, width, widths })
  const input = tf.input({ shape: [...inputShape], name: "input" })
  let x = inputShape.length > 1 ? apply(tf.layers.flatten({ name: "flatten" }), input) : input
  for (let i = 1; i <= depth; i++) {
    x = apply(activationLayer(activation, `fc${i}.act`), dense(x, `fc${i}`, units[i - 1]!))
    if (dropout > 0) x = apply(new SeededDropout({ name: `fc${i}.dropout`, rate: dropout, seed: deriveSeed(dropoutSeed, `fc${i}.dropout`) }), x)
  }
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

type LayerArgs = NonNullable<ConstructorParameters<typeof tf.layers.Layer>[0]>

/**
 * Inverted dropout (Srivastava et al. 2014) whose masks come from lwi's seeded PRNG, so the same seed gives the same
 * run (tfjs's Dropout draws from Math.random). Called with `training: true` it keeps each value with probability
 * 1 − rate, scaled by 1 / (1 − rate), drawing the next masks of the layer's stream; otherwise it is the identity,
 * which is the paper's weight-scaling rule at test time. Monte-Carlo dropout calls it with `training: true`.
 */
export class SeededDropout extends tf.layers.Layer {
  static readonly className = "SeededDropout"
  readonly rate: number
  readonly seed: number
  private readonly rng: Rng
  constructor(args: LayerArgs & { rate: number; seed: number }) {
    super(args)
    this.rate = args.rate
    this.seed = args.seed
    this.rng = createRng(args.seed)
  }
  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape | tf.Shape[] {
    return inputShape
  }
  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>): tf.Tensor {
    const x = Array.isArray(inputs) ? inputs[0]! : inputs
    if (kwargs["training"] !== true || this.rate === 0) return x
    const keep = 1 - this.rate
    const scale = 1 / keep
    const mask = new Float32Array(x.size)
    for (let i = 0; i < mask.length; i++) mask[i] = this.rng.next() < keep ? scale : 0
    return tf.tidy(() => tf.mul(x, tf.tensor(mask, x.shape)))
  }
  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), rate: this.rate, seed: this.seed }
  }
}
tf.serialization.registerClass(SeededDropout)
