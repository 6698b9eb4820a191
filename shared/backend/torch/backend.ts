/**
 * The `torch` tfjs backend: tensors live in libtorch (ATen) memory and kernels run ATen ops through the shim
 * (./shim.cpp, ./native.ts) — the way tfjs-node maps kernels onto TensorFlow ops. Values reach JS only through
 * `read`/`readSync` (dataSync, data, print...).
 *
 *   const r = await registerTorchBackend({ threads: 1 })
 *   if (r.ok) await tf.setBackend("torch")
 *
 * Storage: every dataId maps to one `at::Tensor*` with tfjs's logical shape (NHWC images, [fh, fw, in, out]
 * filters) and whatever strides ATen chose; kernels never write into an existing tensor, so views are safe.
 * A kernel may also defer its op (`defer`): the result is computed when first used or read, and never if it is
 * disposed unused — tfjs's fused-conv gradient computes the input gradient of the first layer, which nothing reads.
 */
import {
  engine,
  KernelBackend,
  registerBackend,
  registerKernel,
  removeBackend,
  util,
  type BackendTimingInfo,
  type DataId,
  type DataType,
  type TensorInfo
} from "@tensorflow/tfjs"
import { TorchUnsupported } from "./errors.ts"
import { torchKernels } from "./kernels/index.ts"
import { buildShim, openShim, type Handle, type Native, type OpName, type TorchDtype } from "./native.ts"

interface Entry {
  /** The native tensor; null while the result is `pending`. */
  handle: Handle | null
  pending: Pending | null
  dtype: TorchDtype
  size: number
  refCount: number
}

/** An op not run yet: its int arguments and (aliases of) its inputs, owned by the entry until it runs. */
interface Pending {
  op: number
  ints: Int32Array
  inputs: Array<Handle>
}

type Values = Float32Array | Int32Array | Uint8Array

const isTorchDtype = (d: DataType): d is TorchDtype => d === "float32" || d === "int32" || d === "bool"

export class TorchBackend extends KernelBackend {
  readonly native: Native
  /** Op indices by name (shortcut for `native.op`). */
  readonly op: Readonly<Record<OpName, number>>
  private readonly data = new Map<DataId, Entry>()

  constructor(native: Native) {
    super()
    this.native = native
    this.op = native.op
  }

  // ---- storage ---------------------------------------------------------------------------------------------

  override write(values: unknown, shape: number[], dtype: DataType): DataId {
    const dataId = {}
    this.data.set(dataId, this.entryFor(values, shape, dtype, 1))
    return dataId
  }

  override move(dataId: DataId, values: unknown, shape: number[], dtype: DataType, refCount: number): void {
    this.data.set(dataId, this.entryFor(values, shape, dtype, refCount))
  }

  private entryFor(values: unknown, shape: number[], dtype: DataType, refCount: number): Entry {
    if (!isTorchDtype(dtype)) throw new TorchUnsupported({ kernel: "write", what: `${dtype} tensors` })
    const typed = asTyped(values, dtype, util.sizeFromShape(shape))
    return { handle: this.native.fromValues(typed, shape, dtype), pending: null, dtype, size: typed.length, refCount }
  }

  override async read(dataId: DataId): Promise<Values> {
    return this.readSync(dataId)
  }

  override readSync(dataId: DataId): Values {
    const e = this.entry(dataId)
    const out = e.dtype === "float32" ? new Float32Array(e.size) : e.dtype === "int32" ? new Int32Array(e.size) : new Uint8Array(e.size)
    this.native.read(this.materialize(e), out)
    return out
  }

  override disposeData(dataId: DataId, force = false): boolean {
    const e = this.data.get(dataId)
    if (e === undefined) return true
    e.refCount--
    if (!force && e.refCount > 0) return false
    this.release(e)
    this.data.delete(dataId)
    return true
  }

  override refCount(dataId: DataId): number {
    return this.data.get(dataId)?.refCount ?? 0
  }

  override incRef(dataId: DataId): void {
    this.entry(dataId).refCount++
  }

  override numDataIds(): number {
    return this.data.size
  }

  override memory() {
    return { unreliable: false, liveNativeTensors: this.native.live() }
  }

  override async time(f: () => void): Promise<BackendTimingInfo> {
    const start = util.now()
    f()
    return { kernelMs: util.now() - start }
  }

  override floatPrecision(): 32 {
    return 32
  }

  override epsilon(): number {
    return super.epsilon()
  }

  override dispose(): void {
    for (const e of this.data.values()) this.release(e)
    this.data.clear()
  }

  private release(e: Entry): void {
    if (e.handle !== null) this.native.free(e.handle)
    if (e.pending !== null) for (const h of e.pending.inputs) this.native.free(h)
  }

  /** The entry's native tensor, running its pending op first if it has one. */
  private materialize(e: Entry): Handle {
    if (e.handle !== null) return e.handle
    const p = e.pending!
    // The caller may be a kernel that already wrote its own arguments: keep them.
    const ints = this.native.ints
    const saved = ints.slice(0, p.ints.length)
    ints.set(p.ints)
    try {
      e.handle = this.native.call(p.op, p.inputs[0] ?? null, p.inputs[1] ?? null, p.inputs[2] ?? null)
    } finally {
      ints.set(saved)
    }
    for (const h of p.inputs) this.native.free(h)
    e.pending = null
    return e.handle
  }

  // ---- for kernels -----------------------------------------------------------------------------------------

  /** The entry of `dataId`, moving the tensor over from another backend first if it lives there. */
  private entry(dataId: DataId): Entry {
    let e = this.data.get(dataId)
    if (e === undefined) {
      engine().moveData(this, dataId)
      e = this.data.get(dataId)
      if (e === undefined) throw new Error("torch backend: tensor not found (disposed?)")
    }
    return e
  }

  /** The native tensor behind a kernel input. */
  handle(t: TensorInfo): Handle {
    const e = this.entry(t.dataId)
    return e.handle ?? this.materialize(e)
  }

  /** Registers a handle the shim just returned as a tfjs tensor (reads dtype/shape of the last call's result). */
  adopt(h: Handle): TensorInfo {
    const dtype = this.native.resultDtype()
    const shape = this.native.resultShape()
    const dataId = {}
    this.data.set(dataId, { handle: h, pending: null, dtype, size: util.sizeFromShape(shape), refCount: 1 })
    return { dataId, shape, dtype }
  }

  /** Registers a handle made outside a kernel (a replayed step's output, shim-replay.h) as a tfjs tensor. */
  wrap(h: Handle): TensorInfo {
    this.native.describe(h)
    return this.adopt(h)
  }

  /**
   * Like `run`, but the op runs only when the result is first used or read. The first `nInts` ints of the
   * exchange area are its arguments; `shape`/`dtype` must be what the op will return.
   */
  defer(op: number, nInts: number, inputs: ReadonlyArray<TensorInfo>, shape: number[], dtype: TorchDtype): TensorInfo {
    const ints = this.native.ints.slice(0, nInts)
    const aliases = inputs.map((t) => this.native.call(this.op.identity, this.handle(t)))
    const dataId = {}
    this.data.set(dataId, { handle: null, pending: { op, ints, inputs: aliases }, dtype, size: util.sizeFromShape(shape), refCount: 1 })
    return { dataId, shape, dtype }
  }

  /** Runs shim op `op` on tfjs inputs (scalar arguments already in native.ints/floats/ptrs). */
  run(op: number, a?: TensorInfo | null, b?: TensorInfo | null, c?: TensorInfo | null): TensorInfo {
    return this.adopt(
      this.native.call(op, a ? this.handle(a) : null, b ? this.handle(b) : null, c ? this.handle(c) : null)
    )
  }

  /** The next further result of the last `run` (ops with several outputs), as a tfjs tensor. */
  extra(): TensorInfo {
    return this.adopt(this.native.extra())
  }

  /** Runs an op on native handles, for intermediates a kernel frees itself. */
  raw(op: number, a?: Handle | null, b?: Handle | null, c?: Handle | null): Handle {
    return this.native.call(op, a, b, c)
  }

  /** Writes `values` into the ints exchange area from index `at`; returns the index after the last one. */
  setInts(values: ReadonlyArray<number>, at = 0): number {
    const ints = this.native.ints
    for (let i = 0; i < values.length; i++) ints[at + i] = values[i]!
    return at + values.length
  }
}

const asTyped = (values: unknown, dtype: TorchDtype, size: number): Values => {
  if (values === null || values === undefined) {
    return dtype === "float32" ? new Float32Array(size) : dtype === "int32" ? new Int32Array(size) : new Uint8Array(size)
  }
  if (dtype === "float32") return values instanceof Float32Array ? values : Float32Array.from(values as ArrayLike<number>)
  if (dtype === "int32") return values instanceof Int32Array ? values : Int32Array.from(values as ArrayLike<number>)
  return values instanceof Uint8Array ? values : Uint8Array.from(values as ArrayLike<number>)
}

export interface TorchBackendOptions {
  /** Intra-op threads for ATen (at::set_num_threads); ATen's default when absent. */
  readonly threads?: number
  /** A prebuilt shim library; scripts/build-torch-shim.sh builds (or finds the cached) one when absent. */
  readonly libPath?: string
  /** Registration priority among tfjs backends (tfjs picks the highest when none is set); 0 by default. */
  readonly priority?: number
  /**
   * Keep freed native memory for reuse rather than returning it to the OS (glibc mmap/trim thresholds; the
   * process keeps its peak footprint). True by default: without it LeNet training is ~30% slower.
   */
  readonly keepFreedMemory?: boolean
  /**
   * Flush denormal floats to zero in native ops. True by default: a network stuck at chance can keep momentum
   * buffers full of denormals, slow on CPUs that take microcode assists for them (bench/denormal-step.ts measures).
   */
  readonly flushDenormals?: boolean
}

export type TorchRegistration = { ok: true } | { ok: false; reason: string }

let loaded: Promise<Native> | undefined
let registered: Native | undefined

const load = async (opts: TorchBackendOptions): Promise<Native> => {
  const native = openShim(opts.libPath ?? (await buildShim()), opts)
  for (const k of torchKernels) registerKernel(k)
  if (engine().registryFactory["torch"] !== undefined) removeBackend("torch")
  registerBackend("torch", () => new TorchBackend(native), opts.priority ?? 0)
  registered = native
  return native
}

/**
 * Builds (or finds) and loads the shim, registers the `torch` backend and its kernels. Never throws: when
 * libtorch, g++ or the shim is missing, resolves `{ ok: false, reason }` with one line saying what. The shim is
 * loaded once per process; later calls only apply `threads` (concurrent first calls share one load, and a failed
 * load may be retried, e.g. with another `libPath`).
 */
export const registerTorchBackend = async (opts: TorchBackendOptions = {}): Promise<TorchRegistration> => {
  const first = loaded === undefined
  if (first) loaded = load(opts)
  try {
    const native = await loaded!
    if (!first && opts.threads !== undefined) native.setThreads(opts.threads)
    return { ok: true }
  } catch (e) {
    if (first) loaded = undefined
    const text = e instanceof Error ? e.message : String(e)
    return { ok: false, reason: text.split("\n")[0]!.slice(0, 300) }
  }
}

/** The shim of the registered backend (live-tensor count, threads), or undefined before registration. */
export const torchNative = (): Native | undefined => registered
