/**
 * Reading a functional tfjs model's graph: which layer feeds which, in what order they run, which activation
 * follows a conv/dense layer, and where the residual branches are. Everything here is derived from tfjs's own
 * node graph (`inboundNodes` / `outboundNodes`), never from layer names, so any functional model works.
 *
 * Assumes each layer is applied once (true for every factory here): its first inbound node is its only one.
 */
import * as tf from "@tensorflow/tfjs"
import { activationClassNames } from "../init/activations.ts"
import type { InitContext } from "../init/initializers.ts"
import { UnknownLayer } from "./errors.ts"

export type Layer = tf.layers.Layer
export type LayerKind = "conv" | "dense"

/** conv or dense for the layers whose weights are learned/initialized; undefined for everything else. */
export const learnableKind = (layer: Layer): LayerKind | undefined => {
  const cls = layer.getClassName()
  return cls === "Conv2D" ? "conv" : cls === "Dense" ? "dense" : undefined
}

export const isActivation = (layer: Layer): boolean => activationClassNames.has(layer.getClassName())

/** Layers whose outputs this layer consumes (empty for an input layer). */
export const producers = (layer: Layer): Layer[] => layer.inboundNodes[0]?.inboundLayers ?? []

/** Layers that consume this layer's output. */
export const consumers = (layer: Layer): Layer[] => layer.outboundNodes.map((n) => n.outboundLayer)

/** The model's layer called `name`, or an UnknownLayer error listing the conv/dense names it does have. */
export const findLayer = (model: tf.LayersModel, name: string): Layer => {
  const layer = model.layers.find((l) => l.name === name)
  if (layer === undefined) {
    const known = model.layers.filter((l) => learnableKind(l) !== undefined).map((l) => l.name)
    throw new UnknownLayer({ model: model.name, layer: name, known })
  }
  return layer
}

/**
 * The model's layers in an order they can run in (topological), ties broken by creation order — so the order is
 * the one the factory wrote down (e.g. a block's downsample before its convs), not tfjs's depth order.
 */
export const forwardOrder = (model: tf.LayersModel): Layer[] => {
  const inModel = new Set(model.layers)
  const pending = new Map<Layer, number>()
  for (const l of model.layers) pending.set(l, producers(l).filter((p) => inModel.has(p)).length)
  const ready = model.layers.filter((l) => pending.get(l) === 0)
  const order: Layer[] = []
  while (ready.length > 0) {
    ready.sort((a, b) => a.id - b.id)
    const next = ready.shift()!
    order.push(next)
    for (const c of consumers(next)) {
      if (!inModel.has(c)) continue
      const left = pending.get(c)! - 1
      pending.set(c, left)
      if (left === 0) ready.push(c)
    }
  }
  return order
}

/**
 * The nearest conv/dense layers upstream of `layer` (through pads, activations, pools, BN, adds...), or "input"
 * for the model input: what must be settled before this layer can be learned greedily.
 */
export const feeders = (layer: Layer): string[] => {
  const found = new Set<string>()
  const seen = new Set<Layer>()
  const walk = (l: Layer) => {
    for (const p of producers(l)) {
      if (seen.has(p)) continue
      seen.add(p)
      if (learnableKind(p) !== undefined) found.add(p.name)
      else if (producers(p).length === 0) found.add("input")
      else walk(p)
    }
  }
  walk(layer)
  return [...found]
}

/** Layers an output passes through unchanged in meaning on its way to "its" activation. */
const passThrough = new Set(["BatchNormalization", "Add"])

export interface ActivationPath {
  /** Layers strictly between the layer and its activation (BN, Add). */
  readonly between: Layer[]
  /** The activation layer that follows, if one does before any other kind of layer. */
  readonly activation: Layer | undefined
  /** The Add on the way, if any: the residual join. */
  readonly add: Layer | undefined
  /** The Add's other input (the shortcut, or the branch when `layer` is on the shortcut). */
  readonly addOther: Layer | undefined
}

/**
 * Follow `layer`'s output through BN and residual Adds to the first activation: for LeNet's conv1 that is
 * `conv1.act`; for a ResNet block's conv1 `bn1 → act1`; for its conv2 (and downsample) `bn2 → add → act2`, the
 * activation after the residual add. No activation (the classifier): `activation` is undefined.
 */
export const activationPath = (layer: Layer): ActivationPath => {
  const between: Layer[] = []
  let add: Layer | undefined
  let addOther: Layer | undefined
  let prev = layer
  for (;;) {
    const next = consumers(prev)
    if (next.length !== 1) return { between, activation: undefined, add, addOther }
    const c = next[0]!
    if (isActivation(c)) return { between, activation: c, add, addOther }
    if (!passThrough.has(c.getClassName())) return { between, activation: undefined, add, addOther }
    if (c.getClassName() === "Add") {
      add = c
      addOther = producers(c).find((p) => p !== prev)
    }
    between.push(c)
    prev = c
  }
}

/**
 * Residual structure for Fixup, from the graph: every Add joins a branch and a shortcut. Walking each Add input
 * back to the fork (the first layer whose output is used twice), the input with the most conv/dense layers is
 * the branch (role "branch", position in it, its length m, and L = number of Adds); conv/dense layers on the other
 * inputs (downsample) are "shortcut". The last conv/dense layer in forward order is the "classifier". All other
 * conv/dense layers are "plain".
 */
export const initContexts = (model: tf.LayersModel): Map<string, InitContext> => {
  const order = forwardOrder(model)
  const learnable = order.filter((l) => learnableKind(l) !== undefined)
  const adds = order.filter((l) => l.getClassName() === "Add")
  const contexts = new Map<string, InitContext>()
  for (const l of learnable) contexts.set(l.name, { role: "plain" })
  const pathBack = (start: Layer): Layer[] => {
    const path: Layer[] = []
    let cur: Layer | undefined = start
    while (cur !== undefined && consumers(cur).length === 1 && cur.getClassName() !== "Add") {
      const ps = producers(cur)
      if (learnableKind(cur) !== undefined) path.unshift(cur)
      if (ps.length !== 1) break
      cur = ps[0]
    }
    return path
  }
  for (const add of adds) {
    const paths = producers(add).map(pathBack)
    const longest = Math.max(...paths.map((p) => p.length))
    const branchIndex = paths.findIndex((p) => p.length === longest)
    paths.forEach((path, i) => {
      path.forEach((l, position) => {
        contexts.set(
          l.name,
          i === branchIndex
            ? { role: "branch", position, length: path.length, count: adds.length }
            : { role: "shortcut" }
        )
      })
    })
  }
  const last = learnable[learnable.length - 1]
  if (last !== undefined) contexts.set(last.name, { role: "classifier" })
  return contexts
}
