/**
 * bounded-targets — what LW should aim at for a bounded activation, chosen by measurement (issue 14, part 3).
 *
 * A sigmoid's output variance is at most 0.25 and a tanh's approaches 1 only saturated (shared/init/activations.ts
 * `outputVarianceBound`), so the thesis's target "activation variance 1" cannot be met there. Candidate targets,
 * each LW's default config with its variance term changed:
 *
 *   literal        activation variance → 1 (the thesis as written; infeasible for sigmoid, saturating for tanh)
 *   preactivation  layer output (pre-activation) variance → 1; the activation's variance follows
 *   unitGaussian   activation variance → Var f(z), z ~ N(0, 1): what a unit-Gaussian pre-activation gives
 *   halfBound      activation variance → half the activation's bound (sigmoid 0.125, tanh 0.5)
 *
 * beside Kaiming-normal and Xavier-uniform draws (no LW), and Kaiming-normal with the classifier drawn as LW leaves it
 * (PyTorch's default, `standardInit`): LW learns every layer but the classifier. Per seed (the data split, LW batch, draws and training
 * order all follow it): LeNet-5 on a Fashion-MNIST subset, LW, then training; reported: test accuracy (mean ± sd over
 * seeds) and every layer's statistics on the held-out validation split after LW. Every piece is a cached step of
 * pipelines/lib/experiment.ts, so the literal rows are lenet-init-grid's own LW steps for the same flags.
 *
 *   bun run scripts/bounded-targets.ts --backend torch --threads 1 --subset 5000 --epochs 3 --seeds 0,1,2
 */
import * as tf from "@tensorflow/tfjs"
import { Effect } from "effect"
import { fashionMnistPlan, initLayerStats, learnedInit, prepareData, standardInit, trainAndEvaluate, validationFlags } from "../pipelines/lib/experiment.ts"
import { lwConfigFrom, lwFlags, trainConfigFrom, trainFlags } from "../pipelines/lib/flags.ts"
import type { LayerStatsRow } from "../pipelines/lib/report.ts"
import { backendFlags, setupBackend } from "../shared/backend/setup.ts"
import { dataFlags } from "../shared/data/flags.ts"
import type { FlagDefs } from "../shared/engine/flags.ts"
import { runMain } from "../shared/engine/main.ts"
import { definePipeline, step } from "../shared/engine/pipeline.ts"
import { Reporter } from "../shared/engine/reporter.ts"
import { markdownTable } from "../shared/engine/report.ts"
import { gaussianOutputVariance, outputVarianceBound } from "../shared/init/activations.ts"
import { defaultInitConfigs } from "../shared/init/initializers.ts"
import { type LwConfig, lwPresets } from "../shared/lw/config.ts"
import type { ModelSpec } from "../shared/models/spec.ts"
import { initWeights } from "../steps/init-weights.ts"

type Bounded = "sigmoid" | "tanh"
type Target = Pick<LwConfig, "varianceAt"> & { readonly varianceTarget: number }

/** Rounded to 4 decimals: the number a config would write down (and the step key then holds). */
const round4 = (x: number) => Math.round(x * 1e4) / 1e4

/** Each candidate's variance term for an activation. */
export const candidates: { readonly [name: string]: (a: Bounded) => Target } = {
  literal: () => ({ varianceAt: "activation", varianceTarget: 1 }),
  preactivation: () => ({ varianceAt: "output", varianceTarget: 1 }),
  unitGaussian: (a) => ({ varianceAt: "activation", varianceTarget: round4(gaussianOutputVariance(a, 1)!) }),
  halfBound: (a) => ({ varianceAt: "activation", varianceTarget: round4(outputVarianceBound(a)! / 2) })
}
/** No-LW draws; `kaimingStdHead`: Kaiming-normal with the classifier drawn as under LW (`standardInit`). */
const baselines = {
  kaiming: { init: defaultInitConfigs.kaimingNormal },
  xavier: { init: defaultInitConfigs.xavierUniform },
  kaimingStdHead: { init: defaultInitConfigs.kaimingNormal, classifier: standardInit }
} as const

const list = (s: string) => s.split(",").map((x) => x.trim()).filter((x) => x !== "")

interface Cell {
  readonly seed: number
  readonly testAccuracy: number
  readonly diverged: boolean
  readonly layerStats: ReadonlyArray<LayerStatsRow>
  /** LW only: each layer's epochs and stop reason. */
  readonly lw: ReadonlyArray<{ readonly layer: string; readonly epochs: number; readonly stop: string }> | null
}
interface Row {
  readonly activation: Bounded
  readonly policy: string
  readonly target: Target | null
  readonly cells: ReadonlyArray<Cell>
}

const meanSd = (xs: ReadonlyArray<number>) => {
  const m = xs.reduce((a, x) => a + x, 0) / xs.length
  const sd = xs.length > 1 ? Math.sqrt(xs.reduce((a, x) => a + (x - m) ** 2, 0) / (xs.length - 1)) : 0
  return { mean: m, sd }
}
const fmt = (x: number | null | undefined, digits = 3) =>
  x === null || x === undefined || !Number.isFinite(x) ? "NaN/Inf" : Math.abs(x) >= 1e4 ? x.toExponential(2) : x.toFixed(digits)
/** Mean over seeds of one statistic of one layer (null if any seed's is not finite). */
const layerMean = (cells: ReadonlyArray<Cell>, layer: string, pick: (s: LayerStatsRow) => number | null) => {
  const xs = cells.map((c) => pick(c.layerStats.find((s) => s.name === layer)!))
  return xs.every((x) => x !== null) ? meanSd(xs as number[]).mean : null
}
const targetText = (t: Target | null) => (t === null ? "no LW" : `${t.varianceAt} variance → ${t.varianceTarget}`)

const accuracyTable = (rows: ReadonlyArray<Row>) =>
  markdownTable(
    ["activation", "policy", "variance target", "test accuracy (mean ± sd)", "per seed", "LW epochs (all layers, mean)", "layers stopped at maxEpochs"],
    rows.map((r) => {
      const acc = meanSd(r.cells.map((c) => 100 * c.testAccuracy))
      const lw = r.cells.every((c) => c.lw !== null) ? r.cells.map((c) => c.lw!) : null
      return [
        r.activation,
        r.policy,
        targetText(r.target),
        `${acc.mean.toFixed(2)} ± ${acc.sd.toFixed(2)} %${r.cells.some((c) => c.diverged) ? " (diverged)" : ""}`,
        r.cells.map((c) => (100 * c.testAccuracy).toFixed(2)).join(", "),
        lw ? meanSd(lw.map((l) => l.reduce((a, x) => a + x.epochs, 0))).mean.toFixed(0) : "–",
        lw ? `${lw.flat().filter((l) => l.stop === "maxEpochs").length} / ${lw.flat().length}` : "–"
      ]
    })
  )

/** Per layer (the classifier keeps a standard init and is left out), validation statistics averaged over seeds. */
const layerTable = (rows: ReadonlyArray<Row>) => {
  const out: string[][] = []
  for (const r of rows) {
    const names = r.cells[0]!.layerStats.slice(0, -1).map((s) => s.name)
    for (const name of names) {
      out.push([
        r.activation,
        r.policy,
        name,
        fmt(layerMean(r.cells, name, (s) => s.outputMean)),
        fmt(layerMean(r.cells, name, (s) => s.outputVar)),
        fmt(layerMean(r.cells, name, (s) => s.activationVar), 4)
      ])
    }
    const logits = r.cells[0]!.layerStats.at(-1)!.name
    out.push([r.activation, r.policy, `${logits} (logits)`, fmt(layerMean(r.cells, logits, (s) => s.outputMean)), fmt(layerMean(r.cells, logits, (s) => s.outputVar)), "–"])
  }
  return markdownTable(["activation", "policy", "layer", "output mean", "output (pre-activation) variance", "activation variance"], out)
}

export const boundedTargets = definePipeline({
  name: "bounded-targets",
  description: "LW's variance target for sigmoid and tanh on LeNet-5 / Fashion-MNIST: candidate policies × seeds",
  flags: {
    ...backendFlags,
    ...dataFlags,
    ...trainFlags({ epochs: 3, quickEpochs: 1, subset: 5000, quickSubset: 600, testSubset: 0, quickTestSubset: 300 }),
    ...lwFlags({ quickMaxEpochs: 30 }),
    ...validationFlags({ validation: 500, quickValidation: 100 }),
    seeds: { kind: "string", default: "0,1,2", check: "/^\\d+(,\\d+)*$/", doc: "comma-separated seeds (each: data split, LW batch, draws, training order)" },
    activations: { kind: "string", default: "sigmoid,tanh", check: "/^(sigmoid|tanh)(,(sigmoid|tanh))*$/", doc: "comma-separated, of sigmoid, tanh" },
    policies: {
      kind: "string",
      default: "literal,preactivation,unitGaussian,halfBound,kaiming,xavier,kaimingStdHead",
      check: "/^(literal|preactivation|unitGaussian|halfBound|kaiming|xavier|kaimingStdHead)(,(literal|preactivation|unitGaussian|halfBound|kaiming|xavier|kaimingStdHead))*$/",
      doc: "candidate targets, and no-LW draws: kaiming, xavier, kaimingStdHead (Kaiming with the classifier drawn as under LW)"
    }
  } as const satisfies FlagDefs,
  setup: setupBackend,
  run: (config) =>
    Effect.gen(function* () {
      const backend = tf.getBackend()
      const reporter = yield* Reporter
      const training = trainConfigFrom(config)
      const activations = list(config.activations) as Bounded[]
      const policies = list(config.policies)
      const cells = new Map<string, Cell[]>()
      for (const seed of list(config.seeds).map(Number)) {
        const data = yield* prepareData(fashionMnistPlan({ ...config, seed }))
        for (const activation of activations) {
          const model: ModelSpec = { arch: "lenet5", inputShape: [28, 28, 1], classes: 10, activation }
          for (const policy of policies) {
            const cell: Cell = yield* policy in baselines
              ? Effect.gen(function* () {
                  const initial = yield* step(initWeights, { model, ...baselines[policy as keyof typeof baselines], seed })
                  const outcome = yield* trainAndEvaluate(model, initial, data, { ...training, seed }, backend)
                  const layerStats = yield* initLayerStats(model, initial, data, backend)
                  return { seed, testAccuracy: outcome.testAccuracy, diverged: outcome.diverged, layerStats, lw: null }
                })
              : Effect.gen(function* () {
                  const lwConfig: LwConfig = { ...lwConfigFrom(lwPresets.lw, config), ...candidates[policy]!(activation) }
                  const lw = yield* learnedInit(model, data, lwConfig, seed, backend)
                  const outcome = yield* trainAndEvaluate(model, lw.weights, data, { ...training, seed }, backend)
                  return {
                    seed,
                    testAccuracy: outcome.testAccuracy,
                    diverged: outcome.diverged,
                    layerStats: lw.layerStats,
                    lw: lw.layers.map((l) => ({ layer: l.layer, epochs: l.epochs, stop: l.stop }))
                  }
                })
            reporter.line(`seed ${seed} ${activation} ${policy}: test accuracy ${(100 * cell.testAccuracy).toFixed(2)} %`)
            const key = `${activation}/${policy}`
            cells.set(key, [...(cells.get(key) ?? []), cell])
          }
        }
      }
      const rows: Row[] = activations.flatMap((activation) =>
        policies.map((policy) => ({
          activation,
          policy,
          target: policy in baselines ? null : candidates[policy]!(activation),
          cells: cells.get(`${activation}/${policy}`)!
        }))
      )
      reporter.line(`\n${accuracyTable(rows)}\n\n${layerTable(rows)}`)
      return { seeds: list(config.seeds).map(Number), rows }
    }),
  report: ({ seeds, rows }) =>
    [
      `## LW's variance target for bounded activations: LeNet-5, ${seeds.length} seeds (${seeds.join(", ")})`,
      "",
      accuracyTable(rows),
      "",
      "## Per layer, on the held-out validation split, after LW (or at the draw), mean over seeds",
      "",
      layerTable(rows)
    ].join("\n")
})

if (import.meta.main) runMain(boundedTargets)
