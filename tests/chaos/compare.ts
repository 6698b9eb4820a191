/**
 * What the chaos harness compares and checks: a run's results without what may differ between two honest runs
 * (timings, cached/resumed flags, start time, cache location), and a cache directory's integrity as an outsider sees
 * it (every blob matches its name, every entry its checksum, no `*.tmp` left).
 */
import { readFile } from "node:fs/promises"
import { basename, join } from "node:path"
import { canonicalJson, sha256Hex } from "../../shared/engine/hash.ts"
import { listFiles } from "./proc.ts"

/**
 * Keys whose values are measurements of time or of this run's circumstances (which cache, which machine, the
 * working tree's commit and dirty files, the backend build), not results.
 */
const VOLATILE = /^(seconds|\w+Seconds|startedAt|cached|resumed|cache|machine|code|environment)$/

/** The results with every volatile key removed, recursively. */
export const stable = (value: unknown): unknown => {
  if (Array.isArray(value)) return value.map(stable)
  if (typeof value === "object" && value !== null) {
    return Object.fromEntries(
      Object.entries(value)
        .filter(([k]) => !VOLATILE.test(k))
        .map(([k, v]) => [k, stable(v)])
    )
  }
  return value
}

export const readResults = async (out: string): Promise<Record<string, unknown>> =>
  JSON.parse(await readFile(join(out, "results.json"), "utf8")) as Record<string, unknown>

/** Paths (dotted) where `a` and `b` differ, at most `limit` of them. */
export const differences = (a: unknown, b: unknown, limit = 5, at = "$"): string[] => {
  if (canonicalJson(a) === canonicalJson(b)) return []
  const isObj = (v: unknown) => typeof v === "object" && v !== null
  if (!isObj(a) || !isObj(b) || Array.isArray(a) !== Array.isArray(b)) {
    return [`${at}: ${JSON.stringify(a)?.slice(0, 80)} vs ${JSON.stringify(b)?.slice(0, 80)}`]
  }
  const keys = [...new Set([...Object.keys(a as object), ...Object.keys(b as object)])]
  const out: string[] = []
  for (const k of keys) {
    if (out.length >= limit) break
    out.push(...differences((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], limit - out.length, `${at}.${k}`))
  }
  return out
}

export interface CacheAudit {
  readonly tmp: ReadonlyArray<string>
  /** Files that fail their own check, with the reason. */
  readonly bad: ReadonlyArray<string>
  readonly files: number
}

/** Checks every blob and entry in a cache directory the way a careful reader would. */
export const auditCache = async (cache: string): Promise<CacheAudit> => {
  const files = await listFiles(cache)
  const tmp: string[] = []
  const bad: string[] = []
  for (const f of files) {
    if (f.endsWith(".tmp")) {
      tmp.push(f)
      continue
    }
    const bytes = await readFile(join(cache, f))
    if (f.startsWith("blobs/")) {
      if (sha256Hex(new Uint8Array(bytes)) !== basename(f)) bad.push(`${f}: content does not match its name`)
    } else if (f.startsWith("steps/") || f.startsWith("checkpoints/")) {
      try {
        const parsed = JSON.parse(bytes.toString("utf8")) as { checksum?: unknown; body?: unknown }
        if (sha256Hex(canonicalJson(parsed.body)) !== parsed.checksum) bad.push(`${f}: checksum mismatch`)
      } catch (e) {
        bad.push(`${f}: not JSON (${(e as Error).message})`)
      }
    }
  }
  return { tmp, bad, files: files.length }
}

/** The step name each entry file in `<cache>/<table>/` belongs to (from its body). */
export const entriesByStep = async (cache: string, table: "steps" | "checkpoints"): Promise<Map<string, string[]>> => {
  const byStep = new Map<string, string[]>()
  for (const f of await listFiles(join(cache, table))) {
    if (!f.endsWith(".json")) continue
    const parsed = JSON.parse(await readFile(join(cache, table, f), "utf8")) as { body?: { step?: string } }
    const name = parsed.body?.step ?? "?"
    byStep.set(name, [...(byStep.get(name) ?? []), join(table, f)])
  }
  return byStep
}
