/**
 * A run's human-readable outputs, written after results.json, each atomically:
 *   <out>/figures/<id>.svg  every figure, light theme on an opaque background (reads on a forge in either mode)
 *   <out>/report.md         the run's head, the pipeline's own section, the figures (linked), the steps
 *   <out>/report.html       the same content, self-contained: CSS and every figure inline, light and dark
 *
 * A figure that cannot be drawn does not fail the run: training is done and results.json is written by then, and a
 * broken chart must not throw that away. It is reported instead — a warning on the console naming the figure and
 * why (FigureNotDrawn), and the same sentence in report.md/report.html where the figure would be. Never silent.
 */
import { Effect, Result } from "effect"
import * as fs from "node:fs/promises"
import * as path from "node:path"
import type { Figure } from "../engine/pipeline.ts"
import { renderReport } from "../engine/report.ts"
import { Reporter } from "../engine/reporter.ts"
import { writeFileAtomic } from "../engine/store.ts"
import { type DrawnFigure, reportHtml } from "./html.ts"
import { FigureNotDrawn, renderSvg, scopeSvgIds } from "./render.ts"

export interface RunReport {
  readonly out: string
  /** results.json as written. */
  readonly results: Parameters<typeof renderReport>[0] & Readonly<Record<string, unknown>>
  /** The pipeline's own markdown section. */
  readonly section: string
  readonly figures: ReadonlyArray<Figure>
}

export type FigureOutcome =
  /** `file`: the light SVG as written to figures/<id>.svg (ids unscoped: it stands alone). */
  | { readonly figure: Figure; readonly drawn: DrawnFigure & { readonly file: string } }
  | { readonly figure: Figure; readonly error: FigureNotDrawn }

/** Draws every figure in both themes; a failure is kept as the figure's outcome, not raised. */
export const drawFigures = (figures: ReadonlyArray<Figure>): Effect.Effect<ReadonlyArray<FigureOutcome>> => {
  const seen = new Set<string>()
  return Effect.forEach(figures, (figure): Effect.Effect<FigureOutcome> => {
    if (seen.has(figure.id)) {
      return Effect.succeed({
        figure,
        error: new FigureNotDrawn({ figure: figure.id, title: figure.title, reason: "another figure of this run has the same id (file name)" })
      })
    }
    seen.add(figure.id)
    return Effect.all({ light: renderSvg(figure, "light"), dark: renderSvg(figure, "dark") }).pipe(
      Effect.result,
      Effect.map((r) =>
        Result.isSuccess(r)
          ? {
              figure,
              drawn: {
                id: figure.id,
                title: figure.title,
                light: scopeSvgIds(r.success.light, `${figure.id}-light`),
                dark: scopeSvgIds(r.success.dark, `${figure.id}-dark`),
                file: r.success.light
              }
            }
          : { figure, error: r.failure }
      )
    )
  })
}

/** The figures' section of report.md: each figure's heading, its SVG linked, its caption — or why it is missing. */
export const figuresMarkdown = (outcomes: ReadonlyArray<FigureOutcome>): string =>
  outcomes.length === 0
    ? ""
    : [
        `## Figures (${outcomes.length})`,
        "",
        "Each is also a file in figures/; report.html draws them inline, in light and dark.",
        "",
        ...outcomes.flatMap((o) => [
          `### ${o.figure.title}`,
          "",
          "drawn" in o ? `![${o.figure.title.replace(/[[\]]/g, "")}](figures/${o.figure.id}.svg)` : `**Not drawn**: ${o.error.message}.`,
          "",
          o.figure.caption,
          ""
        ])
      ].join("\n")

/** Writes the report files atomically; returns the paths written. */
export const writeRunReport = (r: RunReport) =>
  Effect.gen(function* () {
    const reporter = yield* Reporter
    const outcomes = yield* drawFigures(r.figures)
    const drawn = outcomes.flatMap((o) => ("drawn" in o ? [o.drawn] : []))
    for (const o of outcomes) if ("error" in o) reporter.warn(o.error.message)

    const figuresDir = path.join(r.out, "figures")
    for (const f of drawn) yield* writeFileAtomic(path.join(figuresDir, `${f.id}.svg`), f.file)
    yield* removeStaleFigures(figuresDir, new Set(drawn.map((f) => `${f.id}.svg`)))

    const markdown = renderReport(r.results, r.section, figuresMarkdown(outcomes))
    const md = path.join(r.out, "report.md")
    const html = path.join(r.out, "report.html")
    yield* writeFileAtomic(md, markdown)
    yield* writeFileAtomic(html, reportHtml(`${r.results.pipeline} — lwi run report`, markdown, drawn))
    return { markdown: md, html }
  })

/** SVGs left in <out>/figures by an earlier run into the same folder whose figures this run does not have. */
const removeStaleFigures = (dir: string, keep: ReadonlySet<string>) =>
  Effect.promise(async () => {
    const names = await fs.readdir(dir).catch(() => [] as string[])
    await Promise.all(names.filter((n) => n.endsWith(".svg") && !keep.has(n)).map((n) => fs.rm(path.join(dir, n), { force: true })))
  })
