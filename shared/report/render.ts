/**
 * A figure's Vega-Lite spec drawn to SVG in-process: vega-lite compiles it, vega renders it headless (no canvas, no
 * browser, no network). A figure that cannot be drawn is a `FigureNotDrawn` naming it, never a thrown exception.
 */
import { Effect, Schema } from "effect"
import * as vega from "vega"
import { compile } from "vega-lite"
import type { Figure } from "../engine/pipeline.ts"
import { type Theme, themeConfig } from "./theme.ts"

/** A figure's spec could not be compiled or rendered (a bug in the figure's builder, or data it cannot draw). */
export class FigureNotDrawn extends Schema.TaggedError<FigureNotDrawn>()("FigureNotDrawn", {
  figure: Schema.String,
  title: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `figure "${this.figure}" (${this.title}) could not be drawn: ${this.reason}. The run's results are unaffected; the figure's builder (its pipeline's figures hook) needs fixing`
  }
}

export const figureIdPattern = /^[A-Za-z0-9][A-Za-z0-9-]*$/

/** Collects vega/vega-lite warnings instead of printing them (a failure quotes the last few). */
const quietLogger = (warnings: string[]) => {
  let level = vega.Warn
  const logger = {
    level(l?: number) {
      if (l === undefined) return level
      level = l
      return logger
    },
    error: (...args: unknown[]) => (warnings.push(args.map(String).join(" ")), logger),
    warn: (...args: unknown[]) => (warnings.push(args.map(String).join(" ")), logger),
    info: () => logger,
    debug: () => logger
  }
  return logger as unknown as vega.LoggerInterface
}

/** The figure as an SVG document in the given theme. */
export const renderSvg = (figure: Figure, theme: Theme): Effect.Effect<string, FigureNotDrawn> => {
  const fail = (reason: string) => new FigureNotDrawn({ figure: figure.id, title: figure.title, reason })
  if (!figureIdPattern.test(figure.id)) return Effect.fail(fail("its id must be letters, digits and dashes (it names the file figures/<id>.svg)"))
  const warnings: string[] = []
  const logger = quietLogger(warnings)
  const why = (e: unknown) => {
    const last = warnings.slice(-3)
    return `${e instanceof Error ? e.message : String(e)}${last.length > 0 ? ` (vega warnings: ${last.join("; ")})` : ""}`
  }
  return Effect.tryPromise({
    try: async () => {
      const vl = { ...figure.spec, config: { ...themeConfig(theme), ...(figure.spec.config as object | undefined) } }
      const compiled = compile(vl as never, { logger }).spec
      const view = new vega.View(vega.parse(compiled), { renderer: "none", logger })
      try {
        const svg = compactSvg(await view.toSVG())
        if (!/<path|<circle|<rect|<text/.test(svg)) throw new Error("the SVG has no marks")
        return svg
      } finally {
        view.finalize()
      }
    },
    catch: (e) => fail(why(e))
  })
}

/**
 * Smaller SVG, same picture: coordinates in path data and transforms to 0.01 px (vega writes 15 digits), and no
 * aria-hidden on marks whose group is already hidden. Text content is left alone.
 */
export const compactSvg = (svg: string): string =>
  svg
    .replace(/\b(d|transform)="([^"]*)"/g, (_, attr: string, value: string) =>
      `${attr}="${value.replace(/-?\d+\.\d{3,}(e-?\d+)?/g, (n) => String(Math.round(Number(n) * 100) / 100))}"`
    )
    .replace(/<path aria-hidden="true" /g, "<path ")

/**
 * Prefixes every id an SVG defines and refers to (clip paths, gradients), so several SVGs inlined in one HTML page
 * cannot capture each other's references.
 */
export const scopeSvgIds = (svg: string, prefix: string): string =>
  svg
    .replace(/\bid="([^"]+)"/g, (_, id: string) => `id="${prefix}-${id}"`)
    .replace(/url\(#([^)]+)\)/g, (_, id: string) => `url(#${prefix}-${id})`)
    .replace(/\bhref="#([^"]+)"/g, (_, id: string) => `href="#${prefix}-${id}"`)
