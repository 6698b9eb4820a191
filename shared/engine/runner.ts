/**
 * The runner executes steps with caching. For a step and its input:
 *   key = sha256(canonical JSON of { step name, step version, encoded input })
 * (input artifacts are refs by content hash, so their content is in the key). A cached entry is decoded and validated
 * against the step's output Schema and its artifacts verified; anything wrong is warned about, discarded and
 * recomputed. Within one run the same key runs once even when several variants ask for it (shared upstream steps).
 */
import { Context, Deferred, Effect, Exit, Layer, Schema } from "effect"
import { InvalidStepData, type StoreError } from "./errors.ts"
import { artifactHashes } from "./artifacts.ts"
import { stepKey } from "./hash.ts"
import { Reporter } from "./reporter.ts"
import type { Checkpoint, Step, StepContext } from "./step.ts"
import { Store } from "./store.ts"

export interface StepRecord {
  readonly name: string
  readonly key: string
  readonly cached: boolean
  readonly seconds: number
  /** True when the step continued from a checkpoint left by an interrupted run. */
  readonly resumed: boolean
}

export interface RunnerOptions {
  /** Ignore cached outputs and checkpoints (results are still written, so the next run hits them). */
  readonly fresh: boolean
}

export interface RunnerShape {
  readonly options: RunnerOptions
  /** Steps in the order they finished. */
  readonly records: StepRecord[]
  readonly inflight: Map<string, Deferred.Deferred<unknown, unknown>>
}

export class Runner extends Context.Service<Runner, RunnerShape>()("lwi/engine/Runner") {}

export const makeRunner = (options: RunnerOptions): RunnerShape => ({ options, records: [], inflight: new Map() })
export const runnerLayer = (options: RunnerOptions) => Layer.sync(Runner, () => makeRunner(options))

const short = (key: string) => key.slice(0, 10)

const schemaIssue = (step: string, direction: "input" | "output") => (e: Schema.SchemaError) =>
  new InvalidStepData({ step, direction, issue: e.message })

/** Computes a step's cache key for an input (validating the input against the step's Schema). */
export const keyOf = <I, O, E, R>(step: Step<I, O, E, R>, input: I) =>
  Schema.encodeUnknownEffect(step.input)(input).pipe(
    Effect.mapError(schemaIssue(step.name, "input")),
    Effect.map((encoded) => ({ encoded, key: stepKey(step.name, step.version, encoded) }))
  )

/** Runs `step` on `input` through the cache. */
export const runStep = <I, O, E, R>(
  step: Step<I, O, E, R>,
  input: I
): Effect.Effect<O, E | InvalidStepData | StoreError, R | Runner | Store | Reporter> =>
  Effect.gen(function* () {
    const runner = yield* Runner
    const { encoded, key } = yield* keyOf(step, input)
    const pending = runner.inflight.get(key)
    if (pending) return (yield* (Deferred.await(pending) as Effect.Effect<O, E | InvalidStepData | StoreError>))
    const deferred = yield* Deferred.make<unknown, unknown>()
    runner.inflight.set(key, deferred)
    const exit = yield* Effect.exit(execute(step, encoded, key, runner))
    yield* Deferred.done(deferred, exit as Exit.Exit<unknown, unknown>)
    if (Exit.isFailure(exit)) runner.inflight.delete(key)
    return yield* exit
  }) as Effect.Effect<O, E | InvalidStepData | StoreError, R | Runner | Store | Reporter>

const execute = <I, O, E, R>(step: Step<I, O, E, R>, encodedInput: unknown, key: string, runner: RunnerShape) =>
  Effect.gen(function* () {
    const store = yield* Store
    const reporter = yield* Reporter
    const started = performance.now()
    const label = `${step.name} [${short(key)}]`

    if (runner.options.fresh) {
      yield* store.deleteEntry("checkpoints", key)
    } else {
      const hit = yield* readCached(step, key)
      if (hit.found) {
        const seconds = (performance.now() - started) / 1000
        runner.records.push({ name: step.name, key, cached: true, seconds, resumed: false })
        reporter.line(`✓ ${label} cached`)
        return hit.value
      }
    }

    const input = yield* Schema.decodeUnknownEffect(step.input)(encodedInput).pipe(
      Effect.mapError(schemaIssue(step.name, "input"))
    )
    let resumed = false
    const ctx: StepContext = {
      key,
      checkpoint: <S>(schema: Schema.Codec<S, any>): Checkpoint<S> => ({
        load: Effect.gen(function* () {
          const raw = yield* store.getEntry("checkpoints", key).pipe(
            Effect.catchTag("CorruptArtifact", (e) =>
              Effect.sync(() => reporter.warn(`${label}: ${e.message}; starting over`)).pipe(Effect.as(undefined))
            )
          )
          if (raw === undefined) return undefined
          const decoded = yield* Effect.exit(Schema.decodeUnknownEffect(schema)(raw))
          if (Exit.isFailure(decoded)) {
            reporter.warn(`${label}: checkpoint does not decode; starting over`)
            return undefined
          }
          resumed = true
          return decoded.value
        }),
        save: (state) =>
          Schema.encodeEffect(schema)(state).pipe(
            Effect.orDie,
            Effect.flatMap((enc) => store.putEntry("checkpoints", key, enc))
          )
      })
    }
    reporter.line(`▶ ${label}`)
    const output = yield* step.run(input, ctx)
    const encodedOutput = yield* Schema.encodeEffect(step.output)(output).pipe(
      Effect.mapError(schemaIssue(step.name, "output"))
    )
    yield* store.putEntry("steps", key, { step: step.name, version: step.version, output: encodedOutput })
    yield* store.deleteEntry("checkpoints", key)
    const seconds = (performance.now() - started) / 1000
    runner.records.push({ name: step.name, key, cached: false, seconds, resumed })
    reporter.line(`✓ ${label} ${resumed ? "resumed and " : ""}done in ${seconds.toFixed(2)}s`)
    return output
  })

/** A cache lookup: a hit only when the entry, its output Schema and every referenced artifact check out. */
const readCached = <I, O, E, R>(step: Step<I, O, E, R>, key: string) =>
  Effect.gen(function* () {
    const store = yield* Store
    const reporter = yield* Reporter
    const miss = { found: false as const }
    const discard = (why: string) =>
      Effect.gen(function* () {
        reporter.warn(`cache entry for ${step.name} [${short(key)}] ${why}; discarded, recomputing`)
        yield* store.deleteEntry("steps", key)
        return miss
      })
    const entry = yield* store.getEntry("steps", key).pipe(
      Effect.catchTag("CorruptArtifact", (e) =>
        Effect.sync(() => reporter.warn(`${e.message}`)).pipe(Effect.as(undefined))
      )
    )
    if (entry === undefined) return miss
    const output = (entry as { output?: unknown }).output
    const decoded = yield* Effect.exit(Schema.decodeUnknownEffect(step.output)(output))
    if (Exit.isFailure(decoded)) return yield* discard("does not match the step's output schema")
    for (const hash of artifactHashes(output)) {
      if (!(yield* store.verifyBlob(hash))) return yield* discard(`names artifact ${short(hash)} that is missing or corrupt`)
    }
    return { found: true as const, value: decoded.value }
  })
