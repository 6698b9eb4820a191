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
  const c1 = { code: "11".repeat(32), runtime: "bun 1.4.5" }
  const c2 = { code: "22".repeat(32), runtime: "bun 1.4.5" }
  const base = stepKey("train", c1, { lr: 0.1, epochs: 3, data: { artifact: "ab".repeat(32) } })

  test("is pinned: the same input gives the same key on every machine and release", () => {
    // If this changes, every user's cache is invalidated: only change it on purpose.
    expect(stepKey("train", c1, { epochs: 3, lr: 0.1 })).toBe(
      sha256Hex(`{"code":"${"11".repeat(32)}","input":{"epochs":3,"lr":0.1},"runtime":"bun 1.4.5","step":"train"}`)
    )
    expect(stepKey("train", c1, { lr: 0.1, epochs: 3 })).toBe("445cf9c1ed671675de071a488d795e0c0f9aa8ef50ba5554d290ba3c4f5dabd9")
  })

  test("any change of input, step name, step code, environment or input artifact gives a new key", () => {
    const changed = [
      stepKey("train", c1, { lr: 0.2, epochs: 3, data: { artifact: "ab".repeat(32) } }),
      stepKey("train", c1, { lr: 0.1, epochs: 4, data: { artifact: "ab".repeat(32) } }),
      stepKey("train", c1, { lr: 0.1, epochs: 3, data: { artifact: "cd".repeat(32) } }),
      stepKey("train", c2, { lr: 0.1, epochs: 3, data: { artifact: "ab".repeat(32) } }),
      stepKey("evaluate", c1, { lr: 0.1, epochs: 3, data: { artifact: "ab".repeat(32) } }),
      stepKey("train", c1, { lr: 0.1, epochs: 3, data: { artifact: "ab".repeat(32) }, extra: 0 }),
      stepKey("train", { ...c1, runtime: "bun 1.4.6" }, { lr: 0.1, epochs: 3, data: { artifact: "ab".repeat(32) } }),
      stepKey("train", { ...c1, environment: { backend: "torch", threads: 1 } }, { lr: 0.1, epochs: 3, data: { artifact: "ab".repeat(32) } }),
      stepKey("train", { ...c1, environment: { backend: "torch", threads: 2 } }, { lr: 0.1, epochs: 3, data: { artifact: "ab".repeat(32) } })
    ]
    expect(new Set([base, ...changed]).size).toBe(changed.length + 1)
  })

  test("nothing else changes it: key order, undefined members", () => {
    expect(stepKey("train", c1, { data: { artifact: "ab".repeat(32) }, epochs: 3, lr: 0.1, note: undefined })).toBe(base)
  })
})
