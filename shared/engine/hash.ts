/**
 * Canonical JSON and SHA-256: the two things a cache key is made of.
 *
 * Canonical means: object keys sorted, `undefined` members dropped (as JSON.stringify does), no whitespace.
 * Values that JSON cannot carry faithfully (NaN, ±Infinity, functions, bigint, typed arrays) are rejected rather than
 * silently turned into `null`, so two different inputs can never share a key.
 */
import { createHash } from "node:crypto"

export const canonicalJson = (value: unknown): string => {
  const out: string[] = []
  write(value, out, "$")
  return out.join("")
}

const write = (v: unknown, out: string[], path: string): void => {
  if (v === null) return void out.push("null")
  switch (typeof v) {
    case "boolean":
      return void out.push(v ? "true" : "false")
    case "string":
      return void out.push(JSON.stringify(v))
    case "number":
      if (!Number.isFinite(v)) throw new TypeError(`canonicalJson: non-finite number at ${path}`)
      // JSON.stringify(-0) is "0": -0 and 0 share a key, which is what a config means.
      return void out.push(JSON.stringify(v))
    case "object": {
      if (ArrayBuffer.isView(v)) throw new TypeError(`canonicalJson: binary data at ${path}; store it as an artifact`)
      if (Array.isArray(v)) {
        out.push("[")
        v.forEach((item, i) => {
          if (i > 0) out.push(",")
          write(item === undefined ? null : item, out, `${path}[${i}]`)
        })
        return void out.push("]")
      }
      const keys = Object.keys(v as object)
        .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
        .sort()
      out.push("{")
      keys.forEach((k, i) => {
        if (i > 0) out.push(",")
        out.push(JSON.stringify(k), ":")
        write((v as Record<string, unknown>)[k], out, `${path}.${k}`)
      })
      return void out.push("}")
    }
    default:
      throw new TypeError(`canonicalJson: cannot encode ${typeof v} at ${path}`)
  }
}

export const sha256Hex = (data: string | Uint8Array): string => createHash("sha256").update(data).digest("hex")

/**
 * The cache key of a step run: what the step is, what its result depends on besides its input (its code hash, the
 * runtime, the tensor environment: shared/engine/runner.ts), and its canonical encoded input.
 */
export const stepKey = (name: string, context: Readonly<Record<string, unknown>>, encodedInput: unknown): string =>
  sha256Hex(canonicalJson({ step: name, ...context, input: encodedInput }))
