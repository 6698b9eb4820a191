/**
 * Fixup's scalar parameters (Zhang, Dauphin & Ma 2019, "Fixup Initialization: Residual Learning Without
 * Normalization", ICLR; reference: hongyi-zhang/Fixup, imagenet/models/fixup_resnet_imagenet.py): one trainable
 * number shared by a whole tensor.
 *
 *   ScalarBias    x + b    weight `bias`  [1], 0 as built   (the reference's `bias1a`, `bias1b`, `bias2a`, `bias2b`)
 *   ScalarScale   x · s    weight `scale` [1], 1 as built   (the reference's `scale`)
 *
 * Both are elementwise affine maps, so the activation-path walks (shared/models/graph.ts) follow the statistics
 * through them as they do through BN in inference mode. Registered for tfjs serialization (flatten.ts rebuilds
 * layers from their config); the weights travel in the weights artifact as `<layer>/bias` and `<layer>/scale`.
 */
import * as tf from "@tensorflow/tfjs"

type LayerArgs = NonNullable<ConstructorParameters<typeof tf.layers.Layer>[0]>

const single = (inputs: tf.Tensor | tf.Tensor[]): tf.Tensor => (Array.isArray(inputs) ? inputs[0]! : inputs)

/** A layer holding one trainable scalar `weightName` (shape [1], `initial` as built) applied by `op`. */
abstract class ScalarLayer extends tf.layers.Layer {
  private value: tf.LayerVariable | undefined
  constructor(
    args: LayerArgs,
    private readonly weightName: string,
    private readonly initial: number,
    private readonly op: (x: tf.Tensor, v: tf.Tensor) => tf.Tensor
  ) {
    super(args)
  }
  override build(_inputShape: tf.Shape | tf.Shape[]): void {
    this.value = this.addWeight(this.weightName, [1], "float32", tf.initializers.constant({ value: this.initial }))
    this.built = true
  }
  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    if (this.value === undefined) throw new Error(`${this.name}: called before build`)
    const v = this.value.read()
    return tf.tidy(() => this.op(single(inputs), v))
  }
}

/** x + b, b one trainable scalar (0 as built). */
export class ScalarBias extends ScalarLayer {
  static readonly className = "ScalarBias"
  constructor(args: LayerArgs = {}) {
    super(args, "bias", 0, tf.add)
  }
}
tf.serialization.registerClass(ScalarBias)

/** x · s, s one trainable scalar (1 as built). */
export class ScalarScale extends ScalarLayer {
  static readonly className = "ScalarScale"
  constructor(args: LayerArgs = {}) {
    super(args, "scale", 1, tf.mul)
  }
}
tf.serialization.registerClass(ScalarScale)

/** The class names above: layers the activation-path walks treat as elementwise affine maps. */
export const scalarClassNames: ReadonlySet<string> = new Set([ScalarBias.className, ScalarScale.className])
