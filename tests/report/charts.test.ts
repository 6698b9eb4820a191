/**
 * The chart builders drawn to SVG for real (vega-lite → vega, headless): every kind of chart has marks for its data
 * in both themes, values it cannot draw (null, ≤ 0 on a log axis) are dropped and the caption says how many, and a
 * figure that cannot be drawn fails as FigureNotDrawn naming it.
 */
import { describe, expect, test } from "bun:test"
import { Effect } from "effect"
import { barChart, decisionMap, dotChart, figure, heatmap, lineChart } from "../../shared/report/charts.ts"
import { FigureNotDrawn, compactSvg, renderSvg, scopeSvgIds } from "../../shared/report/render.ts"
import { pageBackground } from "../../shared/report/theme.ts"

const draw = (f: Parameters<typeof renderSvg>[0], theme: "light" | "dark" = "light") => Effect.runPromise(renderSvg(f, theme))

/** The drawn items of one kind of mark: paths inside `<g class="mark-<kind> ...">` groups. */
const marks = (svg: string, kind: "line" | "symbol" | "rect" | "text" | "rule"): number => {
  let count = 0
  for (const m of svg.matchAll(new RegExp(`<g class="mark-${kind} role-mark[^"]*"[^>]*>`, "g"))) {
    const rest = svg.slice(m.index! + m[0].length)
    const group = rest.slice(0, rest.indexOf("</g>"))
    count += (group.match(kind === "text" ? /<text/g : kind === "rule" ? /<line/g : /<path/g) ?? []).length
  }
  return count
}

const meta = { id: "t", title: "T", caption: "A test figure." }

describe("chart builders", () => {
  test("a line chart: one line per series and dash group, dots at the points; dark and light backgrounds", async () => {
    const points = ["a", "b"].flatMap((series) =>
      [1, 2, 3].flatMap((x) => [
        { x, y: x * (series === "a" ? 1 : 2), series, dash: "training" },
        { x, y: x + 0.5, series, dash: "validation" }
      ])
    )
    const f = figure(meta, lineChart(points, { x: { title: "epoch" }, y: { title: "loss" }, series: { title: "s" }, dash: { title: "split" } }))
    expect(f.caption).toBe("A test figure.")
    const light = await draw(f)
    expect(marks(light, "line")).toBe(4) // 2 series × 2 splits
    expect(marks(light, "symbol")).toBeGreaterThanOrEqual(12)
    expect(light).toContain(`fill="${pageBackground.light}"`)
    const dark = await draw(f, "dark")
    expect(marks(dark, "line")).toBe(4)
    expect(dark).toContain(`fill="${pageBackground.dark}"`)
  })

  test("null (NaN/Inf) values are dropped and the caption counts them; so are values ≤ 0 on a log axis", async () => {
    const f = figure(
      meta,
      lineChart(
        [
          { x: 1, y: 1 },
          { x: 2, y: null },
          { x: 3, y: Number.POSITIVE_INFINITY },
          { x: 4, y: 0 },
          { x: 5, y: 0.1 }
        ],
        { x: { title: "x" }, y: { title: "y", log: true } }
      )
    )
    expect(f.caption).toBe("A test figure. Not drawn: 2 non-finite values (NaN/Inf) and 1 value ≤ 0 (not on a log scale).")
    expect((f.spec as { data: { values: unknown[] } }).data.values).toHaveLength(2)
    const svg = await draw(f)
    expect(marks(svg, "line")).toBe(1)
    // Ticked at the powers of ten only when the data spans two decades or more (here 0.1 to 1: one).
    const ticks = (lo: number, hi: number) => {
      const f = figure(meta, lineChart([{ x: 1, y: lo }, { x: 2, y: hi }], { x: { title: "x" }, y: { title: "y", log: true } }))
      return (f.spec as { encoding: { y: { axis?: { values: number[] } } } }).encoding.y.axis?.values
    }
    expect(ticks(0.1, 1)).toBeUndefined()
    expect(ticks(1e-3, 1e5)).toEqual([1e-3, 1e-2, 0.1, 1, 10, 100, 1e3, 1e4, 1e5])
    // A diverging run's 40 decades: every 5th.
    expect(ticks(0.1, 1e35)).toEqual([1, 1e5, 1e10, 1e15, 1e20, 1e25, 1e30, 1e35])
  })

  test("a line of one point is drawn as a dot even when lines have no dots", async () => {
    const f = figure(meta, lineChart([{ x: 0, y: 1, series: "a" }, { x: 0, y: 2, series: "b" }], { x: { title: "x" }, y: { title: "y" }, series: { title: "s" }, points: false }))
    expect(marks(await draw(f), "symbol")).toBe(2)
  })

  test("small multiples: a panel per facet, lines coloured by depth", async () => {
    const points = ["p1", "p2", "p3"].flatMap((facet) =>
      ["l0", "l1", "l2", "l3"].flatMap((series, depth) => [0, 50, 100].map((x) => ({ x, y: 1 + depth + x / 100, series, depth, facet })))
    )
    const svg = await draw(
      figure(meta, lineChart(points, { x: { title: "step" }, y: { title: "v", log: true }, byDepth: { title: "depth" }, facet: { title: "experiment", columns: 2 }, points: false }))
    )
    expect(marks(svg, "line")).toBe(12) // 3 panels × 4 layers
    expect(svg).toContain(">p3</text>")
  })

  test("an ordinal x axis keeps the given order (layers in forward order)", async () => {
    const order = ["conv1", "layer1.0.conv1", "fc"]
    const f = figure(meta, lineChart(order.map((x, i) => ({ x, y: i + 1, series: "e" })), { x: { title: "layer", order }, y: { title: "v" }, series: { title: "s" } }))
    const svg = await draw(f)
    const at = order.map((name) => svg.indexOf(`>${name}</text>`))
    expect(at.every((i) => i > 0)).toBe(true)
    expect([...at].sort((a, b) => a - b)).toEqual(at)
  })

  test("dots against a reference line, bars, a heatmap, a decision map", async () => {
    const dots = await draw(
      figure(meta, dotChart([{ category: "a", value: 2.5 }, { category: "b", value: 4e4 }, { category: "c", value: null }], { value: { title: "loss", log: true }, category: { title: "e" }, reference: { value: Math.log(10), label: "ln C" } }))
    )
    expect(marks(dots, "symbol")).toBe(2)
    expect(marks(dots, "rule")).toBe(1)
    expect(dots).toContain(">ln C</text>")

    // Several dots per category (one per seed): each dot drawn, each category one row, the plot sized by rows.
    const perSeed = dotChart(
      ["b", "a"].flatMap((category) => [70, 72, 74].map((value) => ({ category, value: value + (category === "a" ? 5 : 0) }))),
      { value: { title: "%" }, category: { title: "e" } }
    )
    expect((perSeed.spec as { height: number }).height).toBe(60)
    const seedDots = await draw(figure(meta, perSeed))
    expect(marks(seedDots, "symbol")).toBe(6)
    expect(seedDots.indexOf(">b</text>")).toBeLessThan(seedDots.indexOf(">a</text>"))

    const bars = await draw(figure(meta, barChart([{ category: "a", value: 81.2 }, { category: "b", value: 10 }], { value: { title: "%", domain: [0, 100], format: ".1f" }, category: { title: "e" } })))
    expect(marks(bars, "rect")).toBe(2)
    expect(bars).toContain(">81.2</text>")

    const cells = ["relu", "tanh"].flatMap((y) => ["LW", "Kaiming", "Xavier"].map((x, i) => ({ x, y, value: 80 + i })))
    const grid = await draw(figure(meta, heatmap(cells, { x: { title: "init" }, y: { title: "activation" }, value: { title: "%", format: ".1f" } })))
    expect(marks(grid, "rect")).toBe(6)
    expect(marks(grid, "text")).toBeGreaterThanOrEqual(6)

    const panel = (name: string) => ({
      panel: name,
      cells: [0, 1, 2, 3].flatMap((iy) => [0, 1, 2, 3].map((ix) => ({ x: ix, y: iy, p: ix === 3 && iy === 3 ? null : (ix + iy) / 6 }))),
      half: { x: 0.5, y: 0.5 },
      points: [{ x: 0.2, y: 0.3, label: "outer", positive: false }, { x: 2.5, y: 2.5, label: "inner", positive: true }]
    })
    const map = figure(meta, decisionMap([panel("a"), panel("b")], { probability: "P(inner)", label: "class", columns: 2 }))
    expect(map.caption).toContain("Not drawn: 2 non-finite values")
    const svg = await draw(map)
    expect(marks(svg, "rect")).toBe(30) // 2 panels × 15 finite cells
    expect(marks(svg, "symbol")).toBeGreaterThanOrEqual(4)
  })

  test("several charts stack into one figure", async () => {
    const a = lineChart([{ x: 1, y: 1 }, { x: 2, y: 2 }], { x: { title: "x" }, y: { title: "y" } })
    const b = lineChart([{ x: 1, y: null }, { x: 2, y: 3 }, { x: 3, y: 4 }], { x: { title: "x" }, y: { title: "y" } })
    const f = figure(meta, a, b)
    expect(f.caption).toContain("Not drawn: 1 non-finite value (NaN/Inf).")
    expect(marks(await draw(f), "line")).toBe(2)
  })
})

describe("rendering", () => {
  test("a spec vega-lite cannot compile is a FigureNotDrawn naming the figure, not a throw", async () => {
    const bad = { id: "broken", title: "Broken", caption: "", spec: { data: { values: [] }, mark: "no-such-mark" } }
    const e = await Effect.runPromise(Effect.flip(renderSvg(bad, "light")))
    expect(e).toBeInstanceOf(FigureNotDrawn)
    expect(e.figure).toBe("broken")
    expect(e.message).toContain('figure "broken" (Broken) could not be drawn')
    expect(e.reason.length).toBeGreaterThan(0)
  })

  test("an id that cannot name a file is refused", async () => {
    const e = await Effect.runPromise(Effect.flip(renderSvg({ ...figure(meta, lineChart([{ x: 1, y: 1 }], { x: { title: "x" }, y: { title: "y" } })), id: "../x" }, "light")))
    expect(e.reason).toContain("letters, digits and dashes")
  })

  test("compactSvg rounds path coordinates only; scopeSvgIds prefixes definitions and references alike", () => {
    expect(compactSvg('<path aria-hidden="true" d="M0.123456,1.5h2.00001Z"/><text>0.000123</text>')).toBe('<path d="M0.12,1.5h2Z"/><text>0.000123</text>')
    expect(scopeSvgIds('<clipPath id="clip1"/><g clip-path="url(#clip1)"/><use href="#clip1"/>', "f")).toBe(
      '<clipPath id="f-clip1"/><g clip-path="url(#f-clip1)"/><use href="#f-clip1"/>'
    )
  })
})
