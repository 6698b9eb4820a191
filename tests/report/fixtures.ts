/**
 * Results of the shape the pipelines return (pipelines/lib/experiment.ts: history, initial, monitor, LW curves,
 * layer statistics), made up but plausible, deterministic, with NaN/Inf (null) where a diverging run has them.
 */
import type { ExperimentFigureRow } from "../../pipelines/lib/figures.ts"
import type { LayerStatsRow } from "../../pipelines/lib/report.ts"

/** ResNet18's 20 convs (and the classifier), named as the models name them. */
export const resnetLayers = [
  "conv1",
  ...[1, 2, 3, 4].flatMap((stage) =>
    [0, 1].flatMap((block) => [
      `layer${stage}.${block}.conv1`,
      `layer${stage}.${block}.conv2`,
      ...(stage > 1 && block === 0 ? [`layer${stage}.${block}.downsample`] : [])
    ])
  )
]

export const lenetLayers = ["conv1", "conv2", "fc1", "fc2"]

const wave = (i: number, k: number) => Math.sin(1.7 * i + 0.9 * k) * 0.5 + 0.5

export const fixtureExperiment = (
  id: string,
  o: { layers: ReadonlyArray<string>; epochs: number; steps: number; lw: boolean; diverges?: boolean; seed: number }
): ExperimentFigureRow & { diverged: boolean } => ({
  id,
  testAccuracy: o.diverges ? 0.1 : 0.8 + 0.02 * wave(o.seed, 1),
  diverged: o.diverges ?? false,
  history: Array.from({ length: o.epochs }, (_, epoch) => ({
    epoch,
    lr: 0.01,
    trainLoss: o.diverges && epoch > 0 ? Number.NaN : 1 / (epoch + 1) + 0.1 * wave(o.seed, epoch),
    trainAccuracy: 0.6 + 0.3 * (epoch / o.epochs),
    validationLoss: o.diverges && epoch > 0 ? null : 1.1 / (epoch + 1),
    validationAccuracy: o.diverges && epoch > 0 ? null : 0.58 + 0.3 * (epoch / o.epochs),
    seconds: 3
  })),
  initial: { loss: o.diverges ? 4.2e4 : 2.3 + wave(o.seed, 2), accuracy: 0.1, expectedLoss: Math.log(10) },
  monitor: Array.from({ length: o.steps }, (_, s) =>
    [...o.layers, "fc"].map((layer, d) => {
      const blown = o.diverges && s > o.steps / 2
      return {
        step: 50 * s,
        epoch: Math.floor(s / 10),
        layer,
        activationMean: blown ? null : 0.1 * wave(d, s),
        activationVar: blown ? null : Math.exp(0.2 * d - 0.05 * s) * (0.5 + wave(o.seed + d, s)),
        gradMean: 0,
        gradVar: 1e-6,
        gradNorm: blown ? null : 0.01 * (1 + d) * (1 + wave(d, s)),
        deadShare: Math.min(1, 0.02 * d * wave(s, d))
      }
    })
  ).flat(),
  ...(o.lw
    ? {
        lwLayers: o.layers.map((layer, d) => ({
          layer,
          curve: Array.from({ length: 10 + d }, (_, k) => ({
            meanLoss: k === 3 && d === 1 ? null : 0.5 * Math.exp(-0.3 * k) * (1 + wave(d, k)),
            varLoss: 2 * Math.exp(-0.2 * k) + 1e-4,
            loss: 1,
            lr: 0.01
          }))
        }))
      }
    : {})
})

export const fixtureLayerStats = (layers: ReadonlyArray<string>, scale: number): LayerStatsRow[] =>
  [...layers, "fc"].map((name, d) => ({
    name,
    outputMean: 0.05 * Math.sin(d),
    outputVar: scale ** d,
    activationMean: 0.3,
    activationVar: scale > 3 && d > 6 ? null : scale ** d * (0.8 + 0.1 * Math.cos(d))
  }))

/** resnet-nobn's experiments at a full run's monitor density (5 epochs × 1875 steps, every 50). */
export const resnetFixture = (steps = 188) => {
  const experiments = [
    fixtureExperiment("LW (no BN)", { layers: resnetLayers, epochs: 5, steps, lw: true, seed: 1 }),
    fixtureExperiment("LW, thesis start N(0,0.1²), plain SGD (no BN)", { layers: resnetLayers, epochs: 5, steps, lw: true, diverges: true, seed: 2 }),
    fixtureExperiment("RAE1: Kaiming (no BN)", { layers: resnetLayers, epochs: 5, steps, lw: false, seed: 3 }),
    fixtureExperiment("RAE2: N(0,1) (no BN)", { layers: resnetLayers, epochs: 5, steps, lw: false, diverges: true, seed: 4 }),
    fixtureExperiment("Kaiming + BN", { layers: resnetLayers, epochs: 5, steps, lw: false, seed: 5 })
  ]
  const layerStats = {
    "LW (no BN)": fixtureLayerStats(resnetLayers, 1.01),
    "LW, thesis start N(0,0.1²), plain SGD (no BN)": fixtureLayerStats(resnetLayers, 4),
    "RAE1: Kaiming (no BN)": fixtureLayerStats(resnetLayers, 1.3)
  }
  return { experiments, layerStats }
}
