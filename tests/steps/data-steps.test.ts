/** prepare-dataset and sample-minibatch over small real IDX files: values, caching downstream, typed errors. */
import { afterAll, describe, expect, test } from "bun:test"
import { Effect, Exit, Schema } from "effect"
import * as fs from "node:fs"
import { join } from "node:path"
import { fingerprintDir } from "../../shared/data/fingerprint.ts"
import { labelHistogram } from "../../shared/data/types.ts"
import { step } from "../../shared/engine/pipeline.ts"
import { defineStep } from "../../shared/engine/step.ts"
import { makeMemoryStore } from "../../shared/engine/store.ts"
import { engineLayer, makeEngine, runWithEngine } from "../../shared/engine/testing.ts"
import type { ImageSet } from "../../shared/data/types.ts"
import { DatasetRef, getDataset } from "../../shared/schemas.ts"
import { prepareDataset } from "../../steps/prepare-dataset.ts"
import { sampleMinibatch } from "../../steps/sample-minibatch.ts"
import { makeTempDir, writeMnistDir } from "../data/fixtures.ts"

const temp = await makeTempDir("lwi-steps-")
afterAll(() => temp.cleanup())
const dir = join(temp.dir, "fashion-mnist")
const written = await writeMnistDir(dir, { nTrain: 200, nTest: 50, h: 28, w: 28, gzip: true })

/** One sample's bytes, as a string: equal images give equal keys, whatever split they sit in. */
const sampleKey = (set: ImageSet, i: number): string => {
  const size = set.height * set.width * set.channels
  const bytes = set.images.BYTES_PER_ELEMENT
  return Buffer.from(set.images.buffer, set.images.byteOffset + i * size * bytes, size * bytes).toString("base64")
}

const prepareInput = async (over: Record<string, unknown> = {}) => ({
  dataset: "fashion-mnist" as const,
  source: { dir, fingerprint: await fingerprintDir(dir) },
  rgb: false,
  normalization: "none" as const,
  seed: 0,
  ...over
})

describe("prepare-dataset", () => {
  test("loads both splits, scales to [0, 1], and stores them as artifacts", async () => {
    const engine = makeEngine()
    const input = await prepareInput()
    const { train, test } = await runWithEngine(
      Effect.gen(function* () {
        const out = yield* step(prepareDataset, input)
        return { train: yield* getDataset(out.train), test: yield* getDataset(out.test) }
      }),
      engine
    )
    expect([train.n, train.height, train.width, train.channels, train.classes]).toEqual([200, 28, 28, 1, 10])
    expect(test.n).toBe(50)
    expect(train.images[1234]).toBeCloseTo(written.train.images[1234]! / 255, 6)
    expect([...train.labels]).toEqual([...written.train.labels])
  })

  test("validation carved out of the training split before the subset, RGB and standard normalization", async () => {
    const input = await prepareInput({ trainSubset: { count: 100 }, validation: { count: 20 }, rgb: true, normalization: "standard" })
    const out = await runWithEngine(
      Effect.gen(function* () {
        const out = yield* step(prepareDataset, input)
        return { ...out, train: yield* getDataset(out.train), val: yield* getDataset(out.validation!) }
      }),
      makeEngine()
    )
    // The subset keeps its size, and no validation image is a training one (the fixture's 200 training images are
    // all distinct: image i is (31·i + 7·y + 3·x) mod 256, and 31·i mod 256 differs for every i < 256).
    expect(out.train.n).toBe(100)
    expect(out.val.n).toBe(20)
    const rows = (set: typeof out.train) => new Set(Array.from({ length: set.n }, (_, i) => sampleKey(set, i)))
    const trainRows = rows(out.train)
    expect([...rows(out.val)].filter((r) => trainRows.has(r))).toEqual([])
    expect(out.train.channels).toBe(3)
    expect(labelHistogram(out.val)).toEqual(new Array(10).fill(2)) // class-balanced
    expect(out.stats.mean).toEqual([0.286, 0.286, 0.286])
    // A pixel's three channels are equal, and normalized with the Fashion-MNIST constants.
    const px = out.train.images
    expect(px[0]).toBe(px[1]!)
    expect(Math.min(...px.subarray(0, 3000))).toBeGreaterThanOrEqual(-0.286 / 0.353 - 1e-6)
  })

  test("a validation split that leaves nothing to train on is a BadConfig naming --validation", async () => {
    const input = await prepareInput({ validation: { count: 200 } })
    const exit = await Effect.runPromise(Effect.exit(step(prepareDataset, input)).pipe(Effect.provide(engineLayer(makeEngine()))))
    const error = Exit.isFailure(exit) ? (exit.cause.reasons[0] as { error: { _tag: string; message: string } }).error : undefined
    expect(error?._tag).toBe("BadConfig")
    expect(error?.message).toContain("--validation")
    expect(error?.message).toContain("fewer than the 200 training samples")
  })

  test("changed files give a new key (the fingerprint is in the input)", async () => {
    const before = await prepareInput()
    fs.utimesSync(join(dir, "t10k-labels-idx1-ubyte.gz"), new Date(), new Date(Date.now() + 5000))
    const after = await prepareInput()
    expect(after.source.fingerprint).not.toBe(before.source.fingerprint)
  })

  test("a corrupt file is a typed error naming the file, and nothing is cached", async () => {
    const bad = join(temp.dir, "bad", "fashion-mnist")
    await writeMnistDir(bad, { nTrain: 10, nTest: 5, h: 28, w: 28, gzip: false })
    fs.writeFileSync(join(bad, "train-labels-idx1-ubyte"), new Uint8Array([0, 0, 8, 9, 0, 0, 0, 10]))
    const store = makeMemoryStore()
    const input = { ...(await prepareInput()), source: { dir: bad, fingerprint: await fingerprintDir(bad) } }
    const exit = await Effect.runPromise(Effect.exit(step(prepareDataset, input)).pipe(Effect.provide(engineLayer(makeEngine({ store })))))
    expect(Exit.isFailure(exit)).toBe(true)
    const error = Exit.isFailure(exit) ? (exit.cause.reasons[0] as { error: { _tag: string; message: string } }).error : undefined
    expect(error?._tag).toBe("BadDataFile")
    expect(error?.message).toContain("train-labels-idx1-ubyte")
    expect(store.entries.size).toBe(0)
  })
})

describe("sample-minibatch", () => {
  test("25 class-balanced inputs, seeded; downstream steps hit the cache on the same batch", async () => {
    const store = makeMemoryStore()
    const calls = { n: 0 }
    const consume = defineStep({
      name: "consume",
      code: import.meta.url,
      input: Schema.Struct({ batch: DatasetRef }),
      output: Schema.Struct({ n: Schema.Int }),
      run: (i) => Effect.sync(() => (calls.n++, { n: i.batch.n }))
    })
    const input = await prepareInput()
    const flow = Effect.gen(function* () {
      const data = yield* step(prepareDataset, input)
      const batch = yield* step(sampleMinibatch, { data: data.train, amount: { count: 25 }, balanced: true, inputsOnly: false, seed: 7 })
      const inputs = yield* step(sampleMinibatch, { data: data.train, amount: { fraction: 0.3 }, balanced: false, inputsOnly: true, seed: 7 })
      yield* step(consume, { batch })
      return { batch: yield* getDataset(batch), inputs: yield* getDataset(inputs) }
    })
    const first = await runWithEngine(flow, makeEngine({ store }))
    const engine = makeEngine({ store })
    const second = await runWithEngine(flow, engine)
    expect(first.batch.n).toBe(25)
    expect(Math.max(...labelHistogram(first.batch)) - Math.min(...labelHistogram(first.batch))).toBeLessThanOrEqual(1)
    expect(first.inputs.n).toBe(60)
    expect(first.inputs.labels.length).toBe(0)
    expect(second.batch.images).toEqual(first.batch.images)
    expect(calls.n).toBe(1)
    expect(engine.runner.records.every((r) => r.cached)).toBe(true)
  })
})
