/**
 * Random orthogonal kernels (Saxe et al. 2014), as PyTorch's `nn.init.orthogonal_`: draw a Gaussian matrix,
 * orthonormalize it, scale by the gain.
 *
 * The kernel is viewed as a matrix W of [fanIn, units] (tfjs layout flattened; PyTorch flattens to the transpose).
 * If fanIn ≥ units its columns are orthonormal (Wᵀ W = g² I); otherwise its rows are (W Wᵀ = g² I).
 * Orthonormalization is modified Gram–Schmidt in float64 with a second pass where the first cancelled much of the norm ("twice is enough"),
 * which gives R a positive diagonal, so Q is Haar-distributed like PyTorch's sign-corrected QR.
 * Cost O(n·m²): about a second for a ResNet18 layer4 conv (4608 × 512), a few for all of ResNet18.
 */
import { fans, type KernelShape } from "./fans.ts"
import type { Rng } from "./random.ts"

const norm2 = (v: Float64Array): number => {
  let s = 0
  for (let i = 0; i < v.length; i++) s += v[i]! * v[i]!
  return s
}

/** `count` orthonormal vectors of length `length` (count ≤ length), each a Float64Array. */
const orthonormalVectors = (rng: Rng, count: number, length: number): Float64Array[] => {
  const vectors: Float64Array[] = []
  for (let j = 0; j < count; j++) {
    const v = new Float64Array(length)
    for (let i = 0; i < length; i++) v[i] = rng.normal()
    let before = norm2(v)
    for (let pass = 0; pass < 2; pass++) {
      for (const q of vectors) {
        let dot = 0
        for (let i = 0; i < length; i++) dot += q[i]! * v[i]!
        for (let i = 0; i < length; i++) v[i] = v[i]! - dot * q[i]!
      }
      // Kahan–Parlett: a second pass only if the first shrank the vector below 1/√2 of its norm (late columns of
      // near-square matrices); tall matrices almost never need it. norm2 is squared, hence 0.5.
      const after = norm2(v)
      if (after > 0.5 * before) break
      before = after
    }
    const norm = Math.sqrt(norm2(v))
    // A Gaussian vector lies in the span of fewer than `length` others with probability 0; guard anyway.
    if (!(norm > 1e-12)) throw new Error(`orthogonal: degenerate draw at vector ${j}`)
    for (let i = 0; i < length; i++) v[i] = v[i]! / norm
    vectors.push(v)
  }
  return vectors
}

/** An orthogonal kernel of `shape` scaled by `gainValue`, flattened in tfjs (row-major) order. */
export const orthogonalKernel = (shape: KernelShape, rng: Rng, gainValue: number): Float32Array => {
  const { fanIn, units, size } = fans(shape)
  const out = new Float32Array(size)
  if (fanIn >= units) {
    // Orthonormal columns: column j is output unit j.
    const columns = orthonormalVectors(rng, units, fanIn)
    for (let j = 0; j < units; j++) {
      const c = columns[j]!
      for (let i = 0; i < fanIn; i++) out[i * units + j] = gainValue * c[i]!
    }
  } else {
    const rows = orthonormalVectors(rng, fanIn, units)
    for (let i = 0; i < fanIn; i++) {
      const r = rows[i]!
      for (let j = 0; j < units; j++) out[i * units + j] = gainValue * r[j]!
    }
  }
  return out
}
