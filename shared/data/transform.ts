/**
 * Shape changes of an in-memory set: grayscale → 3 channels, and resizing (bilinear or nearest).
 */
import { BadConfig } from "../errors.ts"
import type { ImageSet } from "./types.ts"

/** Repeats the single channel three times (for RGB models such as ResNet-18 fed with MNIST). */
export const grayscaleToRgb = (set: ImageSet): ImageSet => {
  if (set.channels === 3) return set
  if (set.channels !== 1) {
    throw new BadConfig({ field: "channels", value: String(set.channels), expected: "1 (grayscale) to convert to 3" })
  }
  const src = set.images
  const out = src instanceof Float32Array ? new Float32Array(src.length * 3) : new Uint8Array(src.length * 3)
  for (let i = 0, o = 0; i < src.length; i++, o += 3) {
    const v = src[i]!
    out[o] = v
    out[o + 1] = v
    out[o + 2] = v
  }
  return { ...set, images: out, channels: 3 }
}

export interface ResizeOptions {
  readonly height: number
  readonly width: number
  /**
   * "bilinear" (default): half-pixel centres, edge pixels clamped — the convention of PIL, OpenCV INTER_LINEAR and
   * tf.image.resizeBilinear(halfPixelCenters = true). No antialiasing, so strong downscaling aliases.
   * "nearest": the source pixel containing the output pixel's centre, floor((o + 0.5) * in / out).
   * Uint8 results are rounded to the nearest integer.
   */
  readonly method?: "bilinear" | "nearest"
}

/** Source sample positions along one axis: lower index, upper index, weight of the upper one. */
const axis = (inSize: number, outSize: number) => {
  const lo = new Int32Array(outSize)
  const hi = new Int32Array(outSize)
  const w = new Float32Array(outSize)
  const near = new Int32Array(outSize)
  const ratio = inSize / outSize
  for (let o = 0; o < outSize; o++) {
    const src = Math.min(Math.max((o + 0.5) * ratio - 0.5, 0), inSize - 1)
    const l = Math.floor(src)
    lo[o] = l
    hi[o] = Math.min(l + 1, inSize - 1)
    w[o] = src - l
    near[o] = Math.min(Math.floor((o + 0.5) * ratio), inSize - 1)
  }
  return { lo, hi, w, near }
}

export const resize = (set: ImageSet, opts: ResizeOptions): ImageSet => {
  const { height: oh, width: ow } = opts
  for (const [field, v] of [["height", oh], ["width", ow]] as const) {
    if (!Number.isSafeInteger(v) || v < 1) throw new BadConfig({ field: `resize.${field}`, value: String(v), expected: "an integer >= 1" })
  }
  if (oh === set.height && ow === set.width) return set
  const { height: ih, width: iw, channels: c, n } = set
  const nearest = opts.method === "nearest"
  const ys = axis(ih, oh)
  const xs = axis(iw, ow)
  const src = set.images
  const isFloat = src instanceof Float32Array
  const out = isFloat ? new Float32Array(n * oh * ow * c) : new Uint8Array(n * oh * ow * c)
  let o = 0
  for (let i = 0; i < n; i++) {
    const base = i * ih * iw * c
    for (let y = 0; y < oh; y++) {
      const r0 = base + ys.lo[y]! * iw * c
      const r1 = base + ys.hi[y]! * iw * c
      const wy = ys.w[y]!
      for (let x = 0; x < ow; x++) {
        const c0 = xs.lo[x]! * c
        const c1 = xs.hi[x]! * c
        const wx = xs.w[x]!
        const nearAt = base + (ys.near[y]! * iw + xs.near[x]!) * c
        for (let k = 0; k < c; k++, o++) {
          let v: number
          if (nearest) {
            v = src[nearAt + k]!
          } else {
            const top = src[r0 + c0 + k]! + (src[r0 + c1 + k]! - src[r0 + c0 + k]!) * wx
            const bottom = src[r1 + c0 + k]! + (src[r1 + c1 + k]! - src[r1 + c0 + k]!) * wx
            v = top + (bottom - top) * wy
          }
          out[o] = isFloat ? v : Math.round(v)
        }
      }
    }
  }
  return { ...set, images: out, height: oh, width: ow }
}
