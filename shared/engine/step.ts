/**
 * A step is a pure description: name, version, input and output Schemas, and `run`. Its body is a thin Effect shell
 * around plain functions. Inputs and outputs are plain data plus `ArtifactRef`s (content hashes) — never live
 * tensors — so they can be hashed into a cache key and stored.
 *
 * Bump `version` whenever the step's code changes what it computes: the version is part of the cache key.
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
  readonly version: number
  readonly input: Schema.Codec<I, any>
  readonly output: Schema.Codec<O, any>
  readonly run: (input: I, ctx: StepContext) => Effect.Effect<O, E, R>
}

export type StepInput<S> = S extends Step<infer I, any, any, any> ? I : never
export type StepOutput<S> = S extends Step<any, infer O, any, any> ? O : never

/** Identity, for inference: `export const train = defineStep({ name: "train", version: 1, ... })`. */
export const defineStep = <I, O, E = never, R = never>(step: Step<I, O, E, R>): Step<I, O, E, R> => step
