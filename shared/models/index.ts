/** Model factories and the per-layer API (names, weights, forward-to-layer). Importing builds nothing. */
export { createLeNet5, type LeNet5Config } from "./lenet.ts"
export { createResNet18, type ResNet18Config } from "./resnet.ts"
export { createResNetCifar, type ResNetCifarConfig } from "./resnet-cifar.ts"
export { createMLP, type MlpConfig } from "./mlp.ts"
export { createCnn4, type Cnn4Config } from "./cnn4.ts"
export { NegInfPadding2D } from "./layers.ts"
export { ScalarBias, ScalarScale } from "./scalar.ts"
export { LayerNotRebuildable, NestedModel, SharedLayer, UnknownLayer, WeightMismatch } from "./errors.ts"
export { activationPath, feeders, findLayer, forwardOrder, initContexts, isContainer, leafLayers, learnableKind, type LayerKind } from "./graph.ts"
export { flatten, isFlat, type FlatModel } from "./flatten.ts"
export { kindSpecs, type KindSpec } from "./kinds.ts"
export { forwardTo, layerProbe, type LayerForward } from "./forward.ts"
export {
  applyInit,
  applyLsuv,
  drawKernels,
  getLayerWeights,
  learnableLayers,
  loadWeights,
  scaleKernel,
  serializeWeights,
  setLayerWeights,
  withFlat,
  writeThrough,
  type ApplyInitOptions,
  type ApplyLsuvOptions,
  type KernelInfo,
  type LearnableLayer,
  type NamedWeight
} from "./weights.ts"
