import { describe, expect, test } from "bun:test"
import { canonicalJson, sha256Hex, stepKey } from "../../shared/engine/hash.ts"

describe("canonicalJson", () => {
  test("sorts keys at every depth and drops undefined members", () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { z: 1, y: 2 }], c: undefined } })).toBe('{"a":{"d":[1,{"y":2,"z":1}]},"b":1}')
  })
  test("key order does not change the text", () => {
    expect(canonicalJson({ x: 1, y: [true, null, "s"] })).toBe(canonicalJson({ y: [true, null, "s"], x: 1 }))
  })
  test("refuses values JSON would silently turn into null", () => {
    expect(() => canonicalJson({ lr: Number.NaN })).toThrow(/non-finite number at \$\.lr/)
    expect(() => canonicalJson({ w: new Float32Array(2) })).toThrow(/binary data at \$\.w/)
    expect(() => canonicalJson({ n: 1n })).toThrow(/bigint/)
  })
})

describe("stepKey", () => {
  const base = stepKey("train", 1, { lr: 0.1, epochs: 3, data: { artifact: "ab".repeat(32) } })

  test("is pinned: the same input gives the same key on every machine and release", () => {
    // If this changes, every user's cache is invalidated: only change it on purpose.
    expect(stepKey("train", 1, { epochs: 3, lr: 0.1 })).toBe(sha256Hex('{"input":{"epochs":3,"lr":0.1},"step":"train","version":1}'))
    expect(stepKey("train", 1, { lr: 0.1, epochs: 3 })).toBe("ae7d1f31c6bc1b73bf65b933026b196d00649ecb64e5cdf8b89b39bc1949c966")
  })

  test("any change of input, step name, step version or input artifact gives a new key", () => {
    const changed = [
      stepKey("train", 1, { lr: 0.2, epochs: 3, data: { artifact: "ab".repeat(32) } }),
      stepKey("train", 1, { lr: 0.1, epochs: 4, data: { artifact: "ab".repeat(32) } }),
      stepKey("train", 1, { lr: 0.1, epochs: 3, data: { artifact: "cd".repeat(32) } }),
      stepKey("train", 2, { lr: 0.1, epochs: 3, data: { artifact: "ab".repeat(32) } }),
      stepKey("evaluate", 1, { lr: 0.1, epochs: 3, data: { artifact: "ab".repeat(32) } }),
      stepKey("train", 1, { lr: 0.1, epochs: 3, data: { artifact: "ab".repeat(32) }, extra: 0 })
    ]
    expect(new Set([base, ...changed]).size).toBe(changed.length + 1)
  })

  test("nothing else changes it: key order, undefined members", () => {
    expect(stepKey("train", 1, { data: { artifact: "ab".repeat(32) }, epochs: 3, lr: 0.1, note: undefined })).toBe(base)
  })
})
