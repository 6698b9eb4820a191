/**
 * lwi's public module: `import { learnInit } from "lwi"` (package.json "exports").
 *
 *   learnInit      LW on any tfjs LayersModel and one input batch (shared/lw/api.ts; docs/lw-api.md)
 *   lwLayerNames   the layers learnInit learns by default, in forward order (nested ones by path, `block/conv`)
 *   lwPresets      the method and its ablations as LwConfig records; defaultLwConfig is `lwPresets.lw`
 *   resolveLwConfig, autoVarianceTarget, targetFeasibility, targetWarning
 *                  the variance target a layer aims at for its activation ("auto"), and whether it can be reached
 *   layerStats     each conv/dense layer's output/activation statistics on a (held-out) batch
 *   referenceLw    LW for a sequential Dense/Conv2D stack in one readable file (shared/lw/reference.ts)
 *
 * lwi ships TypeScript sources: it runs under Bun (Node ≥ 22.18 strips types, but not inside node_modules).
 */
export {
  describeOutcome,
  learnInit,
  ModelNotCopyable,
  type Batch,
  type LayerOutcome,
  type LayerProgress,
  type LayerStatus,
  type LearnInitOptions,
  type LearnInitReport
} from "./shared/lw/api.ts"
export {
  autoVarianceTarget,
  defaultLwConfig,
  lwPresets,
  resolveLwConfig,
  targetFeasibility,
  targetWarning,
  type Convergence,
  type LayerTarget,
  type LwConfig,
  type LwPresetName,
  type ResolvedLwConfig,
  type TargetFeasibility
} from "./shared/lw/config.ts"
export { layerStats, lwLayerNames, type LayerReport } from "./shared/lw/greedy.ts"
export type { EpochRecord, StopReason } from "./shared/lw/learn-layer.ts"
export type { LayerStats } from "./shared/lw/stats.ts"
export { referenceLw, type ReferenceConfig, type ReferenceLayer } from "./shared/lw/reference.ts"
export { UnsupportedLayer } from "./shared/lw/errors.ts"
export { LayerNotRebuildable, SharedLayer } from "./shared/models/errors.ts"
export { BadConfig } from "./shared/errors.ts"
export { BackendUnavailable } from "./shared/backend/errors.ts"
export { backendNames, type BackendName } from "./shared/backend/select.ts"
