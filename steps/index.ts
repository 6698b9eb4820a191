/**
 * Every step of the project, by name: what a worker (pipelines/worker.ts) can run when a job names a step. A step
 * added under steps/ must be listed here (tests/engine/queue.test.ts checks that every file of steps/ is).
 */
import { decisionGrid } from "./decision-grid.ts"
import { depthStatsStep } from "./depth-stats.ts"
import { estimateWibShift } from "./estimate-wib-shift.ts"
import { evaluate } from "./evaluate.ts"
import { filterVariances } from "./filter-variances.ts"
import { freeze } from "./freeze.ts"
import { initBiases } from "./init-biases.ts"
import { initWeights } from "./init-weights.ts"
import { learnLayerInit } from "./learn-layer-init.ts"
import { lsuvInit } from "./lsuv-init.ts"
import { makeCircles } from "./make-circles.ts"
import { mcDropout } from "./mc-dropout.ts"
import { prepareDataset } from "./prepare-dataset.ts"
import { sampleMinibatch } from "./sample-minibatch.ts"
import { trainDropout } from "./train-dropout.ts"
import { train } from "./train.ts"
import { transfer } from "./transfer.ts"
import { transformFeatures } from "./transform-features.ts"

const all = [
  decisionGrid,
  depthStatsStep,
  estimateWibShift,
  evaluate,
  filterVariances,
  freeze,
  initBiases,
  initWeights,
  learnLayerInit,
  lsuvInit,
  makeCircles,
  mcDropout,
  prepareDataset,
  sampleMinibatch,
  trainDropout,
  train,
  transfer,
  transformFeatures
] as const

export const stepRegistry = Object.fromEntries(all.map((s) => [s.name, s])) as Readonly<Record<string, (typeof all)[number]>>
