/**
 * Artifacts: large values (tensors, weights, datasets) stored once by content hash and referenced from step inputs and
 * outputs by `ArtifactRef`. Because a ref *is* its hash, a step's cache key covers its input artifacts' content.
 */
import { Effect, Schema } from "effect"
import { CorruptArtifact } from "../errors.ts"
import { type BlobArray, type NamedArray, arrayFromBlob, bytesOf, decodeContainer, encodeArrays, splitArrays } from "./arrays.ts"
import { InvalidJsonArtifact } from "./errors.ts"
import { canonicalJson } from "./hash.ts"
import { Store } from "./store.ts"

export const ArtifactRef = Schema.Struct({
  artifact: Schema.String.check(Schema.isPattern(/^[0-9a-f]{64}$/)),
  /** What the bytes are ("arrays", "json", ...); informative, not part of identity beyond the hash. */
  kind: Schema.String,
  /** The stored blob's size; for an arrays container, without the arrays it names in blobs of their own. */
  bytes: Schema.Int
})
export type ArtifactRef = typeof ArtifactRef.Type

export const putBytes = (kind: string, bytes: Uint8Array) =>
  Effect.gen(function* () {
    const store = yield* Store
    const hash = yield* store.putBlob(bytes)
    return { artifact: hash, kind, bytes: bytes.length } satisfies ArtifactRef
  })

export const getBytes = (ref: ArtifactRef) => Store.use((s) => s.getBlob(ref.artifact))

/**
 * Stores named arrays: each large one (arrays.ts `BLOB_MIN_BYTES`) as a blob of its own raw bytes, the rest inline
 * in a small container that names those blobs. An array already in the store (the 39 layers an LW step did not
 * touch) is not written again. The ref is the container's: its hash covers every array's.
 */
export const putArrays = (arrays: Readonly<Record<string, NamedArray>>, kind = "arrays") =>
  Effect.gen(function* () {
    const store = yield* Store
    const { inline, external } = splitArrays(arrays)
    const blobs: Record<string, BlobArray> = {}
    for (const [name, a] of Object.entries(external)) {
      const bytes = bytesOf(a)
      blobs[name] = { dtype: a.dtype, shape: a.shape, blob: yield* store.putBlob(bytes), length: bytes.length }
    }
    return yield* putBytes(kind, encodeArrays(inline, blobs))
  })

/** The arrays of a container, with those in blobs of their own read (each verified against its hash) and checked. */
export const getArrays = (ref: ArtifactRef) =>
  Effect.gen(function* () {
    const store = yield* Store
    const bytes = yield* getBytes(ref)
    const corrupt = (e: unknown) => new CorruptArtifact({ path: ref.artifact, reason: (e as Error).message })
    const container = yield* Effect.try({ try: () => decodeContainer(bytes), catch: corrupt })
    const out: Record<string, NamedArray> = {}
    // Sorted, as a container of inline arrays decodes: callers see the same key order either way.
    for (const name of [...Object.keys(container.arrays), ...Object.keys(container.blobs)].sort()) {
      const b = container.blobs[name]
      if (b === undefined) out[name] = container.arrays[name]!
      else {
        const data = yield* store.getBlob(b.blob)
        out[name] = yield* Effect.try({ try: () => arrayFromBlob(name, b, data), catch: corrupt })
      }
    }
    return out
  })

/** JSON through the one canonical encoding: NaN/Infinity are an error (JSON would store them as null), not data. */
export const putJson = (value: unknown, kind = "json") =>
  Effect.flatMap(
    Effect.try({
      try: () => new TextEncoder().encode(canonicalJson(value)),
      catch: (e) => new InvalidJsonArtifact({ kind, reason: (e as Error).message })
    }),
    (bytes) => putBytes(kind, bytes)
  )

export const getJson = (ref: ArtifactRef) =>
  Effect.flatMap(getBytes(ref), (bytes) =>
    Effect.try({
      try: () => JSON.parse(new TextDecoder().decode(bytes)) as unknown,
      catch: (e) => new CorruptArtifact({ path: ref.artifact, reason: (e as Error).message })
    })
  )

export { artifactHashes } from "./refs.ts"
