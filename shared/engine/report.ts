/** report.md: what ran, where, and what it cost — then the pipeline's own tables, its figures, and the steps. */
import { formatSeconds } from "./reporter.ts"

interface ReportHead {
  readonly pipeline: string
  readonly seed: number
  readonly quick: boolean
  readonly backend?: unknown
  readonly startedAt: string
  readonly seconds: number
  readonly machine: { cpu: string; cores: number; memoryGiB: number; platform: string; runtime: string }
  readonly steps: ReadonlyArray<{ name: string; key: string; cached: boolean; resumed: boolean; seconds: number }>
}

/** A markdown table; cells are stringified and pipes escaped. */
export const markdownTable = (header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<unknown>>): string => {
  const cell = (v: unknown) => String(v ?? "").replace(/\|/g, "\\|")
  return [
    `| ${header.map(cell).join(" | ")} |`,
    `| ${header.map(() => "---").join(" | ")} |`,
    ...rows.map((r) => `| ${r.map(cell).join(" | ")} |`)
  ].join("\n")
}

/** `figures`: the figures' own section (shared/report/write.ts), between the pipeline's section and the steps. */
export const renderReport = (r: ReportHead, section: string, figures = ""): string => {
  const cached = r.steps.filter((s) => s.cached).length
  return [
    `# ${r.pipeline}`,
    "",
    `Run ${r.startedAt} — seed ${r.seed}${r.quick ? ", --quick" : ""}, backend ${String(r.backend)}, ` +
      `${formatSeconds(r.seconds)} wall.`,
    `Machine: ${r.machine.cpu}, ${r.machine.cores} cores, ${r.machine.memoryGiB} GiB, ${r.machine.platform}, ` +
      `${r.machine.runtime}.`,
    "",
    section.trim(),
    "",
    ...(figures.trim() === "" ? [] : [figures.trim(), ""]),
    `## Steps (${r.steps.length}, ${cached} from cache)`,
    "",
    markdownTable(
      ["step", "key", "cached", "seconds"],
      r.steps.map((s) => [s.name, s.key.slice(0, 12), s.cached ? "yes" : s.resumed ? "resumed" : "no", s.seconds.toFixed(2)])
    ),
    ""
  ].join("\n")
}
