/** LW — learned per-layer initialization: config and presets, one layer's learning, the greedy walk over a model. */
export {
  autoVarianceTarget,
  defaultLwConfig,
  lrAtEpoch,
  lwPresets,
  resolveLwConfig,
  targetFeasibility,
  targetWarning,
  type Convergence,
  type LayerTarget,
  type LwConfig,
  type LwPresetName,
  type ResolvedLwConfig,
  type Site,
  type TargetFeasibility,
  type TermSite
} from "./config.ts"
export { lwLoss, layerStatsOf, moments, type LayerStats, type LossParts, type Moments, type Sites } from "./stats.ts"
export {
  learnLayer,
  type Divergence,
  type EpochRecord,
  type LayerFn,
  type LayerResult,
  type LayerWeights,
  type LearnLayerArgs,
  type StopReason,
  type WeightArray
} from "./learn-layer.ts"
export { layerProblem, type LayerProblem, type Probe } from "./layer-problem.ts"
export { linearOp, type LinearOp } from "./linear-ops.ts"
export {
  describeLearned,
  layerStats,
  learnModelInit,
  learnOneLayer,
  lwLayerNames,
  lwSkipped,
  namedWeights,
  openLwView,
  type LayerReport,
  type LearnedLayer,
  type LearnModelOptions,
  type LearnModelResult,
  type LwView,
  type Skipped
} from "./greedy.ts"
export { ResumeMismatch, UnsupportedLayer } from "./errors.ts"
