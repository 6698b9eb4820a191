/**
 * The input gradient of a convolution with stride s > 1 (square), without multiplying by inserted zeros.
 *
 * Per axis, dx[i] = Σ_{o,k : o·s + k − p = i} dy[o] · w[k]. Split the input rows by their residue r = i mod s:
 * a row i = s·m + r only meets taps k ≡ φ = (r + p) mod s, namely k = φ + s·j for j < J = ⌈(f − φ)/s⌉, and
 *   dx[s·m + r] = Σ_j dy[m + t0 − j] · w[φ + s·j],   t0 = (r + p − φ)/s,
 * a stride-1 correlation of dy with the sub-filter (w[φ], w[φ+s], ...) reversed. With both axes that makes s²
 * convolutions of dy, each ⌈H/s⌉ × ⌈W/s⌉ pixels, whose total work is that of the forward pass (zero insertion
 * does s² times more). Their outputs are interleaved back into dx (row s·m + r of dx is row m of phase r), and a
 * residue that meets no tap (a 1×1 filter with stride 2: three of the four) gets zeros.
 */
import type { backend_util, TensorInfo } from "@tensorflow/tfjs"
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm"
import { convWithPads, gatherTaps, type Shape4 } from "./conv-parts.ts"
import { composed } from "./scope.ts"

/** One residue class of input rows along one axis. */
interface Phase {
  /** Number of filter taps it meets (0: its rows get no gradient). */
  readonly taps: number
  /** Its first tap φ; the others follow every s. */
  readonly phi: number
  /** Padding of dy before/after (negative: crop) so the correlation gives exactly `rows` outputs. */
  readonly before: number
  readonly after: number
}

/** The s phases of one axis: filter size f, stride s, leading pad p, dy length outSize, rows per phase. */
const phasesAlong = (f: number, s: number, p: number, outSize: number, rows: number): Array<Phase> =>
  Array.from({ length: s }, (_, r) => {
    const phi = (r + p) % s
    const taps = phi < f ? Math.ceil((f - phi) / s) : 0
    const t0 = (r + p - phi) / s
    const before = taps - 1 - t0
    return { taps, phi, before, after: rows + taps - 1 - outSize - before }
  })

export const inputGradByPhases = (
  backend: BackendWasm,
  dy: TensorInfo,
  filter: TensorInfo,
  info: backend_util.Conv2DInfo
): TensorInfo => {
  const { strideHeight: s, filterHeight: fh, filterWidth: fw, inHeight: h, inWidth: w, inChannels: cIn } = info
  const [n, ho, wo, cOut] = dy.shape as Shape4
  const rowsH = Math.ceil(h / s)
  const rowsW = Math.ceil(w / s)
  const alongH = phasesAlong(fh, s, info.padInfo.top, ho, rowsH)
  const alongW = phasesAlong(fw, s, info.padInfo.left, wo, rowsW)
  return composed(backend, (sc) => {
    const swapped = sc.transpose(filter, [0, 1, 3, 2]) // [fh,fw,Cout,Cin]
    // The phase's taps, last first: the correlation runs over the reversed sub-filter.
    const taps = (p: Phase) => Array.from({ length: p.taps }, (_, j) => p.phi + s * (p.taps - 1 - j))
    const parts: Array<{ readonly rh: number; readonly rw: number; readonly dx: TensorInfo }> = []
    alongH.forEach((ph, rh) =>
      alongW.forEach((pw, rw) => {
        if (ph.taps === 0 || pw.taps === 0) return
        const sub = gatherTaps(sc, swapped, taps(ph), taps(pw))
        const pads = { top: ph.before, bottom: ph.after, left: pw.before, right: pw.after }
        parts.push({ rh, rw, dx: convWithPads(sc, dy, sub, pads, [1, 1]) }) // [N, rowsH, rowsW, Cin]
      })
    )
    const out = sc.adopt(sc.backend.makeOutput([n, h, w, cIn], "float32"))
    // Interleave on the heap (the wasm Concat + DepthToSpace cost more than all s² convolutions). Views are taken
    // after every allocation: a malloc may grow the wasm memory and detach earlier views.
    const dx = sc.backend.typedArrayFromHeap(out) as Float32Array
    if (parts.length < s * s) dx.fill(0)
    for (const { rh, rw, dx: part } of parts) {
      const src = sc.backend.typedArrayFromHeap(part) as Float32Array
      const usedH = Math.ceil((h - rh) / s)
      const usedW = Math.ceil((w - rw) / s)
      for (let b = 0; b < n; b++) {
        for (let m = 0; m < usedH; m++) {
          let from = ((b * rowsH + m) * rowsW) * cIn
          let to = ((b * h + s * m + rh) * w + rw) * cIn
          for (let q = 0; q < usedW; q++, from += cIn, to += s * cIn) {
            for (let c = 0; c < cIn; c++) dx[to + c] = src[from + c]!
          }
        }
      }
    }
    return out
  })
}
