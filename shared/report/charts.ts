/**
 * Small Vega-Lite (v6) chart builders for run reports: lines (series, dashes, facets, log scale), values across a
 * network's depth, dots against a reference, bars, heatmaps, and a 2-D decision map. They know nothing of LW: a
 * pipeline (pipelines/lib/figures.ts) maps its results onto them.
 *
 * Every builder drops the values a chart cannot draw (null = NaN/Inf in results.json; ≤ 0 on a log scale) and counts
 * them: `figure()` turns the count into a sentence of the caption, so nothing disappears silently.
 * Colours come from the theme (shared/report/theme.ts), never from here, so one spec draws in light and dark.
 */
import type { Figure } from "../engine/pipeline.ts"

type Spec = Record<string, unknown>

/** One chart: a Vega-Lite view with its data inline, and what was dropped from it. */
export interface Chart {
  readonly spec: Spec
  /** Values not drawn: non-finite (null), or not positive on a log scale. */
  readonly dropped: { readonly nonFinite: number; readonly nonPositive: number }
}

export interface Axis {
  readonly title: string
  /** Logarithmic scale: values ≤ 0 are dropped (and counted). */
  readonly log?: boolean
  /** Fixed domain, e.g. [0, 100] for a percentage. */
  readonly domain?: readonly [number, number]
}

/** Keeps the drawable rows; counts the others. */
const keep = <R>(rows: ReadonlyArray<R>, value: (r: R) => number | null | undefined, log: boolean | undefined) => {
  let nonFinite = 0
  let nonPositive = 0
  const kept = rows.filter((r) => {
    const v = value(r)
    if (v === null || v === undefined || !Number.isFinite(v)) return nonFinite++, false
    if (log && v <= 0) return nonPositive++, false
    return true
  })
  return { kept, dropped: { nonFinite, nonPositive } }
}

/**
 * A quantitative channel's scale and axis. A log axis spanning two decades or more is ticked at the powers of ten
 * only: vega's default log ticks (2, 5, ... in every decade) draw the grid as a dense band.
 */
const quant = (a: Axis, values: ReadonlyArray<number>) => {
  const scale = { ...(a.log ? { type: "log" } : { zero: false }), ...(a.domain ? { domain: [...a.domain] } : {}) }
  if (!a.log || values.length === 0) return { scale }
  const lo = Math.floor(Math.log10(Math.min(...values)))
  const hi = Math.ceil(Math.log10(Math.max(...values)))
  if (hi - lo < 2) return { scale }
  // At most 8 ticks: every decade, or every 2nd, 3rd, ... over a wide range (a diverging run spans 40 decades).
  const stride = [1, 2, 3, 5, 10, 20].find((k) => (hi - lo) / k <= 8) ?? Math.ceil((hi - lo) / 8)
  const first = Math.ceil(lo / stride) * stride
  const ticks = Array.from({ length: Math.floor((hi - first) / stride) + 1 }, (_, k) => 10 ** (first + k * stride))
  return { scale, axis: { values: ticks, format: lo < -3 || hi > 4 ? ".0e" : "~g" } }
}

// ---------------------------------------------------------------------------------------------------------------

export interface LinePoint {
  readonly x: number | string
  readonly y: number | null | undefined
  /** One line per series (e.g. experiment, layer). */
  readonly series?: string
  /** Depth of the series (0 = first layer): colours lines on a sequential ramp instead of by category. */
  readonly depth?: number
  /** Dash pattern group (e.g. train / validation). */
  readonly dash?: string
  /** Small-multiple panel (e.g. layer, experiment). */
  readonly facet?: string
}

export interface LineOptions {
  /** `order`: an ordinal x axis in this order (e.g. layers in forward order); quantitative otherwise. */
  readonly x: { readonly title: string; readonly order?: ReadonlyArray<string> }
  readonly y: Axis
  readonly series?: { readonly title: string; readonly order?: ReadonlyArray<string> }
  /** Colour by `depth` (a ramp with a gradient legend) rather than one colour per series name. */
  readonly byDepth?: { readonly title: string }
  readonly dash?: { readonly title: string; readonly order?: ReadonlyArray<string> }
  readonly facet?: { readonly title: string; readonly columns: number; readonly order?: ReadonlyArray<string> }
  readonly width?: number
  readonly height?: number
  /** Draw a dot at every point (what a one-epoch run shows at all). Default true. */
  readonly points?: boolean
}

/** Lines of `y` against `x`: one per series, dashed by group, in panels that share their axes. */
export const lineChart = (points: ReadonlyArray<LinePoint>, o: LineOptions): Chart => {
  const { kept, dropped } = keep(points, (p) => p.y, o.y.log)
  const ordinal = o.x.order !== undefined
  const encoding: Spec = {
    x: ordinal
      ? { field: "x", type: "ordinal", title: o.x.title, sort: [...o.x.order!], axis: { labelAngle: -45 } }
      : { field: "x", type: "quantitative", title: o.x.title, scale: { zero: false }, axis: { tickMinStep: 1, ...(kept.every((p) => Number.isInteger(p.x)) ? { format: ",d" } : {}) } },
    y: { field: "y", type: "quantitative", title: o.y.title, ...quant(o.y, kept.map((p) => p.y as number)) },
    ...(o.byDepth
      ? {
          color: { field: "depth", type: "quantitative", title: o.byDepth.title, legend: { format: "d" } },
          detail: { field: "series", type: "nominal" }
        }
      : o.series
        ? { color: { field: "series", type: "nominal", title: o.series.title, ...(o.series.order ? { sort: [...o.series.order] } : {}) } }
        : {}),
    ...(o.dash ? { strokeDash: { field: "dash", type: "nominal", title: o.dash.title, legend: { symbolType: "stroke", symbolSize: 300, symbolStrokeWidth: 1.8, encode: { symbols: { update: { stroke: { value: "#888" } } } } }, ...(o.dash.order ? { sort: [...o.dash.order] } : {}) } } : {})
  }
  // A line of one point draws nothing: dots whenever some line is that short, whatever `points` says.
  const lengths = new Map<string, number>()
  for (const p of kept) lengths.set(`${p.series}\u0000${p.facet}`, (lengths.get(`${p.series}\u0000${p.facet}`) ?? 0) + 1)
  const dots = o.points !== false || [...lengths.values()].some((n) => n < 2)
  const unit: Spec = {
    width: o.width ?? (o.facet ? 160 : 420),
    height: o.height ?? (o.facet ? 110 : 240),
    mark: { type: "line", point: dots ? { size: o.facet ? 12 : 24 } : false, strokeWidth: o.facet ? 1.2 : 1.8 },
    encoding
  }
  return { spec: wrapFacet(kept, unit, o.facet), dropped }
}

const wrapFacet = (values: ReadonlyArray<unknown>, unit: Spec, facet: LineOptions["facet"]): Spec =>
  facet
    ? {
        data: { values: [...values] },
        facet: {
          field: "facet",
          type: "nominal",
          title: facet.title,
          // A panel's label no wider than the panel: a long one would widen every column.
          header: { labelLimit: (unit.width as number) + 16 },
          ...(facet.order ? { sort: [...facet.order] } : {})
        },
        columns: facet.columns,
        spec: unit
      }
    : { data: { values: [...values] }, ...unit }

// ---------------------------------------------------------------------------------------------------------------

export interface DotRow {
  readonly category: string
  readonly value: number | null | undefined
}

/**
 * One dot per category on a value axis, with an optional reference line (e.g. initial loss against ln C): a dot plot
 * rather than bars, so a log axis (losses spanning decades) reads correctly.
 */
export const dotChart = (
  rows: ReadonlyArray<DotRow>,
  o: { readonly value: Axis; readonly category: { readonly title: string }; readonly reference?: { readonly value: number; readonly label: string } }
): Chart => {
  const { kept, dropped } = keep(rows, (r) => r.value, o.value.log)
  // A category may hold several dots (one per seed): one row of the axis each, in first-seen order.
  const order = [...new Set(rows.map((r) => r.category))]
  const dots: Spec = {
    mark: { type: "point", filled: true, size: 80 },
    encoding: {
      y: { field: "category", type: "nominal", title: o.category.title, sort: order },
      x: { field: "value", type: "quantitative", title: o.value.title, ...quant(o.value, kept.map((r) => r.value as number)) }
    }
  }
  const reference: Spec[] = o.reference
    ? [
        // One row of data each: a datum-encoded mark is drawn once per row of the data it sees.
        { data: { values: [{}] }, mark: { type: "rule", strokeDash: [4, 3] }, encoding: { x: { datum: o.reference.value, type: "quantitative" } } },
        {
          data: { values: [{}] },
          mark: { type: "text", align: "left", dx: 4, dy: -4, baseline: "bottom" },
          encoding: { x: { datum: o.reference.value, type: "quantitative" }, y: { value: 0 }, text: { value: o.reference.label } }
        }
      ]
    : []
  return {
    spec: { data: { values: kept }, width: 360, height: Math.max(60, 22 * order.length), layer: [dots, ...reference] },
    dropped
  }
}

// ---------------------------------------------------------------------------------------------------------------

export interface BarRow {
  readonly category: string
  readonly value: number | null | undefined
  /** Bars of one category side by side, one per group. */
  readonly group?: string
}

/** Bars per category (grouped when rows have `group`), the value printed on each bar. */
export const barChart = (
  rows: ReadonlyArray<BarRow>,
  o: { readonly value: Axis & { readonly format?: string }; readonly category: { readonly title: string }; readonly group?: { readonly title: string } }
): Chart => {
  const { kept, dropped } = keep(rows, (r) => r.value, o.value.log)
  const order = [...new Set(rows.map((r) => r.category))]
  const x = { field: "category", type: "nominal", title: o.category.title, sort: order, axis: { labelAngle: -30, labelLimit: 220 } }
  const scale = { ...(o.value.log ? { type: "log" } : { zero: true }), ...(o.value.domain ? { domain: [...o.value.domain] } : {}) }
  const y = { field: "value", type: "quantitative", title: o.value.title, scale }
  const group = o.group ? { xOffset: { field: "group", type: "nominal" }, color: { field: "group", type: "nominal", title: o.group.title } } : {}
  return {
    spec: {
      data: { values: kept },
      width: Math.max(240, 46 * kept.length),
      height: 220,
      encoding: { x, y },
      layer: [
        { mark: { type: "bar" }, encoding: group },
        {
          mark: { type: "text", baseline: "bottom", dy: -2, fontSize: 10 },
          encoding: { ...(o.group ? { xOffset: { field: "group", type: "nominal" } } : {}), text: { field: "value", format: o.value.format ?? ".3g" } }
        }
      ]
    },
    dropped
  }
}

// ---------------------------------------------------------------------------------------------------------------

export interface Cell {
  readonly x: string
  readonly y: string
  readonly value: number | null | undefined
}

/** A grid of coloured cells (e.g. accuracy over activation × initialization), each with its value printed. */
export const heatmap = (
  cells: ReadonlyArray<Cell>,
  o: {
    readonly x: { readonly title: string; readonly order?: ReadonlyArray<string> }
    readonly y: { readonly title: string; readonly order?: ReadonlyArray<string> }
    readonly value: { readonly title: string; readonly format?: string; readonly domain?: readonly [number, number] }
  }
): Chart => {
  const { kept, dropped } = keep(cells, (c) => c.value, false)
  const xs = o.x.order ?? [...new Set(cells.map((c) => c.x))]
  const ys = o.y.order ?? [...new Set(cells.map((c) => c.y))]
  const values = kept.map((c) => c.value as number)
  const [lo, hi] = o.value.domain ?? [Math.min(...values), Math.max(...values)]
  const middle = (lo + hi) / 2
  return {
    spec: {
      data: { values: kept },
      width: Math.max(120, 64 * xs.length),
      height: Math.max(60, 32 * ys.length),
      encoding: {
        x: { field: "x", type: "nominal", title: o.x.title, sort: [...xs], axis: { labelAngle: 0 } },
        y: { field: "y", type: "nominal", title: o.y.title, sort: [...ys] }
      },
      layer: [
        {
          mark: { type: "rect" },
          encoding: {
            color: { field: "value", type: "quantitative", title: o.value.title, ...(o.value.domain ? { scale: { domain: [...o.value.domain] } } : {}) }
          }
        },
        {
          mark: { type: "text", fontSize: 11 },
          encoding: {
            text: { field: "value", format: o.value.format ?? ".3g" },
            // The sequential ramp runs dark → light: dark text on the light half, light text on the dark half.
            color: { condition: { test: `datum.value > ${Number.isFinite(middle) ? middle : 0}`, value: "#111" }, value: "#f4f4f4" }
          }
        }
      ]
    },
    dropped
  }
}

// ---------------------------------------------------------------------------------------------------------------

export interface DecisionPanel {
  /** Panel title, e.g. the experiment. */
  readonly panel: string
  /** Cell centres on a regular grid, and P(class 1) there (null when the model's output was not finite). */
  readonly cells: ReadonlyArray<{ readonly x: number; readonly y: number; readonly p: number | null }>
  /** Half the grid step along x and y: each cell is drawn as the square around its centre. */
  readonly half: { readonly x: number; readonly y: number }
  /** Data points drawn over the map; `positive`: of the class whose probability the map shows. */
  readonly points: ReadonlyArray<{ readonly x: number; readonly y: number; readonly label: string; readonly positive: boolean }>
}

/**
 * A 2-D classifier's decision map per panel: each grid cell coloured by the predicted probability of the second
 * class (a diverging ramp, white at 0.5 where the boundary is), the data points on top (class by shape).
 */
export const decisionMap = (
  panels: ReadonlyArray<DecisionPanel>,
  o: { readonly probability: string; readonly label: string; readonly columns: number }
): Chart => {
  const cells = panels.flatMap((p) => p.cells.map((c) => ({ ...c, panel: p.panel, kind: "cell", hx: p.half.x, hy: p.half.y })))
  const { kept, dropped } = keep(cells, (c) => c.p, false)
  const points = panels.flatMap((p) => p.points.map((d) => ({ ...d, panel: p.panel, kind: "point" })))
  const labels = [...new Map(points.map((d) => [d.label, { label: d.label, positive: d.positive }])).values()]
  const axis = (title: string) => ({ field: "x", type: "quantitative", title, scale: { zero: false, nice: false }, axis: { grid: false } })
  return {
    spec: {
      data: { values: [...kept, ...points] },
      facet: { field: "panel", type: "nominal", title: null, sort: panels.map((p) => p.panel) },
      columns: o.columns,
      spec: {
        width: 200,
        height: 200,
        layer: [
          {
            // Each cell 3 % wider than its step: no anti-aliasing seams between neighbours.
            transform: [
              { filter: "datum.kind === 'cell'" },
              { calculate: "datum.x - 1.03 * datum.hx", as: "x0" },
              { calculate: "datum.x + 1.03 * datum.hx", as: "x1" },
              { calculate: "datum.y - 1.03 * datum.hy", as: "y0" },
              { calculate: "datum.y + 1.03 * datum.hy", as: "y1" }
            ],
            mark: { type: "rect" },
            encoding: {
              x: { ...axis("x"), field: "x0" },
              x2: { field: "x1" },
              y: { ...axis("y"), field: "y0" },
              y2: { field: "y1" },
              color: { field: "p", type: "quantitative", title: o.probability, scale: { scheme: "blueorange", domain: [0, 1], domainMid: 0.5 } }
            }
          },
          {
            transform: [{ filter: "datum.kind === 'point'" }],
            mark: { type: "point", filled: true, size: 9, strokeWidth: 0, opacity: 0.9 },
            encoding: {
              x: axis("x"),
              y: { ...axis("y"), field: "y" },
              shape: { field: "label", type: "nominal", title: o.label },
              // Each class in the colour of the other's side of the ramp, so points stand out where they belong.
              fill: { field: "label", type: "nominal", title: o.label, scale: { domain: labels.map((l) => l.label), range: labels.map((l) => (l.positive ? "#08306b" : "#7f2704")) } }
            }
          }
        ]
      }
    },
    dropped: { nonFinite: dropped.nonFinite, nonPositive: 0 }
  }
}

// ---------------------------------------------------------------------------------------------------------------

/** What was dropped, in a sentence for the caption ("" when nothing was). */
export const droppedNote = (charts: ReadonlyArray<Chart>): string => {
  const nonFinite = charts.reduce((a, c) => a + c.dropped.nonFinite, 0)
  const nonPositive = charts.reduce((a, c) => a + c.dropped.nonPositive, 0)
  const parts = [
    nonFinite > 0 ? `${nonFinite} non-finite value${nonFinite === 1 ? "" : "s"} (NaN/Inf)` : "",
    nonPositive > 0 ? `${nonPositive} value${nonPositive === 1 ? "" : "s"} ≤ 0 (not on a log scale)` : ""
  ].filter((p) => p !== "")
  return parts.length === 0 ? "" : `Not drawn: ${parts.join(" and ")}.`
}

/** A figure from one chart, or several stacked; the caption says what was dropped. */
export const figure = (meta: { readonly id: string; readonly title: string; readonly caption: string }, ...charts: ReadonlyArray<Chart>): Figure => {
  const note = droppedNote(charts)
  return {
    id: meta.id,
    title: meta.title,
    caption: note === "" ? meta.caption : `${meta.caption} ${note}`,
    spec: {
      $schema: "https://vega.github.io/schema/vega-lite/v6.json",
      ...(charts.length === 1 ? charts[0]!.spec : { vconcat: charts.map((c) => c.spec), spacing: 24 })
    }
  }
}
