/**
 * Command-line flags: a small parser plus arktype validation, so what a user types gets a message that reads well
 * ("lr must be positive (was -1)") and a usage error exits 2. Flags are declared once, as data, with their default,
 * the value `--quick` uses, and a line of help.
 */
import { type } from "arktype"
import { closeSync, openSync, rmSync, statSync } from "node:fs"
import { dirname, join, resolve } from "node:path"

export interface FlagDef<T = unknown> {
  readonly kind: "int" | "number" | "string" | "boolean" | "enum"
  /** Allowed values, for kind "enum". */
  readonly values?: ReadonlyArray<string>
  readonly default: T
  /** Value under `--quick` when the flag is not given explicitly. */
  readonly quick?: T
  /** An arktype constraint on the parsed value, e.g. "number > 0" or "number.integer >= 1". */
  readonly check?: string
  /** Environment variable consulted before the default. */
  readonly env?: string
  /**
   * A default that follows other flags' values (e.g. `--lr` on `--optimizer`): used instead of `default`/`quick` when
   * the flag is not given (nor set by `env`) and it returns a value; `why` becomes the run's one line about it.
   */
  readonly defaultFrom?: (values: Readonly<Record<string, unknown>>) => { readonly value: T; readonly why: string } | undefined
  /** "dir": a directory the run writes into (created when missing); checked before anything runs. */
  readonly path?: "dir"
  readonly doc: string
}

export type FlagDefs = Readonly<Record<string, FlagDef>>
/** An enum flag's value is any of its `values` (not just its default's literal type). */
type FlagValue<D extends FlagDef> = D extends { readonly kind: "enum"; readonly values: ReadonlyArray<infer V> } ? V : D["default"]
export type FlagValues<F extends FlagDefs> = { -readonly [K in keyof F]: FlagValue<F[K]> }

/** A usage problem: printed with a hint to --help, exit code 2. */
export class UsageError extends Error {
  readonly _tag = "UsageError"
}

export const kebab = (s: string) => s.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)

/** Flags every pipeline has. */
export const commonFlags = {
  out: { kind: "string", default: "", path: "dir", doc: "output directory (default runs/<pipeline>/)" },
  // At most 2^53 - 1: seeds are mixed exactly as safe integers (shared/random.ts); a larger one would be rounded.
  seed: { kind: "int", default: 0, check: "0 <= number.integer <= 9007199254740991", doc: "random seed for data order and inits" },
  quick: { kind: "boolean", default: false, doc: "small configuration that finishes in minutes on 2 cores" },
  cache: { kind: "string", default: ".lwi/cache", env: "LWI_CACHE", path: "dir", doc: "step cache directory" },
  fresh: { kind: "boolean", default: false, doc: "ignore cached step results and checkpoints" },
  queue: {
    kind: "string",
    default: "",
    env: "LWI_QUEUE",
    check: "/^(redis:\\/\\/.+:\\d+\\/?)?$/",
    doc: "redis://HOST:PORT: steps not in the cache run as jobs on workers (pipelines/worker.ts) sharing --cache"
  },
  help: { kind: "boolean", default: false, doc: "show this help" }
} as const satisfies FlagDefs

const parseValue = (name: string, def: FlagDef, raw: string): unknown => {
  switch (def.kind) {
    case "int":
    case "number": {
      const n = Number(raw)
      if (raw.trim() === "" || !Number.isFinite(n)) throw new UsageError(`--${name} must be a number (was "${raw}")`)
      if (def.kind === "int" && !Number.isInteger(n)) throw new UsageError(`--${name} must be an integer (was ${raw})`)
      return n
    }
    case "boolean":
      if (raw === "true" || raw === "1") return true
      if (raw === "false" || raw === "0") return false
      throw new UsageError(`--${name} is a switch: give it alone, or =true / =false (was "${raw}")`)
    case "enum":
      if (!def.values!.includes(raw)) {
        throw new UsageError(`--${name} must be one of ${def.values!.join(", ")} (was "${raw}")`)
      }
      return raw
    default:
      return raw
  }
}

/**
 * Why lwi could not write into directory `dir` (creating it), or undefined when it can: the nearest existing
 * ancestor must be a directory in which a file can be created. The probe file is removed at once. Run before any
 * work, so a run that cannot save its results says so up front instead of after hours of computing.
 */
/** The path's stat, or undefined when nothing is there (ENOENT, or a file where a directory was expected: ENOTDIR). */
const statOrUndefined = (p: string) => {
  try {
    return statSync(p)
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    if (code === "ENOENT" || code === "ENOTDIR") return undefined
    throw e
  }
}

export const unwritableDir = (dir: string): string | undefined => {
  let at = resolve(dir)
  for (;;) {
    const found = statOrUndefined(at)
    if (found && !found.isDirectory()) return `${at} is a file, not a directory`
    if (found) break
    if (dirname(at) === at) return `no part of ${resolve(dir)} exists`
    at = dirname(at)
  }
  const probe = join(at, `.lwi-write-probe-${process.pid}.tmp`)
  try {
    closeSync(openSync(probe, "wx"))
    rmSync(probe, { force: true })
    return undefined
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? String(e)
    return `cannot create files in ${at} (${code})`
  }
}

/** Parses argv (without the program name) against `defs`; throws UsageError on anything unknown or invalid. */
export const parseFlags = <F extends FlagDefs>(
  defs: F,
  argv: ReadonlyArray<string>,
  env: Readonly<Record<string, string | undefined>> = process.env
): FlagValues<F> & { readonly explicit: ReadonlySet<string>; readonly notes: ReadonlyArray<string> } => {
  const byCli = new Map(Object.keys(defs).map((k) => [kebab(k), k]))
  const given = new Map<string, unknown>()
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (!arg.startsWith("--")) throw new UsageError(`unexpected argument "${arg}" (flags start with --)`)
    const eq = arg.indexOf("=")
    const cliName = arg.slice(2, eq < 0 ? undefined : eq)
    const key = byCli.get(cliName)
    if (key === undefined) {
      const near = [...byCli.keys()].filter((k) => k.startsWith(cliName.slice(0, 3)))
      throw new UsageError(`unknown flag --${cliName}${near.length ? ` (did you mean --${near.join(", --")}?)` : ""}`)
    }
    const def = defs[key]!
    let raw: string
    if (eq >= 0) raw = arg.slice(eq + 1)
    else if (def.kind === "boolean") raw = "true"
    else {
      const next = argv[i + 1]
      if (next === undefined || next.startsWith("--")) throw new UsageError(`--${cliName} needs a value`)
      raw = next
      i++
    }
    if (given.has(key)) throw new UsageError(`--${cliName} given twice`)
    given.set(key, parseValue(cliName, def, raw))
  }
  const quick = given.get("quick") === true
  const out: Record<string, unknown> = {}
  const defaulted = new Set<string>()
  for (const [key, def] of Object.entries(defs)) {
    const fromEnv = def.env ? env[def.env] : undefined
    const fromUser = given.has(key) || (fromEnv !== undefined && fromEnv !== "")
    out[key] = given.has(key)
      ? given.get(key)
      : fromUser
        ? parseValue(`${kebab(key)} (from ${def.env})`, def, fromEnv!)
        : quick && def.quick !== undefined
          ? def.quick
          : def.default
    if (!fromUser) defaulted.add(key)
  }
  // Defaults that follow other flags, once every flag has its value.
  const notes: string[] = []
  for (const [key, def] of Object.entries(defs)) {
    const derived = defaulted.has(key) ? def.defaultFrom?.(out) : undefined
    if (derived === undefined) continue
    out[key] = derived.value
    notes.push(`${kebab(key)} ${String(derived.value)}: ${derived.why}; --${kebab(key)} to change`)
  }
  for (const [key, def] of Object.entries(defs)) {
    if (def.check) {
      // The constraint is data (a string), so its static type is unknown to arktype; it is still parsed and checked.
      const checked = type(def.check as "unknown")(out[key])
      if (checked instanceof type.errors) {
        throw new UsageError(`--${kebab(key)} ${checked.summary.replace(/^(value )?/, "")}`)
      }
    }
  }
  // Directories are checked last, and not for --help: a help request writes nothing.
  if (out.help !== true) {
    for (const [key, def] of Object.entries(defs)) {
      const value = out[key]
      if (def.path !== "dir" || typeof value !== "string" || value === "") continue
      const problem = unwritableDir(value)
      if (problem) throw new UsageError(`--${kebab(key)} ${value}: ${problem}; choose a directory lwi can write to`)
    }
  }
  return Object.assign(out as FlagValues<F>, { explicit: new Set(given.keys()) as ReadonlySet<string>, notes: notes as ReadonlyArray<string> })
}

export const helpText = (program: string, description: string, defs: FlagDefs): string => {
  const rows = Object.entries(defs).map(([key, def]) => {
    const arg = def.kind === "boolean" ? "" : def.kind === "enum" ? ` <${def.values!.join("|")}>` : ` <${def.kind}>`
    const dflt = def.kind === "boolean" || def.default === "" ? "" : ` [default: ${String(def.default)}]`
    const quick = def.quick !== undefined ? ` [--quick: ${String(def.quick)}]` : ""
    const env = def.env ? ` [env: ${def.env}]` : ""
    return [`  --${kebab(key)}${arg}`, `${def.doc}${dflt}${quick}${env}`] as const
  })
  const width = Math.max(...rows.map(([a]) => a.length)) + 2
  return [`${program} — ${description}`, "", "Flags:", ...rows.map(([a, b]) => a.padEnd(width) + b)].join("\n")
}

/** For scripts outside the pipeline runner (benchmarks): parse, or print the usage error and exit 2. */
export const parseFlagsOrExit = <F extends FlagDefs>(defs: F, argv: ReadonlyArray<string> = process.argv.slice(2)) => {
  try {
    return parseFlags(defs, argv)
  } catch (e) {
    if (!(e instanceof UsageError)) throw e
    process.stderr.write(`error: ${e.message}\n`)
    return process.exit(2)
  }
}
