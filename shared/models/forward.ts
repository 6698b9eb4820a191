/**
 * Run a model up to one of its layers: what greedy per-layer work (LW, LSUV) needs.
 *
 * `forwardTo(model, "layer2.0.conv2", x)` returns, for batch x:
 *   input       the layer's input (for a conv after an explicit pad layer: the padded tensor it convolves)
 *   output      the layer's output (pre-activation)
 *   activation  the activation after it, reached through BN and residual adds (see graph.ts `activationPath`):
 *               for a block's last conv (or its downsample) this is act(bn(output) + shortcut), the activation
 *               after the add; undefined for the classifier
 *   shortcut    for layers whose activation comes after a residual add, the add's other input (the identity or
 *               downsample path, computed exactly as in the full forward pass), so activation can be recomputed
 *               for new weights: act(bn(layer(input)) + shortcut)
 *
 * It builds a tfjs sub-model (same layers and weights, outputs = those symbolic tensors), so tfjs computes only
 * what is needed and the identity/downsample paths are the model's own. The run is in inference mode: BN uses its
 * running statistics and does not update them. The caller disposes every returned tensor.
 *
 * A model with nested sub-models is read through its flat view (flatten.ts, layers named by path): `forwardTo`
 * builds one per call; `layerProbe` needs the flat model itself (a NestedModel error otherwise).
 */
import * as tf from "@tensorflow/tfjs"
import { NestedModel } from "./errors.ts"
import { flatten, isFlat } from "./flatten.ts"
import { activationPath, findLayer } from "./graph.ts"

export interface LayerForward {
  readonly input: tf.Tensor
  readonly output: tf.Tensor
  readonly activation: tf.Tensor | undefined
  readonly shortcut: tf.Tensor | undefined
  /** Names of the layers between output and activation (BN, Add). */
  readonly between: readonly string[]
}

interface Probe {
  readonly model: tf.LayersModel
  readonly hasActivation: boolean
  readonly hasShortcut: boolean
  readonly between: readonly string[]
}

const single = (t: tf.SymbolicTensor | tf.SymbolicTensor[]): tf.SymbolicTensor => {
  if (Array.isArray(t)) {
    if (t.length !== 1) throw new Error(`expected a single-input/output layer, got ${t.length} tensors`)
    return t[0]!
  }
  return t
}

const buildProbe = (model: tf.LayersModel, layerName: string): Probe => {
  if (!isFlat(model)) throw new NestedModel({ model: model.name, layer: layerName })
  const layer = findLayer(model, layerName)
  const path = activationPath(layer)
  const outputs = [single(layer.input), single(layer.output)]
  if (path.activation !== undefined) outputs.push(single(path.activation.output))
  if (path.addOther !== undefined) outputs.push(single(path.addOther.output))
  return {
    model: tf.model({ inputs: model.inputs, outputs, name: `${model.name}.to.${layerName}` }),
    hasActivation: path.activation !== undefined,
    hasShortcut: path.addOther !== undefined,
    between: path.between.map((l) => l.name)
  }
}

const runProbe = (probe: Probe, x: tf.Tensor): LayerForward => {
  const outs = tf.tidy(() => {
    const ys = probe.model.apply(x, { training: false }) as tf.Tensor[]
    // A symbolic output that is the model's input comes back as `x` itself; copy it so the caller owns everything.
    return ys.map((y) => (y === x ? y.clone() : y))
  })
  let i = 2
  return {
    input: outs[0]!,
    output: outs[1]!,
    activation: probe.hasActivation ? outs[i++] : undefined,
    shortcut: probe.hasShortcut ? outs[i++] : undefined,
    between: probe.between
  }
}

/** Forward `x` to `layerName` (see the module comment). One-shot: for many calls on one model use `layerProbe`. */
export const forwardTo = (model: tf.LayersModel, layerName: string, x: tf.Tensor): LayerForward => {
  const flat = flatten(model)
  try {
    return runProbe(buildProbe(flat.model, layerName), x)
  } finally {
    flat.dispose()
  }
}

/** `forwardTo` for one flat model (flatten.ts) with its sub-models built once per layer and reused. */
export const layerProbe = (model: tf.LayersModel): ((layerName: string, x: tf.Tensor) => LayerForward) => {
  const probes = new Map<string, Probe>()
  return (layerName, x) => {
    let probe = probes.get(layerName)
    if (probe === undefined) {
      probe = buildProbe(model, layerName)
      probes.set(layerName, probe)
    }
    return runProbe(probe, x)
  }
}
