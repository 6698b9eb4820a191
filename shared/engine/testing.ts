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

export const makeEngine = (parts: Partial<Engine> & { fresh?: boolean } = {}): Engine => ({
  store: parts.store ?? makeMemoryStore(),
  runner: parts.runner ?? makeRunner({ fresh: parts.fresh ?? false }),
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
