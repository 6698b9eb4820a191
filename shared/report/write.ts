/**
 * A run's human-readable outputs, written after results.json: `<out>/report.md` (the run's head, the pipeline's own
 * section, the steps) — and, from the pipeline's figures, `<out>/figures/<id>.svg` and `<out>/report.html`.
 */
import { Effect } from "effect"
import * as path from "node:path"
import type { Figure } from "../engine/pipeline.ts"
import { renderReport } from "../engine/report.ts"
import { writeFileAtomic } from "../engine/store.ts"

export interface RunReport {
  readonly out: string
  /** results.json as written. */
  readonly results: Parameters<typeof renderReport>[0] & Readonly<Record<string, unknown>>
  /** The pipeline's own markdown section. */
  readonly section: string
  readonly figures: ReadonlyArray<Figure>
}

/** Writes the report files atomically; returns the paths written. */
export const writeRunReport = (r: RunReport) =>
  Effect.gen(function* () {
    const md = path.join(r.out, "report.md")
    yield* writeFileAtomic(md, renderReport(r.results, r.section))
    return { markdown: md }
  })
