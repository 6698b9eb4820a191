/**
 * A flat view of a model: the graph walks (graph.ts), the forward-to-a-layer probes (forward.ts) and LW read
 * one graph of leaf layers, each applied once. A model is already flat when no layer is itself a model and every
 * layer has one inbound node — every lwi factory — and its view IS the model (nothing copied).
 *
 * Otherwise (a tf.Sequential or functional model used as a layer of another; a layer object used by several
 * models) the view is a COPY rebuilt by following the model's symbolic tensors from its outputs back to its
 * inputs, walking into each nested model: every leaf layer is re-created from its config under its path name
 * (`block1/conv` for layer conv of sub-model block1, `a/b/conv` deeper) and given the model's current weights.
 * The copy's weights are a snapshot: what changes the model must be written to both (weights.ts `writeThrough`).
 *
 * A layer or sub-model applied more than once in the model (shared weights) is refused with SharedLayer: LW learns
 * a layer for one place in the graph.
 */
import * as tf from "@tensorflow/tfjs"
import { LayerNotRebuildable, SharedLayer } from "./errors.ts"
import { findLayer, isContainer, type Layer } from "./graph.ts"

export interface FlatModel {
  /** Every layer a leaf applied once, named by path. */
  readonly model: tf.LayersModel
  /** false: `model` is the model itself. true: a rebuilt copy (dispose it). */
  readonly copied: boolean
  /** The model's own (possibly nested) layer behind a flat layer name. */
  readonly source: (name: string) => Layer
  /** Disposes the copy's weights (nothing for a model that was flat). */
  readonly dispose: () => void
}

/** No nested model, every layer applied once: the graph walks can read the model as it is. */
export const isFlat = (model: tf.LayersModel): boolean =>
  model.layers.every((l) => !isContainer(l) && l.inboundNodes.length === 1)

type Registry = { classNameMap: Record<string, [unknown, (cls: unknown, config: tf.serialization.ConfigDict) => Layer]> }

const rebuild = (layer: Layer, name: string): Layer => {
  const entry = (tf.serialization.SerializationMap.getMap() as unknown as Registry).classNameMap[layer.getClassName()]
  if (entry === undefined) throw new LayerNotRebuildable({ layer: name, className: layer.getClassName() })
  const { batchInputShape: _b, inputShape: _i, ...config } = layer.getConfig() as tf.serialization.ConfigDict
  return entry[1](entry[0], { ...config, name })
}

const list = <T>(x: T | T[]): T[] => (Array.isArray(x) ? x : [x])

/** The flat view of `model` (see the module comment). */
export const flatten = (model: tf.LayersModel): FlatModel => {
  if (isFlat(model)) return { model, copied: false, source: (name) => findLayer(model, name), dispose: () => {} }

  const mapped = new Map<tf.SymbolicTensor, tf.SymbolicTensor>()
  const nodeOf = new Map<Layer, number>()
  const sources = new Map<string, Layer>()
  const copies: Layer[] = []
  const inputs = model.inputs.map((t) => {
    const flat = tf.input({ shape: t.shape.slice(1) as number[], dtype: t.dtype, name: t.sourceLayer.name })
    mapped.set(t, flat)
    return flat
  })

  const resolve = (t: tf.SymbolicTensor, prefix: string): tf.SymbolicTensor => {
    const hit = mapped.get(t)
    if (hit !== undefined) return hit
    const layer = t.sourceLayer as Layer
    const path = `${prefix}${layer.name}`
    const seen = nodeOf.get(layer)
    if (seen !== undefined && seen !== t.nodeIndex) throw new SharedLayer({ model: model.name, layer: path })
    nodeOf.set(layer, t.nodeIndex)
    const node = layer.inboundNodes[t.nodeIndex]!
    const ins = node.inputTensors.map((x) => resolve(x, prefix))
    let outs: tf.SymbolicTensor[]
    if (isContainer(layer)) {
      layer.inputs.forEach((x, i) => mapped.set(x, ins[i]!))
      outs = layer.outputs.map((o) => resolve(o, `${path}/`))
    } else {
      const copy = rebuild(layer, path)
      outs = list(copy.apply(ins.length === 1 ? ins[0]! : ins) as tf.SymbolicTensor | tf.SymbolicTensor[])
      copy.setWeights(layer.getWeights())
      sources.set(path, layer)
      copies.push(copy)
    }
    node.outputTensors.forEach((o, i) => mapped.set(o, outs[i]!))
    return mapped.get(t)!
  }

  let flat: tf.LayersModel
  try {
    const outputs = model.outputs.map((t) => resolve(t, ""))
    flat = tf.model({ inputs, outputs, name: `${model.name}.flat` })
  } catch (error) {
    for (const c of copies) c.dispose()
    throw error
  }
  return {
    model: flat,
    copied: true,
    source: (name) => sources.get(name) ?? findLayer(model, name),
    dispose: () => flat.dispose()
  }
}
