/**
 * A pipeline is a value: its name, its flags, and a function from the validated flags to an Effect that runs steps.
 * Composition is plain Effect code over `step(...)`, helped by three combinators:
 *   - `step(s, input)`           run one step through the cache (a shared upstream step runs once per run)
 *   - `sequence(items, init, f)` thread a value through a list in order (layers learned greedily, one after another)
 *   - `variants(list, f)`        run each variant (ablations) and collect `{ id, ...result }`; variants share upstream
 *                                steps because those have the same cache key. One after another in process; all at
 *                                once under `--queue`, so that workers take them in parallel
 */
import { Effect, Option } from "effect"
import type { FlagDefs, FlagValues, commonFlags } from "./flags.ts"
import type { Reporter } from "./reporter.ts"
import type { ResultsSchema } from "./results.ts"
import { Runner, runStep } from "./runner.ts"
import type { Store } from "./store.ts"

export type EngineServices = Runner | Store | Reporter

export type PipelineConfig<F extends FlagDefs> = FlagValues<typeof commonFlags & F> & {
  /** Flags the user gave explicitly (others came from env, --quick or defaults). */
  readonly explicit: ReadonlySet<string>
  /** One line per default that followed another flag (FlagDef.defaultFrom), e.g. "lr 0.001: Adam's default; --lr to change". */
  readonly notes: ReadonlyArray<string>
}

export interface Pipeline<F extends FlagDefs, Out extends Record<string, unknown>, E = never> {
  readonly name: string
  readonly description: string
  readonly flags: F
  /**
   * Sets up what steps run on (e.g. the tensor backend) before any step runs. Its `facts` go into results.json
   * (e.g. `{ backend: "wasm" }`); its `environment` into the cache key of every tensor step and into results.json.
   * A pipeline without tensors needs none.
   */
  readonly setup?: (config: PipelineConfig<F>) => Effect.Effect<SetupResult, E, Reporter>
  readonly run: (config: PipelineConfig<F>) => Effect.Effect<Out, E, EngineServices>
  /** The pipeline's own section of report.md (markdown). */
  readonly report?: (out: Out, config: PipelineConfig<F>) => string
  /**
   * The run's figures, drawn from its results: each is written as `<out>/figures/<id>.svg`, linked from report.md
   * and drawn in report.html (shared/report/).
   */
  readonly figures?: (out: Out, config: PipelineConfig<F>) => ReadonlyArray<Figure>
  /**
   * The schema of this pipeline's part of results.json (pipelines/lib/results.ts): checked before the file is
   * written, and published as JSON Schema under schemas/. Without one, only the common head is checked.
   */
  readonly results?: ResultsSchema
  /** The few numbers the run index (runs/index.html) shows for this run, e.g. each experiment's test accuracy. */
  readonly headline?: (out: Out) => ReadonlyArray<Headline>
}

/** A figure: a Vega-Lite specification with its data inline, drawn to SVG in-process (shared/report/). */
export interface Figure {
  /** File stem: `<out>/figures/<id>.svg`; letters, digits and dashes. */
  readonly id: string
  readonly title: string
  /** What it shows and on which data/split, in a sentence or two (shown under the figure). */
  readonly caption: string
  /** A Vega-Lite (v6) spec; `data.values` inline. */
  readonly spec: Readonly<Record<string, unknown>>
}

/** One headline number: `value` null when it is not a number (a diverged run's loss). */
export interface Headline {
  readonly label: string
  readonly value: number | null
  /** e.g. "%", "s"; a fraction shown as a percentage says "%" and gives 0–100. */
  readonly unit?: string
}

export interface SetupResult {
  readonly facts: Readonly<Record<string, string | number | boolean>>
  readonly environment?: Readonly<Record<string, unknown>>
}

export const definePipeline = <F extends FlagDefs, Out extends Record<string, unknown>, E = never>(
  p: Pipeline<F, Out, E>
): Pipeline<F, Out, E> => p

export const step = runStep

export const sequence = <A, S, E, R>(
  items: ReadonlyArray<A>,
  initial: S,
  f: (state: S, item: A, index: number) => Effect.Effect<S, E, R>
): Effect.Effect<S, E, R> => Effect.reduce(items, () => initial, (s, a, i) => f(s, a, i))

export const variants = <V extends { readonly id: string }, B extends Record<string, unknown>, E, R>(
  list: ReadonlyArray<V>,
  f: (variant: V) => Effect.Effect<B, E, R>
): Effect.Effect<Array<{ id: string } & B>, E, R> =>
  Effect.flatMap(Effect.serviceOption(Runner), (runner) =>
    Effect.forEach(list, (v) => Effect.map(f(v), (b) => ({ id: v.id, ...b })), {
      // In process, steps share the cores through the backend's threads: one variant at a time. On workers, the
      // pipeline only waits: every variant's next step is in the queue at once (the results keep the list's order).
      concurrency: Option.isSome(runner) && runner.value.remote !== undefined ? "unbounded" : 1
    })
  )
