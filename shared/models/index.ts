/** Model factories and the per-layer API (names, weights, forward-to-layer). Importing builds nothing. */
export { createLeNet5, type LeNet5Config } from "./lenet.ts"
export { createResNet18, type ResNet18Config } from "./resnet.ts"
export { createMLP, type MlpConfig } from "./mlp.ts"
export { createCnn4, type Cnn4Config } from "./cnn4.ts"
export { NegInfPadding2D } from "./layers.ts"
export { UnknownLayer, WeightMismatch } from "./errors.ts"
export { activationPath, feeders, findLayer, forwardOrder, initContexts, learnableKind, type LayerKind } from "./graph.ts"
export { forwardTo, layerProbe, type LayerForward } from "./forward.ts"
export {
  applyInit,
  applyLsuv,
  getLayerWeights,
  learnableLayers,
  loadWeights,
  scaleKernel,
  serializeWeights,
  setLayerWeights,
  type ApplyInitOptions,
  type ApplyLsuvOptions,
  type LearnableLayer,
  type NamedWeight
} from "./weights.ts"
