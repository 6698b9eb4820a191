/**
 * Artifacts: large values (tensors, weights, datasets) stored once by content hash and referenced from step inputs and
 * outputs by `ArtifactRef`. Because a ref *is* its hash, a step's cache key covers its input artifacts' content.
 */
import { Effect, Schema } from "effect"
import { CorruptArtifact } from "../errors.ts"
import { type NamedArray, decodeArrays, encodeArrays } from "./arrays.ts"
import { InvalidJsonArtifact } from "./errors.ts"
import { canonicalJson } from "./hash.ts"
import { Store } from "./store.ts"

export const ArtifactRef = Schema.Struct({
  artifact: Schema.String.check(Schema.isPattern(/^[0-9a-f]{64}$/)),
  /** What the bytes are ("arrays", "json", ...); informative, not part of identity beyond the hash. */
  kind: Schema.String,
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

export const putArrays = (arrays: Readonly<Record<string, NamedArray>>, kind = "arrays") =>
  putBytes(kind, encodeArrays(arrays))

export const getArrays = (ref: ArtifactRef) =>
  Effect.flatMap(getBytes(ref), (bytes) =>
    Effect.try({
      try: () => decodeArrays(bytes),
      catch: (e) => new CorruptArtifact({ path: ref.artifact, reason: (e as Error).message })
    })
  )

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

/** Every artifact hash referenced anywhere inside an encoded value. */
export const artifactHashes = (value: unknown, out: Set<string> = new Set()): Set<string> => {
  if (Array.isArray(value)) for (const v of value) artifactHashes(v, out)
  else if (value !== null && typeof value === "object") {
    const o = value as Record<string, unknown>
    if (typeof o.artifact === "string" && /^[0-9a-f]{64}$/.test(o.artifact)) out.add(o.artifact)
    for (const v of Object.values(o)) artifactHashes(v, out)
  }
  return out
}
