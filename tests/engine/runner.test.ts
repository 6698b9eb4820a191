import { describe, expect, test } from "bun:test"
import { Effect, Exit, Schema } from "effect"
import { ArtifactRef, getArrays, putArrays } from "../../shared/engine/artifacts.ts"
import { step, variants } from "../../shared/engine/pipeline.ts"
import { makeRecordingReporter } from "../../shared/engine/reporter.ts"
import type { CodeHasher } from "../../shared/engine/code.ts"
import { keyOf, makeRunner } from "../../shared/engine/runner.ts"
import { defineStep } from "../../shared/engine/step.ts"
import { makeMemoryStore } from "../../shared/engine/store.ts"
import { engineLayer, makeEngine, runWithEngine } from "../../shared/engine/testing.ts"

/** A code hasher that says every module is `hash`, reaching `packages`: stands in for an edit of the step's code. */
const fakeCode = (hash: string, packages: Record<string, string> = {}): CodeHasher => ({
  root: "/fake",
  fingerprint: () => ({ hash, files: { "steps/fake.ts": hash }, packages })
})
const engineWithCode = (code: CodeHasher, parts: Parameters<typeof makeEngine>[0] = {}, environment?: Record<string, unknown>) =>
  makeEngine({ ...parts, runner: makeRunner({ fresh: parts.fresh ?? false, code, ...(environment ? { environment } : {}) }) })

/** A step that counts its executions: the spy that proves a cache hit does not run the body. */
const counted = () => {
  const calls = { n: 0 }
  const s = defineStep({
    name: "scale",
    code: import.meta.url,
    input: Schema.Struct({ factor: Schema.Number.check(Schema.isGreaterThan(0)), size: Schema.Int }),
    output: Schema.Struct({ values: ArtifactRef, sum: Schema.Number }),
    run: (input) =>
      Effect.gen(function* () {
        calls.n++
        const data = Float32Array.from({ length: input.size }, (_, i) => i * input.factor)
        const values = yield* putArrays({ x: { dtype: "float32", shape: [input.size], data } })
        return { values, sum: data.reduce((a, b) => a + b, 0) }
      })
  })
  return { s, calls }
}

describe("runner cache", () => {
  test("first run misses and runs; the same input hits without running the body", async () => {
    const { s, calls } = counted()
    const store = makeMemoryStore()
    const first = await runWithEngine(step(s, { factor: 2, size: 4 }), makeEngine({ store }))
    const engine2 = makeEngine({ store })
    const second = await runWithEngine(step(s, { factor: 2, size: 4 }), engine2)
    expect(calls.n).toBe(1)
    expect(second).toEqual(first)
    expect(engine2.runner.records.map((r) => r.cached)).toEqual([true])
    const arrays = await runWithEngine(getArrays(second.values), engine2)
    expect([...arrays.x!.data]).toEqual([0, 2, 4, 6])
  })

  test("a changed input or step code runs again; --fresh ignores the cache", async () => {
    const store = makeMemoryStore()
    const { s, calls } = counted()
    await runWithEngine(step(s, { factor: 2, size: 4 }), engineWithCode(fakeCode("a".repeat(64)), { store }))
    await runWithEngine(step(s, { factor: 3, size: 4 }), engineWithCode(fakeCode("a".repeat(64)), { store }))
    expect(calls.n).toBe(2)
    await runWithEngine(step(s, { factor: 2, size: 4 }), engineWithCode(fakeCode("a".repeat(64)), { store }))
    expect(calls.n).toBe(2)
    // The same step and input with other code: a miss.
    await runWithEngine(step(s, { factor: 2, size: 4 }), engineWithCode(fakeCode("b".repeat(64)), { store }))
    expect(calls.n).toBe(3)
    await runWithEngine(step(s, { factor: 2, size: 4 }), engineWithCode(fakeCode("b".repeat(64)), { store, fresh: true }))
    expect(calls.n).toBe(4)
  })

  test("a step whose code reaches tfjs is keyed by the tensor environment, and refused without one", async () => {
    const store = makeMemoryStore()
    const { s, calls } = counted()
    const tensorCode = fakeCode("c".repeat(64), { "@tensorflow/tfjs": "4.22.0" })
    const exit = await Effect.runPromise(
      Effect.exit(step(s, { factor: 2, size: 4 })).pipe(Effect.provide(engineLayer(engineWithCode(tensorCode, { store }))))
    )
    const error = Exit.isFailure(exit) ? (exit.cause.reasons[0] as { error: { _tag: string; message: string } }).error : undefined
    expect(error?._tag).toBe("MissingEnvironment")
    expect(error?.message).toMatch(/step "scale" uses tensors.*set up the backend/)
    expect(calls.n).toBe(0)
    const torch1 = { backend: "torch", native: ["libtorch_cpu.so.1.13:1"], threads: 1 }
    await runWithEngine(step(s, { factor: 2, size: 4 }), engineWithCode(tensorCode, { store }, torch1))
    await runWithEngine(step(s, { factor: 2, size: 4 }), engineWithCode(tensorCode, { store }, { ...torch1 }))
    expect(calls.n).toBe(1)
    for (const other of [{ ...torch1, threads: 2 }, { ...torch1, native: ["libtorch_cpu.so.2.1:1"] }, { ...torch1, backend: "wasm" }]) {
      await runWithEngine(step(s, { factor: 2, size: 4 }), engineWithCode(tensorCode, { store }, other))
    }
    expect(calls.n).toBe(4)
  })

  test("an input property the Schema does not declare is an error, not silently left out of the key", async () => {
    const { s, calls } = counted()
    const exit = await Effect.runPromise(
      Effect.exit(step(s, { factor: 2, size: 4, epochs: 3 } as { factor: number; size: number })).pipe(
        Effect.provide(engineLayer(makeEngine()))
      )
    )
    const error = Exit.isFailure(exit) ? (exit.cause.reasons[0] as { error: { _tag: string; message: string } }).error : undefined
    expect(error?._tag).toBe("InvalidStepData")
    expect(error?.message).toMatch(/epochs/)
    expect(calls.n).toBe(0)
  })

  test("a corrupted cache entry is warned about, discarded and recomputed", async () => {
    const { s, calls } = counted()
    const store = makeMemoryStore()
    const first = await runWithEngine(step(s, { factor: 2, size: 4 }), makeEngine({ store }))
    const { key } = await runWithEngine(keyOf(s, { factor: 2, size: 4 }), makeEngine({ store }))
    store.entries.set(`steps/${key}`, "{ truncated")
    const rec = makeRecordingReporter()
    const again = await runWithEngine(step(s, { factor: 2, size: 4 }), makeEngine({ store, reporter: rec.reporter }))
    expect(calls.n).toBe(2)
    expect(again).toEqual(first)
    expect(rec.warnings.join("\n")).toMatch(/corrupt artifact .*not JSON/)
  })

  test("a cache entry whose artifact was damaged is not a hit", async () => {
    const { s, calls } = counted()
    const store = makeMemoryStore()
    const first = await runWithEngine(step(s, { factor: 5, size: 3 }), makeEngine({ store }))
    const blob = store.blobs.get(first.values.artifact)!
    blob[0] = blob[0]! ^ 1
    const rec = makeRecordingReporter()
    const again = await runWithEngine(step(s, { factor: 5, size: 3 }), makeEngine({ store, reporter: rec.reporter }))
    expect(calls.n).toBe(2)
    expect(again.values.artifact).toBe(first.values.artifact)
    expect(rec.warnings.join("\n")).toMatch(/missing or corrupt; discarded, recomputing/)
  })

  test("bad input is rejected by the step's Schema with a readable message, before anything runs", async () => {
    const { s, calls } = counted()
    const exit = await Effect.runPromise(
      Effect.exit(step(s, { factor: -1, size: 4 })).pipe(Effect.provide(engineLayer(makeEngine())))
    )
    expect(calls.n).toBe(0)
    expect(Exit.isFailure(exit)).toBe(true)
    const error = Exit.isFailure(exit) ? (exit.cause.reasons[0] as { error: { _tag: string; message: string } }).error : undefined
    expect(error?._tag).toBe("InvalidStepData")
    expect(error?.message).toMatch(/step "scale" input rejected: .*greater than 0.*\["factor"\]/s)
  })
})

describe("composition", () => {
  test("a shared upstream step runs once for two variants in one run", async () => {
    const upstream = counted()
    const downstreamCalls: number[] = []
    const shift = defineStep({
      name: "shift",
      code: import.meta.url,
      input: Schema.Struct({ sum: Schema.Number, by: Schema.Number }),
      output: Schema.Struct({ value: Schema.Number }),
      run: (i) => Effect.sync(() => (downstreamCalls.push(i.by), { value: i.sum + i.by }))
    })
    const engine = makeEngine()
    const rows = await runWithEngine(
      variants([{ id: "a", by: 1 }, { id: "b", by: 10 }], (v) =>
        Effect.gen(function* () {
          const up = yield* step(upstream.s, { factor: 1, size: 3 })
          return yield* step(shift, { sum: up.sum, by: v.by })
        })
      ),
      engine
    )
    expect(rows).toEqual([{ id: "a", value: 4 }, { id: "b", value: 13 }])
    expect(upstream.calls.n).toBe(1)
    expect(downstreamCalls).toEqual([1, 10])
    expect(engine.runner.records.map((r) => `${r.name}:${r.cached}`)).toEqual(["scale:false", "shift:false", "shift:false"])
  })

  test("concurrent requests for the same key share one execution", async () => {
    const { s, calls } = counted()
    const both = Effect.all([step(s, { factor: 1, size: 2 }), step(s, { factor: 1, size: 2 })], { concurrency: 2 })
    const [a, b] = await runWithEngine(both, makeEngine())
    expect(a).toEqual(b)
    expect(calls.n).toBe(1)
  })
})

describe("checkpoints", () => {
  const State = Schema.Struct({ done: Schema.Int, acc: Schema.Number })
  /** Adds 1..n, checkpointing after each term; `stopAfter` simulates a kill. */
  const summing = (log: number[], stopAfter?: number) =>
    defineStep({
      name: "sum-to",
      code: import.meta.url,
      input: Schema.Struct({ n: Schema.Int }),
      output: Schema.Struct({ total: Schema.Number }),
      run: (input, ctx) =>
        Effect.gen(function* () {
          const ckpt = ctx.checkpoint(State)
          let state = (yield* ckpt.load) ?? { done: 0, acc: 0 }
          while (state.done < input.n) {
            if (stopAfter !== undefined && state.done === stopAfter) return yield* Effect.die("killed")
            const i = state.done + 1
            log.push(i)
            state = { done: i, acc: state.acc + i }
            yield* ckpt.save(state)
          }
          return { total: state.acc }
        })
    })

  test("a step interrupted mid-way resumes from its checkpoint and ends with the same result", async () => {
    const store = makeMemoryStore()
    const log: number[] = []
    const killed = await Effect.runPromise(
      Effect.exit(step(summing(log, 3), { n: 6 })).pipe(
        Effect.provide(engineLayer(makeEngine({ store })))
      )
    )
    expect(Exit.isFailure(killed)).toBe(true)
    const engine = makeEngine({ store })
    const resumed = await runWithEngine(step(summing(log), { n: 6 }), engine)
    expect(log).toEqual([1, 2, 3, 4, 5, 6])
    expect(resumed.total).toBe(21)
    expect(engine.runner.records[0]?.resumed).toBe(true)
    // Done: the checkpoint is gone and the result is cached.
    expect([...store.entries.keys()].filter((k) => k.startsWith("checkpoints/"))).toEqual([])
  })

  test("an interrupted step leaves nothing pending: the same runner runs it again instead of waiting forever", async () => {
    let calls = 0
    const s = defineStep({
      name: "blocks-once",
      code: import.meta.url,
      input: Schema.Struct({ n: Schema.Int }),
      output: Schema.Struct({ n: Schema.Int }),
      run: (input) =>
        Effect.gen(function* () {
          if (++calls === 1) yield* Effect.never
          return { n: input.n }
        })
    })
    const engine = makeEngine({ store: makeMemoryStore() })
    const first = await Effect.runPromise(Effect.exit(step(s, { n: 1 }).pipe(Effect.timeout(50))).pipe(Effect.provide(engineLayer(engine))))
    expect(Exit.isFailure(first)).toBe(true)
    // Before the fix the key's never-completed Deferred stayed in `inflight`, and this timed out.
    const again = await runWithEngine(step(s, { n: 1 }).pipe(Effect.timeout(2_000)), engine)
    expect(again).toEqual({ n: 1 })
    expect(calls).toBe(2)
  }, 15_000)

  test("superseded checkpoints' blobs are dropped as the step goes, and the last one's when it finishes", async () => {
    const Saved = Schema.Struct({ done: Schema.Int, values: ArtifactRef })
    const s = defineStep({
      name: "accumulate",
      code: import.meta.url,
      input: Schema.Struct({ n: Schema.Int }),
      output: Schema.Struct({ values: ArtifactRef }),
      run: (input, ctx) =>
        Effect.gen(function* () {
          const ckpt = ctx.checkpoint(Saved)
          for (let i = 1; i <= input.n; i++) {
            const values = yield* putArrays({ x: { dtype: "float32", shape: [1], data: Float32Array.of(i) } })
            yield* ckpt.save({ done: i, values })
            // Only the current state's blob is left: the one it superseded is gone.
            expect(store.blobs.size).toBe(1)
          }
          return { values: yield* putArrays({ x: { dtype: "float32", shape: [1], data: Float32Array.of(-1) } }) }
        })
    })
    const store = makeMemoryStore()
    const out = await runWithEngine(step(s, { n: 5 }), makeEngine({ store }))
    expect([...store.blobs.keys()]).toEqual([out.values.artifact])
  })
})
