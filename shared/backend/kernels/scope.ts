/**
 * Compose wasm kernels from other wasm kernels, the way tfjs backends do internally: call the registered
 * `kernelFunc`s directly (no engine, no tape, no tensors), and free every intermediate buffer at the end.
 */
import { getKernel, type NamedAttrMap, type TensorInfo } from "@tensorflow/tfjs"
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm"

/** Amounts added to (positive) or removed from (negative) each side of the H and W axes. */
export interface Sides {
  readonly top: number
  readonly bottom: number
  readonly left: number
  readonly right: number
}

export class KernelScope {
  private readonly made: Array<TensorInfo> = []

  constructor(readonly backend: BackendWasm) {}

  /** Runs the `wasm` kernel `name`; its output is freed by `keep` unless it is the one kept. */
  run(name: string, inputs: object, attrs: object = {}): TensorInfo {
    const [out] = this.runMany(name, inputs, attrs)
    return out!
  }

  /** Takes ownership of a TensorInfo made outside `run` (e.g. by a captured kernel function). */
  adopt(t: TensorInfo): TensorInfo {
    this.made.push(t)
    return t
  }

  reshape(x: TensorInfo, shape: ReadonlyArray<number>): TensorInfo {
    return this.run("Reshape", { x }, { shape })
  }

  transpose(x: TensorInfo, perm: ReadonlyArray<number>): TensorInfo {
    return this.run("Transpose", { x }, { perm })
  }

  /** Runs a kernel that returns several outputs (e.g. Unpack); `inputs` is a named map, or a list for Pack/AddN. */
  runMany(name: string, inputs: object, attrs: object = {}): Array<TensorInfo> {
    const config = getKernel(name, "wasm")
    if (config === undefined) throw new Error(`wasm kernel ${name} is not registered; it is needed to compose another`)
    const outs = config.kernelFunc({ inputs: inputs as never, backend: this.backend, attrs: attrs as NamedAttrMap })
    const list = Array.isArray(outs) ? outs : [outs]
    this.made.push(...list)
    return list
  }

  /**
   * Grows (positive) or shrinks (negative) the H and W axes of x [N,H,W,C] on each side; grown cells hold `value`.
   */
  padOrCrop(x: TensorInfo, sides: Sides, value = 0): TensorInfo {
    const [n, h, w, c] = x.shape as [number, number, number, number]
    const cut = (v: number) => Math.max(0, -v)
    const grow = (v: number) => Math.max(0, v)
    const cropped = cut(sides.top) + cut(sides.bottom) + cut(sides.left) + cut(sides.right) === 0
      ? x
      : this.run("Slice", { x }, {
        begin: [0, cut(sides.top), cut(sides.left), 0],
        size: [n, h - cut(sides.top) - cut(sides.bottom), w - cut(sides.left) - cut(sides.right), c]
      })
    if (grow(sides.top) + grow(sides.bottom) + grow(sides.left) + grow(sides.right) === 0) return cropped
    return this.run("PadV2", { x: cropped }, {
      paddings: [[0, 0], [grow(sides.top), grow(sides.bottom)], [grow(sides.left), grow(sides.right)], [0, 0]],
      constantValue: value
    })
  }

  /**
   * Frees every intermediate except `result` (a reshape of an intermediate holds its own reference). A `result`
   * this scope did not make (an input passed through) gets a reference of its own: the engine will free it.
   */
  keep(result: TensorInfo): TensorInfo {
    if (!this.made.includes(result)) this.backend.incRef(result.dataId)
    for (const t of this.made) if (t !== result) this.backend.disposeData(t.dataId)
    this.made.length = 0
    return result
  }

  /** Frees everything made so far; for error paths. */
  dispose(): void {
    for (const t of this.made) this.backend.disposeData(t.dataId)
    this.made.length = 0
  }
}

/** Runs `body` in a fresh scope; keeps its result and frees the rest, also when `body` throws. */
export const composed = (backend: BackendWasm, body: (s: KernelScope) => TensorInfo): TensorInfo => {
  const scope = new KernelScope(backend)
  try {
    return scope.keep(body(scope))
  } catch (e) {
    scope.dispose()
    throw e
  }
}
