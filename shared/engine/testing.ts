/** Running engine effects outside a CLI: in tests, and in code that drives steps directly. */
import { Effect, Layer } from "effect"
import { Reporter, type ReporterShape, makeRecordingReporter } from "./reporter.ts"
import { Runner, type RunnerShape, makeRunner } from "./runner.ts"
import { Store, type StoreShape, makeMemoryStore } from "./store.ts"

export interface Engine {
  readonly store: StoreShape
  readonly runner: RunnerShape
  readonly reporter: ReporterShape
}

/**
 * `environment`: the tensor environment, required by steps whose code uses tensors (in tests:
 * `tensorEnvironment(undefined)` from shared/backend/fingerprint.ts, after choosing the backend).
 */
export const makeEngine = (
  parts: Partial<Engine> & { fresh?: boolean; environment?: Readonly<Record<string, unknown>> } = {}
): Engine => ({
  store: parts.store ?? makeMemoryStore(),
  runner:
    parts.runner ??
    makeRunner({ fresh: parts.fresh ?? false, ...(parts.environment ? { environment: parts.environment } : {}) }),
  reporter: parts.reporter ?? makeRecordingReporter().reporter
})

export const engineLayer = (engine: Engine) =>
  Layer.mergeAll(
    Layer.succeed(Store, engine.store),
    Layer.succeed(Runner, engine.runner),
    Layer.succeed(Reporter, engine.reporter)
  )

/** Runs an effect that needs the engine's services; a failure rejects with the typed error itself. */
export const runWithEngine = <A, E>(effect: Effect.Effect<A, E, Store | Runner | Reporter>, engine: Engine) =>
  Effect.runPromise(effect.pipe(Effect.provide(engineLayer(engine))))
