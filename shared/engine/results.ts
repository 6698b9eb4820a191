/**
 * results.json's published schema: the head every run writes (what ran, where, on which code, what it cost, the
 * headline numbers), composed with a pipeline's own part (pipelines/lib/results.ts) into one Schema per pipeline.
 * From it, `scripts/results-schema.ts` writes `schemas/<pipeline>.results.schema.json` (JSON Schema 2020-12) for
 * tools that do not read TypeScript; main.ts checks every results.json against it before writing it.
 *
 * The schemas are open (a field not declared here is allowed), so a run never fails for a field a pipeline has just
 * added; the tests decode real runs with excess properties rejected, so an undeclared field fails CI instead.
 */
import { Effect, Schema, SchemaIssue } from "effect"

/** A JSON number (results.json is written by JSON.stringify, which never writes NaN or Infinity). */
const Num = Schema.Finite

export const Machine = Schema.Struct({
  cpu: Schema.String,
  cores: Schema.Int,
  memoryGiB: Num,
  platform: Schema.String,
  runtime: Schema.String
}).annotate({ identifier: "Machine", description: "The machine the run ran on (shared/engine/main.ts machine())." })

export const CodeProvenance = Schema.Struct({
  commit: Schema.NullOr(Schema.String).annotate({ description: "HEAD's commit; null when there is no git repository" }),
  dirty: Schema.NullOr(Schema.Boolean).annotate({ description: "tracked files modified or untracked files present" }),
  changes: Schema.Array(Schema.String).annotate({ description: "the first changed paths when dirty (at most 20)" }),
  note: Schema.optional(Schema.String),
  packages: Schema.Record(Schema.String, Schema.String).annotate({ description: "installed version of every dependency" })
}).annotate({ identifier: "CodeProvenance", description: "Where the run's code came from (shared/engine/provenance.ts)." })

export const StepRecord = Schema.Struct({
  name: Schema.String,
  key: Schema.String.annotate({ description: "the step's cache key (sha256, hex)" }),
  cached: Schema.Boolean.annotate({ description: "the output came from the cache" }),
  seconds: Num,
  resumed: Schema.Boolean.annotate({ description: "the step continued from a checkpoint left by an interrupted run" }),
  worker: Schema.optional(Schema.String.annotate({ description: "the queue worker (host:pid) that ran the step under --queue; absent when the pipeline's own process did" }))
}).annotate({ identifier: "StepRecord", description: "One step of the run, computed or from the cache." })

export const Headline = Schema.Struct({
  label: Schema.String,
  value: Schema.NullOr(Num).annotate({ description: "null when it is not a number (a diverged run's loss)" }),
  unit: Schema.optional(Schema.String)
}).annotate({ identifier: "Headline", description: "A headline number (shared/engine/pipeline.ts Headline)." })

const FlagValue = Schema.Union([Schema.String, Num, Schema.Boolean])

/** What every results.json starts with (shared/engine/main.ts). */
export const ResultsHead = Schema.Struct({
  pipeline: Schema.String,
  seed: Schema.Int,
  quick: Schema.Boolean,
  backend: Schema.String.annotate({ description: "the tensor backend the run used; \"none\" for a pipeline without tensors" }),
  startedAt: Schema.String.annotate({ description: "ISO 8601 time the run started" }),
  seconds: Num.annotate({ description: "wall time of the run, seconds" }),
  machine: Machine,
  code: CodeProvenance,
  environment: Schema.NullOr(Schema.Record(Schema.String, Schema.Unknown)).annotate({
    description: "the tensor environment in every tensor step's cache key (backend build, threads); null without tensors"
  }),
  cache: Schema.String.annotate({ description: "the step cache's location" }),
  config: Schema.Record(Schema.String, FlagValue).annotate({
    description:
      "every flag's value as the run used it (flag names in camelCase, as in the pipeline's code), " +
      "but --out, --cache and --help: where a run writes is not its configuration"
  }),
  flags: Schema.Record(Schema.String, FlagValue).annotate({
    description:
      "the flags whose value differs from the pipeline's default in this mode (--quick's value under --quick), " +
      "from the command line or the environment; --out, --cache, --seed and --quick are left out (recorded above)"
  }),
  steps: Schema.Array(StepRecord),
  headline: Schema.Array(Headline).annotate({ description: "the few numbers the run index shows" })
})
export type ResultsHead = typeof ResultsHead.Type

/** A pipeline's results.json: the head, then the pipeline's own fields. */
export const resultsSchema = <Own extends Schema.Struct.Fields>(pipeline: string, own: Own, description: string) =>
  Schema.Struct({ ...ResultsHead.fields, pipeline: Schema.Literal(pipeline), ...own }).annotate({
    title: `lwi ${pipeline} results.json`,
    description
  })

export type ResultsSchema = Schema.Codec<Record<string, unknown>, unknown>

/** results.json does not match its pipeline's schema: the run fails before writing it (nothing half-written). */
export class ResultsMismatch extends Schema.TaggedError<ResultsMismatch>()("ResultsMismatch", {
  pipeline: Schema.String,
  field: Schema.String,
  issue: Schema.String
}) {
  override get message() {
    return `results.json of ${this.pipeline} does not match its schema at ${this.field}: ${this.issue}. ` +
      `The pipeline's output and its schema in pipelines/lib/results.ts disagree: fix the one that is wrong, then run ` +
      `\`npx bun run scripts/results-schema.ts\` to regenerate schemas/. Nothing was written; every step's result is in ` +
      `the cache, so the same command then finishes without recomputing`
  }
}

/** `experiments[2].testLoss` from a Schema issue path. */
export const fieldPath = (path: ReadonlyArray<PropertyKey>): string =>
  path.reduce<string>((acc, k) => (typeof k === "number" ? `${acc}[${k}]` : acc === "" ? String(k) : `${acc}.${String(k)}`), "") ||
  "(the whole file)"

/**
 * The issues of `value` against `schema`, first one first; empty when it matches. `excess: "error"` also reports
 * fields the schema does not declare (the tests' check that the schema describes everything a run writes).
 */
export const resultsIssues = (
  schema: ResultsSchema,
  value: unknown,
  options: { readonly excess?: "ignore" | "error" } = {}
): ReadonlyArray<{ readonly field: string; readonly issue: string }> => {
  const r = Schema.decodeUnknownExit(schema)(value, { errors: "all", onExcessProperty: options.excess ?? "ignore" })
  if (r._tag === "Success") return []
  const error = r.cause.reasons.flatMap((reason) => (reason._tag === "Fail" && Schema.isSchemaError(reason.error) ? [reason.error] : []))[0]
  if (error === undefined) return [{ field: "(the whole file)", issue: String(r.cause) }]
  return SchemaIssue.makeFormatterStandardSchemaV1()(error.issue).issues.map((i) => ({
    field: fieldPath((i.path ?? []).map((p) => (typeof p === "object" ? p.key : p))),
    issue: i.message
  }))
}

/**
 * results.json's text, once it is checked: the value as JSON will carry it (NaN and Infinity become null, undefined
 * fields vanish) decoded against the pipeline's schema. A mismatch is a ResultsMismatch naming the first field.
 */
export const encodeResults = (pipeline: string, schema: ResultsSchema, results: Record<string, unknown>) =>
  Effect.gen(function* () {
    const text = `${JSON.stringify(results, null, 2)}\n`
    const [first] = resultsIssues(schema, JSON.parse(text))
    if (first !== undefined) return yield* new ResultsMismatch({ pipeline, field: first.field, issue: first.issue })
    return text
  })

const nonFinite = ["Infinity", "-Infinity", "NaN"]
const isNonFiniteString = (s: unknown) =>
  typeof s === "object" && s !== null && (s as { type?: unknown }).type === "string" &&
  JSON.stringify((s as { enum?: unknown }).enum) === JSON.stringify(nonFinite)

/**
 * Effect's JSON codec writes a non-finite number as the string "NaN"/"Infinity"; results.json is written by
 * JSON.stringify, which writes null (and the schema then rejects it where a number is required). So the published
 * JSON Schema says `number` where the codec's says `number or one of those strings`.
 */
export const jsonNumbersOnly = (node: unknown): unknown => {
  if (Array.isArray(node)) return node.map(jsonNumbersOnly)
  if (typeof node !== "object" || node === null) return node
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(node)) out[k] = jsonNumbersOnly(v)
  const anyOf = out.anyOf
  if (Array.isArray(anyOf) && anyOf.some(isNonFiniteString)) {
    const kept = anyOf.filter((s) => !isNonFiniteString(s))
    delete out.anyOf
    return kept.length === 1 ? { ...(kept[0] as object), ...out } : { ...out, anyOf: kept }
  }
  return out
}

/** The JSON Schema (2020-12) document of a pipeline's results.json, as `schemas/<pipeline>.results.schema.json`. */
export const resultsJsonSchema = (pipeline: string, schema: ResultsSchema): Record<string, unknown> => {
  const doc = Schema.toJsonSchemaDocument(schema)
  const defs = Object.keys(doc.definitions).length > 0 ? { $defs: jsonNumbersOnly(doc.definitions) } : {}
  return {
    $schema: "https://json-schema.org/draft/2020-12/schema",
    $id: `urn:lwi:results:${pipeline}`,
    ...(jsonNumbersOnly(doc.schema) as Record<string, unknown>),
    ...defs
  }
}
