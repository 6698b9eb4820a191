import { describe, expect, test } from "bun:test"
import { computeStats, DATASET_STATS, grayscaleToRgb, normalize, resize, toFloat, type ImageSet } from "../../shared/data/index.ts"
import { expectTagged } from "./fixtures.ts"

const set = (images: Uint8Array | Float32Array, n: number, height: number, width: number, channels: number): ImageSet => ({
  images,
  labels: new Uint8Array(n),
  n,
  height,
  width,
  channels,
  classes: 1
})

describe("normalization", () => {
  test("toFloat divides bytes by 255", () => {
    const f = toFloat(set(Uint8Array.of(0, 51, 255), 1, 1, 3, 1))
    expect(Array.from(f.images)).toEqual([0, Math.fround(0.2), 1])
    expect(f.images).toBeInstanceOf(Float32Array)
  })

  test("computeStats: per-channel mean and population std on the [0, 1] scale", () => {
    // 2 pixels × 2 channels: channel 0 = {0, 255}, channel 1 = {51, 51}.
    const s = computeStats(set(Uint8Array.of(0, 51, 255, 51), 1, 1, 2, 2))
    expect(s.mean[0]).toBeCloseTo(0.5, 10)
    expect(s.std[0]).toBeCloseTo(0.5, 10)
    expect(s.mean[1]).toBeCloseTo(0.2, 10)
    expect(s.std[1]).toBeCloseTo(0, 6)
  })

  test("normalize: (x/255 - mean[c]) / std[c] for bytes, (x - mean) / std for floats", () => {
    const bytes = set(Uint8Array.of(0, 255, 51, 102), 1, 1, 2, 2)
    const n = normalize(bytes, { mean: [0.5, 0.2], std: [0.5, 0.1] })
    expect(Array.from(n.images).map((v) => +v.toFixed(5))).toEqual([-1, 8, -0.6, 2])
    const f = normalize(set(Float32Array.of(1, 3), 2, 1, 1, 1), { mean: [1], std: [2] })
    expect(Array.from(f.images)).toEqual([0, 1])
  })

  test("normalizing with the set's own stats gives mean 0, std 1", () => {
    const s = set(Uint8Array.from({ length: 300 }, (_, i) => (i * 37) % 256), 10, 5, 2, 3)
    const z = computeStats(normalize(s, computeStats(s)))
    for (let c = 0; c < 3; c++) {
      expect(z.mean[c]!).toBeCloseTo(0, 5)
      expect(z.std[c]!).toBeCloseTo(1, 5)
    }
  })

  test("one value applies to every channel; wrong lengths and std 0 are BadConfig", async () => {
    const s = set(Uint8Array.of(255, 255, 255), 1, 1, 1, 3)
    expect(Array.from(normalize(s, { mean: [0.5], std: [0.5] }).images)).toEqual([1, 1, 1])
    await expectTagged(() => normalize(s, { mean: [0.1, 0.2], std: [1] }), "BadConfig")
    await expectTagged(() => normalize(s, { mean: [0], std: [0] }), "BadConfig")
  })

  test("the documented constants", () => {
    expect(DATASET_STATS["fashion-mnist"]).toEqual({ mean: [0.286], std: [0.353] })
    expect(DATASET_STATS.mnist).toEqual({ mean: [0.1307], std: [0.3081] })
    expect(DATASET_STATS.cifar10.mean).toHaveLength(3)
  })
})

describe("grayscale to RGB", () => {
  test("repeats the channel", () => {
    const rgb = grayscaleToRgb(set(Uint8Array.of(1, 2), 2, 1, 1, 1))
    expect(rgb.channels).toBe(3)
    expect(Array.from(rgb.images)).toEqual([1, 1, 1, 2, 2, 2])
  })

  test("RGB passes through; other channel counts are BadConfig", async () => {
    const s = set(Uint8Array.of(1, 2, 3), 1, 1, 1, 3)
    expect(grayscaleToRgb(s)).toBe(s)
    await expectTagged(() => grayscaleToRgb(set(Uint8Array.of(1, 2), 1, 1, 1, 2)), "BadConfig")
  })
})

describe("resize", () => {
  test("bilinear 2×2 → 4×4 with half-pixel centres (same as PIL / tf halfPixelCenters)", () => {
    const s = set(Float32Array.of(0, 10, 20, 30), 1, 2, 2, 1)
    const r = resize(s, { height: 4, width: 4 })
    // Along an axis the source coordinates are clamp((o + 0.5) / 2 - 0.5) = 0, 0.25, 0.75, 1.
    expect(Array.from(r.images)).toEqual([
      0, 2.5, 7.5, 10,
      5, 7.5, 12.5, 15,
      15, 17.5, 22.5, 25,
      20, 22.5, 27.5, 30
    ])
  })

  test("bilinear 4×4 → 2×2 averages each 2×2 block; bytes are rounded", () => {
    const px = Uint8Array.of(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 33)
    const r = resize(set(px, 1, 4, 4, 1), { height: 2, width: 2 })
    expect(r.images).toBeInstanceOf(Uint8Array)
    expect(Array.from(r.images)).toEqual([5, 9, 21, 26]) // (0+2+8+10)/4 = 5 ... (20+22+28+33)/4 = 25.75 → 26
  })

  test("nearest upscaling repeats pixels; channels are kept apart", () => {
    const s = set(Uint8Array.of(1, 100, 2, 200), 1, 1, 2, 2)
    const r = resize(s, { height: 2, width: 4, method: "nearest" })
    expect(Array.from(r.images)).toEqual([1, 100, 1, 100, 2, 200, 2, 200, 1, 100, 1, 100, 2, 200, 2, 200])
  })

  test("every sample is resized; same size is a no-op; bad sizes are BadConfig", async () => {
    const s = set(Uint8Array.of(10, 10, 10, 10, 50, 50, 50, 50), 2, 2, 2, 1)
    expect(Array.from(resize(s, { height: 1, width: 1 }).images)).toEqual([10, 50])
    expect(resize(s, { height: 2, width: 2 })).toBe(s)
    await expectTagged(() => resize(s, { height: 0, width: 2 }), "BadConfig")
  })
})
