/**
 * A step is a pure description: name, code (its module), input and output Schemas, and `run`. Its body is a thin Effect shell
 * around plain functions. Inputs and outputs are plain data plus `ArtifactRef`s (content hashes) — never live
 * tensors — so they can be hashed into a cache key and stored.
 * @lwi-key-neutral — types and an identity function; what a step computes is in its own module (shared/engine/code.ts).
 *
 * There is no version to bump: the cache key covers the step's code (its module, `code`, and every project file it
 * imports, transitively: shared/engine/code.ts) and, for steps whose code uses tensors, the tensor environment
 * (backend build, library versions: the runner's `environment`).
 */
import { Effect, Schema } from "effect"
import type { StoreError } from "./errors.ts"

export interface Checkpoint<S> {
  /** The last saved state for this step's key, or undefined when starting fresh. */
  readonly load: Effect.Effect<S | undefined, StoreError>
  /** Saves `state` atomically; a later run with the same key resumes from it. */
  readonly save: (state: S) => Effect.Effect<void, StoreError>
}

export interface StepContext {
  /** This run's cache key (sha256 hex). */
  readonly key: string
  /** Typed access to this key's checkpoint. An undecodable checkpoint is warned about and treated as absent. */
  readonly checkpoint: <S>(schema: Schema.Codec<S, any>) => Checkpoint<S>
}

export interface Step<I, O, E = never, R = never> {
  readonly name: string
  /** The module that defines the step: always `import.meta.url`. Its code and everything it imports is in the key. */
  readonly code: string
  readonly input: Schema.Codec<I, any>
  readonly output: Schema.Codec<O, any>
  readonly run: (input: I, ctx: StepContext) => Effect.Effect<O, E, R>
}

export type StepInput<S> = S extends Step<infer I, any, any, any> ? I : never
export type StepOutput<S> = S extends Step<any, infer O, any, any> ? O : never

/** Identity, for inference: `export const train = defineStep({ name: "train", code: import.meta.url, ... })`. */
export const defineStep = <I, O, E = never, R = never>(step: Step<I, O, E, R>): Step<I, O, E, R> => step
