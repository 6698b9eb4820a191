/**
 * @lwi-key-neutral — it prints progress; no result depends on its wording (shared/engine/code.ts).
 *
 * What a run tells the person watching it: plain lines, warnings, and progress of long loops.
 *
 * On a TTY a progress bar redraws in place (what, n/total, rate, ETA); otherwise a plain line is printed at most every
 * `plainEverySeconds` and at the end, so CI logs stay readable. Tests swap in `recordingReporter`.
 */
import { Context, Effect, Layer } from "effect"

export interface ProgressHandle {
  /** Advance by `n` (default 1); `note` is shown beside the bar (e.g. the current loss). */
  readonly tick: (n?: number, note?: string) => void
  readonly done: (note?: string) => void
}

export interface ReporterShape {
  readonly line: (text: string) => void
  readonly warn: (text: string) => void
  readonly progress: (what: string, total: number) => ProgressHandle
}

export class Reporter extends Context.Service<Reporter, ReporterShape>()("lwi/engine/Reporter") {}

export const formatSeconds = (s: number): string => {
  if (!Number.isFinite(s)) return "?"
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)}s`
  const m = Math.floor(s / 60)
  if (m < 60) return `${m}m${String(Math.round(s % 60)).padStart(2, "0")}s`
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, "0")}m`
}

export interface ConsoleOptions {
  readonly stream?: NodeJS.WriteStream
  readonly tty?: boolean
  readonly plainEverySeconds?: number
  readonly now?: () => number
}

export const makeConsoleReporter = (options: ConsoleOptions = {}): ReporterShape => {
  const stream = options.stream ?? process.stderr
  const tty = options.tty ?? Boolean(stream.isTTY)
  const every = options.plainEverySeconds ?? 10
  const now = options.now ?? (() => performance.now() / 1000)
  let barShown = false
  const clearBar = () => {
    if (barShown) stream.write("\r\x1b[2K")
    barShown = false
  }
  const write = (text: string) => {
    clearBar()
    stream.write(`${text}\n`)
  }
  return {
    line: write,
    warn: (text) => write(`warning: ${text}`),
    progress: (what, total) => {
      const start = now()
      let n = 0
      let lastPrint = start
      let lastDraw = 0
      const status = (note?: string) => {
        const elapsed = now() - start
        const rate = elapsed > 0 ? n / elapsed : 0
        const eta = rate > 0 ? (total - n) / rate : Number.POSITIVE_INFINITY
        const pct = total > 0 ? Math.floor((100 * n) / total) : 100
        return { elapsed, rate, eta, pct, suffix: note ? `  ${note}` : "" }
      }
      return {
        tick: (k = 1, note) => {
          n += k
          const t = now()
          const s = status(note)
          if (tty) {
            if (t - lastDraw < 0.1 && n < total) return
            lastDraw = t
            const width = 24
            const filled = Math.min(width, Math.round((width * n) / Math.max(total, 1)))
            const bar = "█".repeat(filled) + "░".repeat(width - filled)
            stream.write(
              `\r\x1b[2K${what} ${bar} ${n}/${total} ${s.rate.toFixed(1)}/s ETA ${formatSeconds(s.eta)}${s.suffix}`
            )
            barShown = true
          } else if (t - lastPrint >= every) {
            lastPrint = t
            write(`${what}: ${n}/${total} (${s.pct}%) ${s.rate.toFixed(1)}/s ETA ${formatSeconds(s.eta)}${s.suffix}`)
          }
        },
        done: (note) => {
          const s = status(note)
          write(`${what}: ${n}/${total} done in ${formatSeconds(s.elapsed)}${s.suffix}`)
        }
      }
    }
  }
}

/** Records everything, prints nothing: for tests. */
export const makeRecordingReporter = () => {
  const lines: string[] = []
  const warnings: string[] = []
  const ticks: Array<{ what: string; n: number; total: number }> = []
  const reporter: ReporterShape = {
    line: (t) => void lines.push(t),
    warn: (t) => void warnings.push(t),
    progress: (what, total) => {
      let n = 0
      return {
        tick: (k = 1) => {
          n += k
          ticks.push({ what, n, total })
        },
        done: () => void lines.push(`${what}: done`)
      }
    }
  }
  return { reporter, lines, warnings, ticks }
}

export const consoleReporterLayer = (options?: ConsoleOptions) =>
  Layer.sync(Reporter, () => makeConsoleReporter(options))

/** Run `f` over `items` with a progress bar; each item is an Effect, so interruption lands between items. */
export const withProgress = <A, B, E, R>(
  what: string,
  items: ReadonlyArray<A>,
  f: (a: A, i: number) => Effect.Effect<B, E, R>
) =>
  Effect.gen(function* () {
    const reporter = yield* Reporter
    const bar = reporter.progress(what, items.length)
    const out: B[] = []
    for (let i = 0; i < items.length; i++) {
      out.push(yield* f(items[i]!, i))
      bar.tick()
    }
    bar.done()
    return out
  })
