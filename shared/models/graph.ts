/**
 * Reading a functional tfjs model's graph: which layer feeds which, in what order they run, which activation
 * follows a conv/dense layer, and where the residual branches are. Everything here is derived from tfjs's own
 * node graph (`inboundNodes` / `outboundNodes`), never from layer names, so any functional model works.
 *
 * The walks below assume a FLAT model: every layer a leaf (no model used as a layer) applied once, so its first
 * inbound node is its only one — true for every factory here. A model with nested sub-models (or a layer applied
 * twice) is first rebuilt flat by flatten.ts, its layers named by path (`block1/conv`); `findLayer` resolves such
 * paths in the nested model itself.
 */
import * as tf from "@tensorflow/tfjs"
import { activationClassNames } from "../init/activations.ts"
import type { InitContext } from "../init/initializers.ts"
import { UnknownLayer } from "./errors.ts"
import { kindSpecOf, type LayerKind } from "./kinds.ts"
import { scalarClassNames } from "./scalar.ts"

export type Layer = tf.layers.Layer
export type { LayerKind } from "./kinds.ts"

/**
 * "conv" or "dense" for the layers with a kernel that init and LW handle (shared/models/kinds.ts: Dense, Conv1D/2D/3D,
 * DepthwiseConv2D, SeparableConv2D, Conv2D/3DTranspose); undefined for everything else.
 */
export const learnableKind = (layer: Layer): LayerKind | undefined => kindSpecOf(layer)?.kind

/** A model used as a layer (tf.Sequential or a functional model). */
export const isContainer = (layer: Layer): layer is tf.LayersModel => layer instanceof tf.LayersModel

export const isActivation = (layer: Layer): boolean => activationClassNames.has(layer.getClassName())

/** Layers whose outputs this layer consumes (empty for an input layer). */
export const producers = (layer: Layer): Layer[] => layer.inboundNodes[0]?.inboundLayers ?? []

/** Layers that consume this layer's output. */
export const consumers = (layer: Layer): Layer[] => layer.outboundNodes.map((n) => n.outboundLayer)

/** A (possibly nested) model's layers as leaves named by path: `block1/conv` for layer conv of sub-model block1. */
export const leafLayers = (model: tf.LayersModel, prefix = ""): Array<{ readonly path: string; readonly layer: Layer }> =>
  forwardOrder(model).flatMap((l) =>
    isContainer(l) ? leafLayers(l, `${prefix}${l.name}/`) : [{ path: `${prefix}${l.name}`, layer: l }]
  )

/** The layer at `path` with its parent path, or undefined. */
const resolvePath = (model: tf.LayersModel, path: string): Layer | undefined => {
  const exact = model.layers.find((l) => l.name === path)
  if (exact !== undefined) return exact
  for (const l of model.layers) {
    if (isContainer(l) && path.startsWith(`${l.name}/`)) {
      const inner = resolvePath(l, path.slice(l.name.length + 1))
      if (inner !== undefined) return inner
    }
  }
  return undefined
}

/**
 * The model's layer called `name` — a path (`block1/conv`) reaches into nested models — or an UnknownLayer error
 * listing the conv/dense names it does have.
 */
export const findLayer = (model: tf.LayersModel, name: string): Layer => {
  const layer = resolvePath(model, name)
  if (layer === undefined) {
    const known = leafLayers(model).filter((l) => learnableKind(l.layer) !== undefined).map((l) => l.path)
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

/**
 * Layers the activation path runs through, decided per kind:
 *   BatchNormalization, LayerNormalization     inference-mode affine maps (running statistics / per-sample)
 *   ScalarBias, ScalarScale                    Fixup's x + b and x · s (./scalar.ts): elementwise affine maps
 *   Dropout, SpatialDropout1D, GaussianDropout, GaussianNoise, AlphaDropout
 *                                              the identity in inference mode
 *   Flatten, Reshape, Permute                  rearrange elements (statistics unchanged)
 *   ZeroPadding*, Cropping*, UpSampling*       what the next layer sees (zero padding adds zeros to it)
 *   Max/AveragePooling*, GlobalMax/AveragePooling*
 *                                              what the next layer sees; the activation after a pool is taken
 *                                              on the pooled tensor (act(pool(x)) — e.g. Keras' conv → pool → relu)
 *   Add (two inputs, once)                     the residual join: its other input is the partner
 * Any other layer between a conv/dense layer and its activation (Concatenate, Multiply, a second Add, a custom
 * layer...) is not guessed through: the path is `blocked` there, and LW refuses the layer naming it.
 */
const transparent = new Set([
  "BatchNormalization",
  "LayerNormalization",
  "Dropout",
  "SpatialDropout1D",
  "GaussianDropout",
  "GaussianNoise",
  "AlphaDropout",
  "Flatten",
  "Reshape",
  "Permute",
  "ZeroPadding2D",
  "Cropping2D",
  "UpSampling2D",
  "MaxPooling1D",
  "MaxPooling2D",
  "MaxPooling3D",
  "AveragePooling1D",
  "AveragePooling2D",
  "AveragePooling3D",
  "GlobalMaxPooling1D",
  "GlobalMaxPooling2D",
  "GlobalAveragePooling1D",
  "GlobalAveragePooling2D",
  ...scalarClassNames
])

export interface ActivationPath {
  /** Layers strictly between the layer and its activation (or, with no activation, up to where the path ends). */
  readonly between: Layer[]
  /** The activation layer that follows, if one does before the path ends. */
  readonly activation: Layer | undefined
  /** The Add on the way, if any: the residual join. */
  readonly add: Layer | undefined
  /** The Add's other input (the shortcut, or the branch when `layer` is on the shortcut). */
  readonly addOther: Layer | undefined
  /** The layer the path cannot be followed through (not transparent, not an activation), with why. */
  readonly blocked: { readonly layer: Layer; readonly problem: string } | undefined
}

/**
 * Follow `layer`'s output through transparent layers (above) and one residual Add to the first activation: for
 * LeNet's conv1 that is `conv1.act`; for a ResNet block's conv1 `bn1 → act1`; for its conv2 (and downsample)
 * `bn2 → add → act2`, the activation after the residual add; for conv → dropout → relu, the relu.
 *
 * The path ends without an activation — the layer is linear, its activation site is the tensor the next layers
 * consume (after `between`) — at the model output (the classifier), at a fork (the output used twice) or at the
 * next conv/dense layer. Any other layer on the way is `blocked`.
 */
export const activationPath = (layer: Layer): ActivationPath => {
  const between: Layer[] = []
  let add: Layer | undefined
  let addOther: Layer | undefined
  let prev = layer
  const end = (blocked?: ActivationPath["blocked"]) => ({ between, activation: undefined, add, addOther, blocked })
  for (;;) {
    const next = consumers(prev)
    if (next.length !== 1) return end()
    const c = next[0]!
    const cls = c.getClassName()
    if (isActivation(c)) return { between, activation: c, add, addOther, blocked: undefined }
    if (learnableKind(c) !== undefined) return end()
    if (cls === "Add") {
      if (add !== undefined) return end({ layer: c, problem: `a second residual add after "${add.name}"` })
      if (producers(c).length !== 2) return end({ layer: c, problem: `it adds ${producers(c).length} inputs, not 2` })
      add = c
      addOther = producers(c).find((p) => p !== prev)
    } else if (!transparent.has(cls)) {
      return end({ layer: c, problem: `LW does not follow the statistics through a ${cls} layer` })
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
