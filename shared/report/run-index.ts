/**
 * The run index `<runs>/index.html`: every run whose `results.json` is one level below `<runs>` (the directory above
 * each run's `--out`), newest first — pipeline, config, backend, commit, status, wall time, headline numbers, a link
 * to its report — and, per pipeline with two runs or more, two selectors that set any two of its runs side by side.
 * One self-contained file (inline CSS and a few lines of script, no fetches), light or dark as the reader's system.
 * Rebuilt by every run (shared/engine/main.ts) and by `npx bun run pipelines/report.ts`.
 *
 * Status, from results.json alone: `diverged` when an experiment says `diverged: true`, `resumed` when a step
 * continued from a checkpoint (`steps[].resumed`), `complete` when neither. A run that failed or was interrupted
 * writes no results.json, so it is not listed. A results.json that is not JSON or not lwi's is listed as
 * unreadable, with the reason.
 */
import { Effect, Schema } from "effect"
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { StoreError } from "../engine/errors.ts"
import { kebab } from "../engine/flags.ts"
import { formatSeconds } from "../engine/reporter.ts"
import { ResultsHead, resultsIssues } from "../engine/results.ts"
import { writeFileAtomic } from "../engine/store.ts"
import { escapeHtml } from "./markdown.ts"

export type Status = "complete" | "resumed" | "diverged"

export interface IndexedRun {
  readonly ok: true
  /** The run's directory name under the runs directory. */
  readonly dir: string
  readonly head: ResultsHead
  readonly status: ReadonlyArray<Status>
  /** The experiments that diverged and the steps that resumed, by name. */
  readonly diverged: ReadonlyArray<string>
  readonly resumed: ReadonlyArray<string>
  /** Relative link to the run's report: report.html, else report.md; undefined when neither is there. */
  readonly report?: string
}

export interface UnreadableRun {
  readonly ok: false
  readonly dir: string
  readonly reason: string
}

export type RunEntry = IndexedRun | UnreadableRun

/** A file named index.html in the runs directory that lwi did not write: left alone. */
export class ForeignIndex extends Schema.TaggedError<ForeignIndex>()("ForeignIndex", { file: Schema.String }) {
  override get message() {
    return `${this.file} exists and was not written by lwi: not overwritten (move it away, or keep runs in their own directory)`
  }
}

const GENERATOR = `<meta name="generator" content="lwi run index">`

/** complete / resumed / diverged, from a results.json's `experiments[].diverged` and `steps[].resumed`. */
export const runStatus = (results: Readonly<Record<string, unknown>>) => {
  const experiments = Array.isArray(results.experiments) ? (results.experiments as Array<Record<string, unknown>>) : []
  const steps = Array.isArray(results.steps) ? (results.steps as Array<Record<string, unknown>>) : []
  const diverged = experiments.filter((e) => e?.diverged === true).map((e, i) => String(e.id ?? `experiment ${i + 1}`))
  const resumed = steps.filter((s) => s?.resumed === true).map((s) => String(s.name))
  const status: Status[] = [...(diverged.length > 0 ? ["diverged" as const] : []), ...(resumed.length > 0 ? ["resumed" as const] : [])]
  return { status: status.length > 0 ? status : (["complete"] as Status[]), diverged, resumed }
}

const exists = (file: string) => fs.access(file).then(() => true, () => false)

/** One run directory's entry; never fails (a bad results.json is an UnreadableRun). */
export const readRun = (runsDir: string, dir: string): Promise<RunEntry> =>
  fs.readFile(path.join(runsDir, dir, "results.json"), "utf8").then(
    async (text): Promise<RunEntry> => {
      let value: unknown
      try {
        value = JSON.parse(text)
      } catch (e) {
        return { ok: false, dir, reason: `results.json is not JSON (${(e as Error).message})` }
      }
      const [issue] = resultsIssues(ResultsHead, value)
      if (issue !== undefined) return { ok: false, dir, reason: `not an lwi results.json: ${issue.field}: ${issue.issue}` }
      const head = value as ResultsHead
      const report = (await exists(path.join(runsDir, dir, "report.html")))
        ? `${dir}/report.html`
        : (await exists(path.join(runsDir, dir, "report.md")))
          ? `${dir}/report.md`
          : undefined
      return { ok: true, dir, head, ...runStatus(value as Record<string, unknown>), ...(report ? { report } : {}) }
    },
    (e: NodeJS.ErrnoException) => ({ ok: false, dir, reason: `cannot read results.json (${e.code ?? e.message})` })
  )

/** Every `<runsDir>/*\/results.json`, newest first; unreadable ones last, by name. */
export const readRuns = (runsDir: string): Promise<ReadonlyArray<RunEntry>> =>
  fs
    .readdir(runsDir, { withFileTypes: true })
    .then(async (entries) => {
      const dirs = entries.filter((e) => e.isDirectory()).map((e) => e.name)
      const withResults = (await Promise.all(dirs.map(async (d) => ((await exists(path.join(runsDir, d, "results.json"))) ? [d] : [])))).flat()
      const runs = await Promise.all(withResults.map((d) => readRun(runsDir, d)))
      const key = (r: RunEntry) => (r.ok ? r.head.startedAt : "")
      return runs.sort((a, b) => (a.ok !== b.ok ? (a.ok ? -1 : 1) : key(b).localeCompare(key(a)) || a.dir.localeCompare(b.dir)))
    })

/** `--epochs 1 --subset 200 --fresh`: the flags that differ from the pipeline's defaults. */
export const flagsText = (flags: Readonly<Record<string, unknown>>): string =>
  Object.entries(flags)
    .map(([k, v]) => (v === true ? `--${kebab(k)}` : `--${kebab(k)} ${String(v)}`))
    .join(" ")

const number = (value: number | null, unit?: string) =>
  value === null ? "–" : `${Math.abs(value) >= 1e5 ? value.toExponential(2) : Number(value.toFixed(value >= 100 ? 1 : 3)).toString()}${unit ? ` ${unit}` : ""}`

const headlineText = (h: ResultsHead["headline"]) =>
  h.length === 0 ? "–" : h.map((x) => `${escapeHtml(x.label)}: <b>${escapeHtml(number(x.value, x.unit))}</b>`).join("<br>")

const commitText = (c: ResultsHead["code"]) =>
  c.commit === null ? "no git" : `<code>${escapeHtml(c.commit.slice(0, 10))}</code>${c.dirty ? " (modified)" : ""}`

const row = (r: RunEntry) => {
  if (!r.ok) return `<tr class="bad"><td>${escapeHtml(r.dir)}</td><td colspan="8">unreadable: ${escapeHtml(r.reason)}</td></tr>`
  const h = r.head
  const why = [...(r.diverged.length ? [`diverged: ${r.diverged.join(", ")}`] : []), ...(r.resumed.length ? [`resumed: ${r.resumed.join(", ")}`] : [])]
  const config = [`seed ${h.seed}`, ...(h.quick ? ["--quick"] : []), ...(Object.keys(h.flags).length ? [flagsText(h.flags)] : [])]
  return [
    `<tr data-run="${escapeHtml(r.dir)}">`,
    `<td class="nowrap">${r.report ? `<a href="${escapeHtml(encodeURI(r.report))}">${escapeHtml(r.dir)}</a>` : escapeHtml(r.dir)}</td>`,
    `<td class="nowrap">${escapeHtml(h.pipeline)}</td>`,
    `<td>${escapeHtml(config.join(" "))}</td>`,
    `<td>${escapeHtml(h.backend)}</td>`,
    `<td>${commitText(h.code)}</td>`,
    `<td>${r.status.map((s) => `<span class="status ${s}">${s}</span>`).join(" ")}${why.length ? `<div class="why">${escapeHtml(why.join("; "))}</div>` : ""}</td>`,
    `<td class="nowrap">${escapeHtml(h.startedAt.replace("T", " ").slice(0, 19))}</td>`,
    `<td class="num">${escapeHtml(formatSeconds(h.seconds))}</td>`,
    `<td>${headlineText(h.headline)}</td>`,
    `</tr>`
  ].join("")
}

/** What the comparison script needs of each run: embedded as JSON, so the page fetches nothing. */
const comparable = (r: IndexedRun) => ({
  dir: r.dir,
  label: `${r.dir} — ${r.head.startedAt.replace("T", " ").slice(0, 16)}`,
  flags: [`seed ${r.head.seed}`, ...(r.head.quick ? ["--quick"] : []), flagsText(r.head.flags)].filter((s) => s !== "").join(" "),
  backend: r.head.backend,
  commit: r.head.code.commit?.slice(0, 10) ?? "no git",
  status: r.status.join(", "),
  seconds: r.head.seconds,
  headline: r.head.headline
})
type Comparable = ReturnType<typeof comparable>

/**
 * The side-by-side table of two runs. The same function renders it here and, via its source, in the page when a
 * selector changes: so it uses nothing from outside its body (its own escaping included).
 */
const compareTable = (a: Comparable, b: Comparable): string => {
  const esc = (s: string) => s.replace(/[&<>"']/g, (c) => "&#" + c.charCodeAt(0) + ";")
  const fmt = (v: number | null | undefined, unit?: string) =>
    v === null || v === undefined ? "–" : (Math.abs(v) >= 1e5 ? v.toExponential(2) : String(Number(v.toFixed(3)))) + (unit ? " " + unit : "")
  const labels: string[] = []
  for (const h of a.headline.concat(b.headline)) if (labels.indexOf(h.label) < 0) labels.push(h.label)
  const find = (r: Comparable, l: string) => r.headline.filter((h) => h.label === l)[0]
  const rows = [
    ["config", esc(a.flags), esc(b.flags), ""],
    ["backend", esc(a.backend), esc(b.backend), ""],
    ["commit", esc(a.commit), esc(b.commit), ""],
    ["status", esc(a.status), esc(b.status), ""],
    ["wall time (s)", fmt(a.seconds), fmt(b.seconds), fmt(b.seconds - a.seconds)]
  ].concat(
    labels.map((l) => {
      const x = find(a, l)
      const y = find(b, l)
      const unit = (x || y)!.unit
      const d = x && y && x.value !== null && y.value !== null ? fmt(y.value - x.value, unit) : "–"
      return [esc(l), fmt(x && x.value, unit), fmt(y && y.value, unit), d]
    })
  )
  return "<tr><th></th><th>A</th><th>B</th><th>B − A</th></tr>" +
    rows.map((r) => "<tr><th>" + r[0] + "</th><td>" + r[1] + "</td><td>" + r[2] + "</td><td class=\"num\">" + r[3] + "</td></tr>").join("")
}

const compareSection = (pipeline: string, runs: ReadonlyArray<IndexedRun>) => {
  const items = runs.map(comparable)
  // Newest first: B is the newest run, A the one before it.
  const [b, a] = items
  const options = (selected: string) =>
    items.map((r) => `<option value="${escapeHtml(r.dir)}"${r.dir === selected ? " selected" : ""}>${escapeHtml(r.label)}</option>`).join("")
  const json = JSON.stringify(items).replace(/</g, "\\u003c")
  return [
    `<section class="compare" data-pipeline="${escapeHtml(pipeline)}">`,
    `<h2>Compare two ${escapeHtml(pipeline)} runs</h2>`,
    `<label>A <select class="a">${options(a!.dir)}</select></label> <label>B <select class="b">${options(b!.dir)}</select></label>`,
    `<table class="side">${compareTable(a!, b!)}</table>`,
    `<script type="application/json">${json}</script>`,
    `</section>`
  ].join("\n")
}

const STYLE = `
:root { color-scheme: light dark; --bg: #fff; --fg: #1b1b1b; --muted: #666; --line: #ddd; --head: #f3f3f3;
  --ok: #1a7f37; --warn: #9a6700; --bad: #cf222e; --link: #0969da }
@media (prefers-color-scheme: dark) { :root { --bg: #0d1117; --fg: #e6edf3; --muted: #8b949e; --line: #30363d;
  --head: #161b22; --ok: #3fb950; --warn: #d29922; --bad: #f85149; --link: #58a6ff } }
body { background: var(--bg); color: var(--fg); font: 14px/1.45 system-ui, sans-serif; margin: 2em }
a { color: var(--link) } table { border-collapse: collapse; margin: 1em 0 } th, td { border: 1px solid var(--line);
  padding: 4px 8px; text-align: left; vertical-align: top } th { background: var(--head) } .num { text-align: right }
.status { border-radius: 4px; padding: 0 6px; font-size: 12px; border: 1px solid } .complete { color: var(--ok) }
.resumed { color: var(--warn) } .diverged { color: var(--bad) } .why, .note { color: var(--muted); font-size: 12px }
tr.bad td { color: var(--bad) } td.nowrap { white-space: nowrap } select { background: var(--bg); color: var(--fg); max-width: 28em }`

/** The whole page. `now`: the time it says it was built at. */
export const renderIndex = (runsDir: string, runs: ReadonlyArray<RunEntry>, now: Date): string => {
  const byPipeline = new Map<string, IndexedRun[]>()
  for (const r of runs) if (r.ok) byPipeline.set(r.head.pipeline, [...(byPipeline.get(r.head.pipeline) ?? []), r])
  const pairs = [...byPipeline].filter(([, rs]) => rs.length >= 2)
  return [
    `<!doctype html>`,
    `<html lang="en"><head><meta charset="utf-8">${GENERATOR}`,
    `<meta name="viewport" content="width=device-width, initial-scale=1">`,
    `<title>lwi runs — ${escapeHtml(path.basename(runsDir))}</title><style>${STYLE}</style></head><body>`,
    `<h1>lwi runs</h1>`,
    `<p class="note">${runs.length} run(s) in ${escapeHtml(runsDir)}, built ${escapeHtml(now.toISOString())}. ` +
      `Status: <i>diverged</i> when an experiment diverged, <i>resumed</i> when a step continued from a checkpoint, ` +
      `<i>complete</i> otherwise. Config: the seed, --quick, and the flags that differ from the defaults.</p>`,
    `<table class="runs"><tr><th>run</th><th>pipeline</th><th>config</th><th>backend</th><th>commit</th><th>status</th>` +
      `<th>started (UTC)</th><th>wall</th><th>headline</th></tr>`,
    ...runs.map(row),
    `</table>`,
    ...pairs.map(([p, rs]) => compareSection(p, rs)),
    pairs.length > 0
      ? `<script>\nconst compareTable = ${compareTable.toString()}\n` +
        `for (const s of document.querySelectorAll("section.compare")) {\n` +
        `  const runs = JSON.parse(s.querySelector("script[type='application/json']").textContent)\n` +
        `  const pick = (cls) => runs.find((r) => r.dir === s.querySelector("select." + cls).value)\n` +
        `  const draw = () => { s.querySelector("table.side").innerHTML = compareTable(pick("a"), pick("b")) }\n` +
        `  for (const sel of s.querySelectorAll("select")) sel.addEventListener("change", draw)\n}\n</script>`
      : "",
    `</body></html>`,
    ""
  ].join("\n")
}

/**
 * Where a run whose report went to `out` rebuilds the index: the directory above `out` — unless that is a directory
 * shared with everything else (the file-system root, the temp root, the home directory, the working directory:
 * `--out /tmp/x` must not write /tmp/index.html). Then `reason` says why and nothing is written.
 */
export const runIndexDir = (
  out: string,
  around: { readonly cwd: string; readonly home: string; readonly tmp: string }
): { readonly dir: string } | { readonly reason: string } => {
  const dir = path.dirname(path.resolve(around.cwd, out))
  const shared: ReadonlyArray<readonly [string, string]> = [
    [path.parse(dir).root, "the file-system root"],
    [path.resolve(around.tmp), "the temp directory"],
    [path.resolve(around.home), "the home directory"],
    [path.resolve(around.cwd), "the working directory"]
  ]
  const hit = shared.find(([d]) => d === dir)
  return hit === undefined
    ? { dir }
    : { reason: `${dir} is ${hit[1]}, not a runs directory; put runs under one (--out runs/NAME) or build an index with: npx bun run pipelines/report.ts --runs DIR` }
}

/** Rebuilds `<runsDir>/index.html` from the runs in it; returns the file and the runs listed. */
export const writeRunIndex = (runsDir: string, now: () => Date = () => new Date()) =>
  Effect.gen(function* () {
    const file = path.join(runsDir, "index.html")
    const current = yield* Effect.promise(() => fs.readFile(file, "utf8").catch(() => undefined))
    if (current !== undefined && !current.includes(GENERATOR)) return yield* new ForeignIndex({ file })
    const runs = yield* Effect.tryPromise({
      try: () => readRuns(runsDir),
      catch: (e) => new StoreError({ path: runsDir, operation: "list", reason: (e as NodeJS.ErrnoException).code ?? String(e) })
    })
    yield* writeFileAtomic(file, renderIndex(runsDir, runs, now()))
    return { file, runs }
  })
