/**
 * writeRunReport on results of the pipelines' shape: figures/<id>.svg for every figure, report.md linking files that
 * exist, report.html self-contained (nothing to load from anywhere, every figure inline in light and dark), a figure
 * that cannot be drawn reported (console, report.md, report.html) while the others are written; and the time it
 * takes at resnet-nobn's figure count.
 */
import { afterAll, describe, expect, test } from "bun:test"
import { Effect, Layer } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { experimentFigures } from "../../pipelines/lib/figures.ts"
import type { Figure } from "../../shared/engine/pipeline.ts"
import { Reporter, makeRecordingReporter } from "../../shared/engine/reporter.ts"
import { writeRunReport } from "../../shared/report/write.ts"
import { makeTempDir } from "../data/fixtures.ts"
import { resnetFixture } from "./fixtures.ts"

const temp = await makeTempDir("lwi-report-")
afterAll(() => temp.cleanup())

const head = {
  pipeline: "resnet-nobn",
  seed: 0,
  quick: true,
  backend: "torch",
  startedAt: "2026-12-03T08:00:00.000Z",
  seconds: 12.5,
  machine: { cpu: "test cpu", cores: 2, memoryGiB: 8, platform: "linux x64", runtime: "bun 1.4.5" },
  steps: [{ name: "train", key: "a".repeat(64), cached: false, resumed: false, seconds: 1.5 }]
}

const write = async (out: string, figures: ReadonlyArray<Figure>) => {
  const recording = makeRecordingReporter()
  const t0 = performance.now()
  const written = await Effect.runPromise(
    writeRunReport({ out, results: head, section: "## Section\n\n| a | b |\n| --- | --- |\n| 1 | 2 |", figures }).pipe(
      Effect.provide(Layer.succeed(Reporter, recording.reporter))
    )
  )
  return { written, warnings: recording.warnings, seconds: (performance.now() - t0) / 1000 }
}

const read = (file: string) => fs.readFileSync(file, "utf8")

describe("writeRunReport", () => {
  const out = path.join(temp.dir, "resnet")
  // A full run's density: 5 epochs × 1875 steps sampled every 50 (188 samples × 21 layers × 5 experiments).
  const { experiments, layerStats } = resnetFixture()
  const figures = experimentFigures(experiments, { byExperiment: layerStats, what: "On the validation split." })
  let run: Awaited<ReturnType<typeof write>>

  test("resnet-nobn's figures: every SVG written and linked from report.md; the time it takes", async () => {
    expect(figures.map((f) => f.id)).toEqual([
      "test-accuracy",
      "training-curves",
      "initial-loss",
      "layer-stats-depth",
      "monitor-activation-variance",
      "monitor-dead-units",
      "monitor-gradient-norm",
      "lw-curves-lw-no-bn",
      "lw-curves-lw-thesis-start-n-0-0-1-plain-sgd-no-bn"
    ])
    run = await write(out, figures)
    // Measured here, on 2 shared cores: see the test's output (README/BENCHMARKS quote it with the machine).
    console.log(`report for ${figures.length} figures (each drawn light and dark): ${run.seconds.toFixed(2)} s`)
    expect(run.seconds).toBeLessThan(60)
    expect(run.warnings).toEqual([])
    expect(run.written).toEqual({ markdown: path.join(out, "report.md"), html: path.join(out, "report.html") })

    const md = read(path.join(out, "report.md"))
    const links = [...md.matchAll(/!\[[^\]]*\]\(([^)]+)\)/g)].map((m) => m[1]!)
    expect(links).toEqual(figures.map((f) => `figures/${f.id}.svg`))
    for (const link of links) {
      const svg = read(path.join(out, link))
      expect(svg.startsWith("<svg")).toBe(true)
      expect(svg).toContain('fill="#ffffff"') // opaque: it reads on a dark forge page too
    }
    expect(md.indexOf("## Section")).toBeLessThan(md.indexOf("## Figures (9)"))
    expect(md.indexOf("## Figures (9)")).toBeLessThan(md.indexOf("## Steps (1, 0 from cache)"))
    // What the fixture's diverged runs could not draw is said under the figure.
    expect(md).toMatch(/Not drawn: \d+ non-finite values \(NaN\/Inf\)/)
  })

  test("report.html is self-contained: no src or href to load, every figure inline in light and dark", () => {
    const html = read(path.join(out, "report.html"))
    expect(html.startsWith("<!doctype html>")).toBe(true)
    // Booleans, not toMatch: a failure would print the whole 2 MB page.
    expect(/\b(src|href)\s*=\s*["']?\s*(https?:)?\/\//i.test(html)).toBe(false)
    expect(/<script|<link|<iframe|<img|@import|url\(\s*["']?https?:/i.test(html)).toBe(false)
    expect(/figures\/[\w-]+\.svg/.test(html)).toBe(false) // drawn inline, not linked
    for (const f of figures) {
      expect(html).toContain(`id="figure-${f.id}"`)
      expect(html).toContain(`<h3 id=`)
    }
    expect((html.match(/<svg /g) ?? []).length).toBe(2 * figures.length)
    // The dark switch comes after the light defaults it overrides (same specificity: the later rule wins).
    expect(html.indexOf("@media (prefers-color-scheme: dark)")).toBeGreaterThan(html.indexOf(".figure .dark { display: none; }"))
    // Ids scoped per figure and theme: no two inlined SVGs define the same id.
    const ids = [...html.matchAll(/\bid="([^"]+)"/g)].map((m) => m[1])
    expect(new Set(ids).size).toBe(ids.length)
    // The section's markdown table became an HTML table.
    expect(html).toContain("<thead><tr><th>a</th><th>b</th></tr></thead>")
  })

  test("a figure that cannot be drawn is reported, and the others are written", async () => {
    const dir = path.join(temp.dir, "broken")
    fs.mkdirSync(path.join(dir, "figures"), { recursive: true })
    fs.writeFileSync(path.join(dir, "figures", "stale-from-last-run.svg"), "<svg/>")
    const good = figures[0]!
    const broken: Figure = { id: "broken", title: "A broken figure", caption: "It cannot be drawn.", spec: { mark: "no-such-mark", data: { values: [] } } }
    const twin: Figure = { ...good, title: "Same id again" }
    const r = await write(dir, [good, broken, twin])
    expect(r.warnings).toHaveLength(2)
    expect(r.warnings[0]).toContain('figure "broken" (A broken figure) could not be drawn')
    expect(r.warnings[1]).toContain("same id")
    expect(fs.readdirSync(path.join(dir, "figures")).sort()).toEqual([`${good.id}.svg`])
    const md = read(path.join(dir, "report.md"))
    expect(md).toContain("**Not drawn**: figure \"broken\" (A broken figure) could not be drawn")
    expect(md).toContain(`![${good.title}](figures/${good.id}.svg)`)
    const html = read(path.join(dir, "report.html"))
    expect(html).toContain("<strong>Not drawn</strong>: figure &quot;broken&quot;")
    expect((html.match(/<svg /g) ?? []).length).toBe(2)
  })

  test("no figures: report.md has no figures section, report.html is still written", async () => {
    const dir = path.join(temp.dir, "none")
    await write(dir, [])
    expect(read(path.join(dir, "report.md"))).not.toContain("## Figures")
    expect(read(path.join(dir, "report.html"))).toContain('<h2 id="section">Section</h2>')
  })
})
