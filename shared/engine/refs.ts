/**
 * What an encoded value names in the store: every `{ artifact: <sha256> }` inside it. The roots of the store's
 * reference graph (step entries, checkpoints); a container artifact may name further blobs (shared/engine/arrays.ts).
 */
export const isHash = (h: string) => /^[0-9a-f]{64}$/.test(h)

/** Every artifact hash referenced anywhere inside an encoded value. */
export const artifactHashes = (value: unknown, out: Set<string> = new Set()): Set<string> => {
  if (Array.isArray(value)) for (const v of value) artifactHashes(v, out)
  else if (value !== null && typeof value === "object") {
    const o = value as Record<string, unknown>
    if (typeof o.artifact === "string" && isHash(o.artifact)) out.add(o.artifact)
    for (const v of Object.values(o)) artifactHashes(v, out)
  }
  return out
}
