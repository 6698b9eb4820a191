/**
 * pipelines/lib/figures.ts on results of the pipelines' shape: which figures exist for which data, what each holds
 * (a panel per LW layer, a line per monitored layer, the ln C reference), that captions say what is missing, and the
 * headline numbers.
 */
import { describe, expect, test } from "bun:test"
import {
  accuracyHeadline,
  experimentFigures,
  figureSlug,
  initialLossFigure,
  layerStatsAcrossDepth,
  lwCurves,
  monitorFigures,
  trainingCurves
} from "../../pipelines/lib/figures.ts"
import { fixtureExperiment, fixtureLayerStats, lenetLayers, resnetFixture, resnetLayers } from "./fixtures.ts"

type Row = Record<string, unknown>
const values = (spec: Record<string, unknown>): Row[] => (spec.data as { values: Row[] }).values
const unit = (spec: Record<string, unknown>, i = 0) => (spec.vconcat ? (spec.vconcat as Array<Record<string, unknown>>)[i]! : spec)

describe("pipeline figures", () => {
  const { experiments, layerStats } = resnetFixture()

  test("LW curves: one figure per LW experiment, a panel per learned layer in forward order (ResNet18: 20)", () => {
    const figures = lwCurves(experiments)
    expect(figures.map((f) => f.id)).toEqual(["lw-curves-lw-no-bn", "lw-curves-lw-thesis-start-n-0-0-1-plain-sgd-no-bn"])
    const spec = figures[0]!.spec
    expect((spec.facet as { sort: string[] }).sort).toEqual(resnetLayers)
    expect(spec.columns).toBe(5)
    const rows = values(spec)
    expect(new Set(rows.map((r) => r.facet)).size).toBe(20)
    expect(new Set(rows.map((r) => r.series))).toEqual(new Set(["mean term", "variance term"]))
    // conv1 learned 10 epochs: 10 points per term.
    expect(rows.filter((r) => r.facet === "conv1" && r.series === "mean term")).toHaveLength(10)
    expect(figures[0]!.caption).toContain("Not drawn: 1 non-finite value")
  })

  test("training curves: training and validation per epoch for every experiment, loss on a log axis", () => {
    const [f] = trainingCurves(experiments)
    const loss = values(unit(f!.spec, 0))
    expect(new Set(loss.map((r) => r.series)).size).toBe(5)
    expect(loss.filter((r) => r.series === "LW (no BN)" && r.dash === "validation").map((r) => r.x)).toEqual([1, 2, 3, 4, 5])
    const accuracy = values(unit(f!.spec, 1))
    expect(Math.max(...accuracy.map((r) => r.y as number))).toBeLessThanOrEqual(100)
    expect(Math.max(...accuracy.map((r) => r.y as number))).toBeGreaterThan(1) // a percentage
    // The diverged experiments' NaN losses and null validation numbers are dropped and counted.
    expect(f!.caption).toMatch(/Not drawn: \d+ non-finite values/)
    expect(trainingCurves([{ id: "x", testAccuracy: 0.5 }])).toEqual([])
  })

  test("monitor: a figure per statistic, a panel per experiment, a line per layer; an all-NaN panel is named", () => {
    const figures = monitorFigures(experiments)
    expect(figures.map((f) => f.id)).toEqual(["monitor-activation-variance", "monitor-dead-units", "monitor-gradient-norm"])
    const rows = values(figures[0]!.spec)
    expect(new Set(rows.map((r) => r.facet)).size).toBe(5)
    expect(new Set(rows.filter((r) => r.facet === "LW (no BN)").map((r) => r.series)).size).toBe(21)
    expect(Math.max(...rows.map((r) => r.depth as number))).toBe(20)
    // 188 samples thinned to at most 60 per line, the last step kept.
    const steps = new Set(rows.filter((r) => r.facet === "LW (no BN)" && r.series === "conv1").map((r) => r.x))
    expect(steps.size).toBeLessThanOrEqual(60)
    expect(steps.has(50 * 187)).toBe(true)
    expect(figures[0]!.caption).toContain("At most 60 sampled steps per line")

    const blown = fixtureExperiment("blown", { layers: lenetLayers, epochs: 1, steps: 4, lw: false, diverges: true, seed: 1 })
    const all = { ...blown, monitor: blown.monitor!.map((m) => ({ ...m, gradNorm: null })) }
    const ok = fixtureExperiment("ok", { layers: lenetLayers, epochs: 1, steps: 4, lw: false, seed: 2 })
    expect(monitorFigures([ok, all])[2]!.caption).toContain("No panel for blown: every value was NaN/Inf.")
  })

  test("initial loss: one dot per experiment against ln C", () => {
    const [f] = initialLossFigure(experiments)
    expect(f!.caption).toContain(`ln C = ${Math.log(10).toFixed(3)}`)
    expect(JSON.stringify(f!.spec)).toContain(`"datum":${Math.log(10)}`)
    expect(values(f!.spec)).toHaveLength(5)
  })

  test("layer statistics across depth: |mean| on a log axis only when some mean leaves ±10", () => {
    const [calm] = layerStatsAcrossDepth({ a: fixtureLayerStats(lenetLayers, 1) }, "On validation.")
    expect(JSON.stringify(unit(calm!.spec, 1))).toContain('"title":"output mean"')
    const wild = fixtureLayerStats(lenetLayers, 1).map((r, i) => ({ ...r, outputMean: i === 2 ? -3e8 : r.outputMean }))
    const [f] = layerStatsAcrossDepth({ a: fixtureLayerStats(lenetLayers, 1), b: wild }, "On validation.")
    expect(JSON.stringify(unit(f!.spec, 1))).toContain('"title":"|output mean| (log)"')
    expect(f!.caption).toContain("as its absolute value on a log scale")
    expect(values(unit(f!.spec, 0)).map((r) => r.x).slice(0, 5)).toEqual([...lenetLayers, "fc"])
  })

  test("experimentFigures gives only what the data supports; ids are file-safe and distinct", () => {
    const all = experimentFigures(experiments, { byExperiment: layerStats, what: "x" })
    expect(all).toHaveLength(9)
    expect(new Set(all.map((f) => f.id)).size).toBe(9)
    for (const f of all) expect(f.id).toMatch(/^[a-z0-9][a-z0-9-]*$/)
    expect(experimentFigures([{ id: "bare", testAccuracy: 0.9 }]).map((f) => f.id)).toEqual(["test-accuracy"])
    expect(figureSlug("normal(0,1)")).toBe("normal-0-1")
    const twins = [experiments[0]!, { ...experiments[0]!, id: "LW: no BN" }]
    expect(lwCurves(twins).map((f) => f.id)).toEqual(["lw-curves-lw-no-bn", "lw-curves-lw-no-bn-2"])
  })

  test("headline: each experiment's test accuracy in %, diverged ones marked", () => {
    expect(accuracyHeadline([{ id: "LW", testAccuracy: 0.8968 }, { id: "RAE2", testAccuracy: 0.1, diverged: true }])).toEqual([
      { label: "LW test accuracy", value: 89.68, unit: "%" },
      { label: "RAE2 test accuracy (diverged)", value: 10, unit: "%" }
    ])
  })
})
