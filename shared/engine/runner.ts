/**
 * The runner executes steps with caching. For a step and its input:
 *   key = sha256(canonical JSON of { step name, code hash, runtime, tensor environment?, encoded input })
 * where the code hash covers the step's module and every project file it imports (shared/engine/code.ts), the
 * runtime is Bun's version, and the tensor environment (backend build, library versions; set by the pipeline's
 * setup) is included for steps whose code imports tfjs. Input artifacts are refs by content hash, so their content is
 * in the key too: a downstream step whose inputs come out byte-identical stays cached (early cut-off). The input is
 * encoded strictly (an excess property is an error), so a field can never silently fall out of a key.
 * A cached entry is decoded and validated against the step's output Schema and its artifacts verified; anything
 * wrong is warned about, discarded and recomputed. Within one run the same key runs once even when several variants
 * ask for it (shared upstream steps).
 */
import { Context, Deferred, Effect, Exit, Layer, Schema } from "effect"
import { InvalidStepData, MissingEnvironment, type StoreError } from "./errors.ts"
import { artifactHashes } from "./artifacts.ts"
import { type CodeFingerprint, type CodeHasher, makeCodeHasher } from "./code.ts"
import { stepKey } from "./hash.ts"
import { Reporter } from "./reporter.ts"
import type { Checkpoint, Step, StepContext } from "./step.ts"
import { Store, type StoreShape } from "./store.ts"
import { type QueueFailure, RemoteResultMissing } from "./queue/errors.ts"

export interface StepRecord {
  readonly name: string
  readonly key: string
  readonly cached: boolean
  readonly seconds: number
  /** True when the step continued from a checkpoint left by an interrupted run. */
  readonly resumed: boolean
  /** The queue worker that ran it (`--queue`); absent when this process did. */
  readonly worker?: string
}

export interface RunnerOptions {
  /** Ignore cached outputs and checkpoints (results are still written, so the next run hits them). */
  readonly fresh: boolean
  /**
   * What can change a tensor step's numbers besides its code and input (shared/backend/fingerprint.ts); part of the
   * key of every step whose code imports tfjs. Set once the backend is chosen (a pipeline's setup).
   */
  readonly environment?: Readonly<Record<string, unknown>>
  /** Code fingerprints; one per process by default. */
  readonly code?: CodeHasher
}

/** A step's job as a remote runner receives it: what a worker needs to compute the key into the shared cache. */
export interface RemoteJob {
  readonly step: string
  readonly key: string
  readonly input: unknown
  readonly context: Readonly<Record<string, unknown>>
  readonly fresh: boolean
}

/**
 * Computes keys elsewhere (`--queue`: shared/engine/queue/): on a miss, the runner hands the job over and then reads
 * the result from the shared cache by key, verified like any hit.
 */
export interface RemoteRunner {
  readonly run: (job: RemoteJob) => Effect.Effect<{ readonly worker: string; readonly resumed: boolean; readonly cached: boolean }, QueueFailure>
}

export interface RunnerShape {
  readonly options: RunnerOptions
  environment: Readonly<Record<string, unknown>> | undefined
  /** Set by `--queue` once the environment is known: misses are computed by workers. */
  remote: RemoteRunner | undefined
  readonly code: CodeHasher
  /** Steps in the order they finished. */
  readonly records: StepRecord[]
  readonly inflight: Map<string, Deferred.Deferred<unknown, unknown>>
}

export class Runner extends Context.Service<Runner, RunnerShape>()("lwi/engine/Runner") {}

export const makeRunner = (options: RunnerOptions): RunnerShape => ({
  options,
  environment: options.environment,
  remote: undefined,
  code: options.code ?? sharedHasher(),
  records: [],
  inflight: new Map()
})

let hasher: CodeHasher | undefined
/** Code is fixed for the life of a process, so its fingerprints are computed once and shared by every runner. */
const sharedHasher = () => (hasher ??= makeCodeHasher())

/** A step's code uses tensors when it reaches a tfjs package: its numbers then depend on the tensor environment. */
export const usesTensors = (code: CodeFingerprint) => Object.keys(code.packages).some((p) => p.startsWith("@tensorflow/"))

export const runtime = () => (typeof Bun !== "undefined" ? `bun ${Bun.version}` : `node ${process.version}`)
export const runnerLayer = (options: RunnerOptions) => Layer.sync(Runner, () => makeRunner(options))

const short = (key: string) => key.slice(0, 10)

const schemaIssue = (step: string, direction: "input" | "output") => (e: Schema.SchemaError) =>
  new InvalidStepData({ step, direction, issue: e.message })

/** What a step's key is made of besides its input: its code, the runtime and (tensor steps) the environment. */
export const keyContext = <I, O, E, R>(step: Step<I, O, E, R>) =>
  Effect.gen(function* () {
    const runner = yield* Runner
    const code = yield* Effect.try({
      try: () => runner.code.fingerprint(step.code),
      catch: (e) => new InvalidStepData({ step: step.name, direction: "input", issue: `its code: ${(e as Error).message}` })
    })
    if (!usesTensors(code)) return { code: code.hash, runtime: runtime() }
    if (runner.environment === undefined) return yield* new MissingEnvironment({ step: step.name })
    return { code: code.hash, runtime: runtime(), environment: runner.environment }
  })

/**
 * Computes a step's cache key for an input, validating the input against the step's Schema strictly: a property the
 * Schema does not declare is an error, never silently dropped from the key.
 */
export const keyOf = <I, O, E, R>(step: Step<I, O, E, R>, input: I) =>
  Effect.gen(function* () {
    const context = yield* keyContext(step)
    const encoded = yield* Schema.encodeUnknownEffect(step.input)(input, { onExcessProperty: "error" }).pipe(
      Effect.mapError(schemaIssue(step.name, "input"))
    )
    return { encoded, context, key: stepKey(step.name, context, encoded) }
  })

/** Runs `step` on `input` through the cache. */
export const runStep = <I, O, E, R>(
  step: Step<I, O, E, R>,
  input: I
): Effect.Effect<O, E | InvalidStepData | MissingEnvironment | StoreError | QueueFailure, R | Runner | Store | Reporter> =>
  Effect.gen(function* () {
    const runner = yield* Runner
    const { encoded, context, key } = yield* keyOf(step, input)
    const pending = runner.inflight.get(key)
    if (pending) return (yield* (Deferred.await(pending) as Effect.Effect<O, E | InvalidStepData | StoreError>))
    const deferred = yield* Deferred.make<unknown, unknown>()
    runner.inflight.set(key, deferred)
    // Interrupted (a timeout, Ctrl-C, a sibling variant's failure): waiters are interrupted too and the key is freed,
    // or a later run of this key in the same runner would wait on a Deferred nothing completes.
    const exit = yield* Effect.exit(execute(step, encoded, context, key, runner)).pipe(
      Effect.onInterrupt(() => Effect.andThen(Deferred.interrupt(deferred), Effect.sync(() => runner.inflight.delete(key))))
    )
    yield* Deferred.done(deferred, exit as Exit.Exit<unknown, unknown>)
    if (Exit.isFailure(exit)) runner.inflight.delete(key)
    return yield* exit
  }) as Effect.Effect<O, E | InvalidStepData | MissingEnvironment | StoreError | QueueFailure, R | Runner | Store | Reporter>

const execute = <I, O, E, R>(
  step: Step<I, O, E, R>,
  encodedInput: unknown,
  context: Readonly<Record<string, unknown>>,
  key: string,
  runner: RunnerShape
) =>
  Effect.gen(function* () {
    const store = yield* Store
    const reporter = yield* Reporter
    const started = performance.now()
    const label = `${step.name} [${short(key)}]`
    const hitFrom = (value: O, how: string) => {
      record(runner, step.name, key, started, { cached: true, resumed: false })
      reporter.line(`✓ ${label} ${how}`)
      return value
    }

    if (!runner.options.fresh) {
      const hit = yield* readCached(step, key)
      if (hit.found) return hitFrom(hit.value, "cached")
    }
    if (runner.remote) return yield* remotely(step, encodedInput, context, key, runner.remote, started, label)

    // A miss: claim the key so that another process sharing the cache does not compute it too. When another
    // process held it, it has usually just stored the result: look again before computing.
    return yield* Effect.scoped(
      Effect.gen(function* () {
        const claim = yield* store.claim(key, {
          onWait: (owner) =>
            reporter.line(`… ${label} is being computed by ${owner ? `process ${owner.pid} on ${owner.host}` : "another process"}; waiting`),
          onTakeover: (owner, reason) =>
            reporter.warn(`${label}: took over from ${owner ? `process ${owner.pid} on ${owner.host}` : "an unreadable claim"} (${reason.message})`)
        })
        if (claim?.waited && !runner.options.fresh) {
          const hit = yield* readCached(step, key)
          if (hit.found) return hitFrom(hit.value, "computed by another process meanwhile")
        }
        if (runner.options.fresh) yield* dropCheckpoint(store, key, artifactHashes(encodedInput))
        return yield* compute(step, encodedInput, context, key, runner, started, label)
      })
    )
  })

/** A miss computed by a worker: the result is read back from the shared cache by key and verified like any hit. */
const remotely = <I, O, E, R>(
  step: Step<I, O, E, R>,
  input: unknown,
  context: Readonly<Record<string, unknown>>,
  key: string,
  remote: RemoteRunner,
  started: number,
  label: string
) =>
  Effect.gen(function* () {
    const runner = yield* Runner
    const store = yield* Store
    const reporter = yield* Reporter
    const outcome = yield* remote.run({ step: step.name, key, input, context, fresh: runner.options.fresh })
    const hit = yield* readCached(step, key)
    if (!hit.found) return yield* new RemoteResultMissing({ step: step.name, key, cache: store.location })
    const seconds = record(runner, step.name, key, started, { cached: outcome.cached, resumed: outcome.resumed, worker: outcome.worker })
    const how = outcome.cached ? "found cached" : outcome.resumed ? "resumed and done" : "done"
    reporter.line(`✓ ${label} ${how} by worker ${outcome.worker} in ${seconds.toFixed(2)}s`)
    return hit.value
  })

/** Adds the step's record to the run's (results.json `steps`); returns its seconds. */
const record = (runner: RunnerShape, name: string, key: string, started: number, how: { cached: boolean; resumed: boolean; worker?: string }) => {
  const seconds = (performance.now() - started) / 1000
  runner.records.push({ name, key, ...how, seconds })
  return seconds
}

/** Runs the step's body (resuming from its checkpoint), stores the result and drops the checkpoint and its blobs. */
const compute = <I, O, E, R>(
  step: Step<I, O, E, R>,
  encodedInput: unknown,
  context: Readonly<Record<string, unknown>>,
  key: string,
  runner: RunnerShape,
  started: number,
  label: string
) =>
  Effect.gen(function* () {
    const store = yield* Store
    const reporter = yield* Reporter
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
          for (const hash of artifactHashes(raw)) {
            if (!(yield* store.verifyBlob(hash))) {
              reporter.warn(`${label}: checkpoint names artifact ${short(hash)} that is missing or corrupt; starting over`)
              return undefined
            }
          }
          resumed = true
          return decoded.value
        }),
        save: (state) =>
          Effect.gen(function* () {
            const encoded = yield* Schema.encodeEffect(schema)(state).pipe(Effect.orDie)
            const previous = yield* store.getEntry("checkpoints", key).pipe(Effect.orElseSucceed(() => undefined))
            yield* store.putEntry("checkpoints", key, encoded)
            // The superseded state's blobs: only the new checkpoint (and the step's input) may still name them.
            yield* dropBlobs(store, artifactHashes(previous), new Set([...artifactHashes(encoded), ...artifactHashes(encodedInput)]))
          })
      })
    }
    reporter.line(`▶ ${label}`)
    const output = yield* step.run(input, ctx)
    const encodedOutput = yield* Schema.encodeEffect(step.output)(output).pipe(
      Effect.mapError(schemaIssue(step.name, "output"))
    )
    yield* store.putEntry("steps", key, { step: step.name, ...context, output: encodedOutput })
    yield* dropCheckpoint(store, key, new Set([...artifactHashes(encodedOutput), ...artifactHashes(encodedInput)]))
    const seconds = record(runner, step.name, key, started, { cached: false, resumed })
    reporter.line(`✓ ${label} ${resumed ? "resumed and " : ""}done in ${seconds.toFixed(2)}s`)
    return output
  })

/**
 * Deletes `hashes` except those in `keep`. Blobs are shared by content, so another entry may name one of them (e.g. a
 * shorter training run's output equal to this run's intermediate state): the store's deleteBlob keeps any blob an
 * entry still names, and one touched since it started looking (another process about to name it).
 */
const dropBlobs = (store: StoreShape, hashes: Iterable<string>, keep: ReadonlySet<string>) =>
  Effect.forEach([...hashes].filter((h) => !keep.has(h)), (h) => store.deleteBlob(h), { discard: true })

/** Removes a key's checkpoint and the blobs only it named (a finished step no longer needs its intermediate states). */
const dropCheckpoint = (store: StoreShape, key: string, keep: ReadonlySet<string>) =>
  Effect.gen(function* () {
    const previous = yield* store.getEntry("checkpoints", key).pipe(Effect.orElseSucceed(() => undefined))
    yield* store.deleteEntry("checkpoints", key)
    yield* dropBlobs(store, artifactHashes(previous), keep)
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
