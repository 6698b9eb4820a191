/**
 * Replay of a captured training step on the `torch` backend: the step's sequence of shim calls is recorded while
 * it runs through tfjs, checked on a second step, built once into a program in C++ (./shim-replay.h), and from then
 * on a step is ONE FFI call — no per-kernel dispatch, tape or tensor bookkeeping in tfjs.
 *
 *   const replay = createStepReplay({ log: console.error })
 *   const [loss, hits] = replay.run(`lr=${lr}`, [x, labels], () => { ...one step...; return [loss, hits] })
 *
 * What a recording holds: per call the op, its input tensors as *slots*, the ints/floats the call saw in the
 * exchange area (the prefix up to its last non-zero value; the area is zeroed when a recording starts) and its
 * ptrs as slots, and its result(s) as new slots. Tensors that exist before the step are *inputs* — the `inputs`
 * given to `run` and every registered tf.Variable's current value (weights, optimizer slots, BN statistics...) —
 * read afresh at every replay; any other tensor from before the step is immutable (tfjs tensors are), so the
 * program keeps a reference to it as a *constant*, as it does for tensors the step makes from JS values (`fromValues`:
 * a learning rate, a loss weight). A slot that is neither an input nor an output is freed after its last use.
 * Outputs: the tensors `body` returns, then the new value of every variable the step assigned; a variable alone on
 * its value donates it to the replay (freed after its last reader, the new value stored in the same handle).
 *
 * Validation: a program is keyed by the inputs' shapes and dtypes and the caller's key (the learning rate), and is
 * used only once two consecutive recordings under that key are identical (ops, ints, floats, slots, constants'
 * bytes). Anything the JS side computes per step — Adam's bias corrections, dropout masks drawn in JS, a new
 * learning rate — shows up as differing constants or floats, and the key then runs through tfjs for good (said once).
 *
 * Reads inside the step (`dataSync`, e.g. the optimizer's step counter) are not replayed. Two identical recordings
 * show that what the JS did with a read value was the same on both steps; they cannot show that it will stay so (a
 * branch on "step > 1000" would pass and then be missed). That is why the caller's key must hold every value the
 * step's control flow depends on besides shapes; in `trainBatch` the only read is SGD's step counter, which only
 * Adam uses (and Adam's per-step constants fail validation).
 */
import * as tf from "@tensorflow/tfjs"
import type { TorchBackend } from "./backend.ts"
import type { Handle, Native, ProgramHandle } from "./native.ts"
import { type Recording, type Source, type Values, difference, encode, freePoints, peakOf, record } from "./replay-record.ts"


export interface ReplayFacts {
  /** Steps run by a replay, recorded (through tfjs), and through tfjs without recording. */
  readonly replayed: number
  readonly recorded: number
  readonly normal: number
  /** Why some steps ran through tfjs, once per reason. */
  readonly fallbacks: ReadonlyArray<string>
  /**
   * Of the last program built: the most bytes of tensors made inside the step alive at once, as tfjs frees them (at
   * the end of its scopes) and as the replay does (after last use) — logical sizes, a view counted as its own tensor.
   */
  readonly peakBytes?: { readonly tfjs: number; readonly replay: number }
}

export interface StepReplay {
  /** The values of `body`'s result tensors, computed by a replay when `key` has a validated program. */
  readonly run: (key: string, inputs: ReadonlyArray<tf.Tensor>, body: () => tf.Tensor[]) => Values[]
  readonly facts: () => ReplayFacts
  /** Frees the programs (the shim keeps constants alive until then). */
  readonly dispose: () => void
}

export interface StepReplayOptions {
  /** False: every step runs through tfjs (for A/B runs). Default: on unless LWI_REPLAY=off. */
  readonly enabled?: boolean
  /** Where a fallback is said, once per reason. */
  readonly log?: (line: string) => void
  /** Recordings compared before a key gives up (the first step can differ: tfjs makes a few constants once). */
  readonly maxRecordings?: number
}

interface Program {
  readonly handle: ProgramHandle
  readonly peakBytes: { readonly tfjs: number; readonly replay: number }
  /** How many variables were registered when the step was recorded: another model's appear, a disposed one's go. */
  readonly registered: number
  readonly sources: ReadonlyArray<Source>
  readonly results: number
  readonly assigned: ReadonlyArray<tf.Variable>
  /** Per assigned variable, the input it was read from (its old value), or -1. */
  readonly donors: ReadonlyArray<number>
}

interface KeyState {
  last?: Recording
  recordings: number
  program?: Program
  failed?: string
}

const build = (native: Native, rec: Recording): Program => {
  const { code, floats } = encode(rec)
  const made: Handle[] = []
  try {
    const consts = rec.consts.map((c) => {
      if (c.alias !== undefined) return c.alias
      const h = native.fromValues(c.values!.data, c.values!.shape, c.values!.dtype)
      made.push(h)
      return h
    })
    const handle = native.buildProgram(code, floats, consts)
    const registered = Object.keys(tf.engine().state.registeredVariables).length
    const replayEnds = freePoints(rec)
    const peakBytes = { tfjs: peakOf(rec, (s) => rec.freedAt[s]!), replay: peakOf(rec, (s) => replayEnds[s]!) }
    const donors = rec.assigned.map((v) => rec.sources.findIndex((s) => s.kind === "variable" && s.variable === v))
    return { handle, peakBytes, registered, sources: rec.sources, results: rec.outputs.length - rec.assigned.length, assigned: rec.assigned, donors }
  } finally {
    for (const h of made) native.free(h)
  }
}

/** A `StepReplay` for the active backend; on any backend but `torch` every step runs through tfjs (said once). */
export const createStepReplay = (opts: StepReplayOptions = {}): StepReplay => {
  const enabled = opts.enabled ?? process.env["LWI_REPLAY"] !== "off"
  const maxRecordings = opts.maxRecordings ?? 4
  const states = new Map<string, KeyState>()
  const said = new Set<string>()
  const counts = { replayed: 0, recorded: 0, normal: 0 }
  let peakBytes: Program["peakBytes"] | undefined
  const fallback = (why: string) => {
    if (said.has(why)) return
    said.add(why)
    opts.log?.(`step replay: ${why}; those steps run through tfjs`)
  }
  const normal = (body: () => tf.Tensor[]) => {
    counts.normal++
    return readAll(tf.tidy(body))
  }
  const freeAliases = (rec: Recording | undefined, native: Native) => {
    for (const c of rec?.consts ?? []) if (c.alias !== undefined) native.free(c.alias)
  }

  const run = (key: string, inputs: ReadonlyArray<tf.Tensor>, body: () => tf.Tensor[]): Values[] => {
    if (!enabled) {
      fallback("turned off (LWI_REPLAY=off or enabled: false)")
      return normal(body)
    }
    const backend = tf.backend() as TorchBackend
    if (tf.getBackend() !== "torch" || typeof backend.wrap !== "function") {
      fallback(`backend ${tf.getBackend()} has no replay`)
      return normal(body)
    }
    const native = backend.native
    const fullKey = `${key}|${inputs.map((t) => `${t.dtype}[${t.shape.join(",")}]`).join(";")}`
    const state = states.get(fullKey) ?? { recordings: 0 }
    states.set(fullKey, state)
    if (state.failed !== undefined) return normal(body)
    if (state.program !== undefined) {
      if (current(state.program)) {
        counts.replayed++
        return replay(backend, state.program, inputs)
      }
      // Variables were made or disposed since: the program may read stale ones. Record the step again.
      fallback("the registered variables changed since the step was recorded (recording it again)")
      native.freeProgram(state.program.handle)
      state.program = undefined
      state.recordings = 0
    }
    counts.recorded++
    const r = record(native, backend, inputs)
    let results: tf.Tensor[]
    try {
      results = tf.tidy(body)
      r.finish(results)
    } catch (e) {
      r.stop()
      freeAliases(r.rec, native)
      throw e
    }
    const values = readAll(results)
    state.recordings++
    const why = r.rec.unsupported ?? (state.last === undefined ? "first" : difference(state.last, r.rec))
    if (why === undefined) {
      state.program = build(native, r.rec)
      peakBytes = state.program.peakBytes
      freeAliases(state.last, native)
      freeAliases(r.rec, native)
      state.last = undefined
    } else {
      freeAliases(state.last, native)
      state.last = r.rec
      if (r.rec.unsupported !== undefined || state.recordings >= maxRecordings) {
        state.failed = why
        freeAliases(r.rec, native)
        state.last = undefined
        fallback(why)
      }
    }
    return values
  }

  return {
    run,
    facts: () => ({ ...counts, fallbacks: [...said], ...(peakBytes === undefined ? {} : { peakBytes }) }),
    dispose: () => {
      const native = (tf.findBackend("torch") as TorchBackend | null)?.native
      for (const s of states.values()) {
        if (native === undefined) break
        if (s.program !== undefined) native.freeProgram(s.program.handle)
        freeAliases(s.last, native)
      }
      states.clear()
    }
  }
}

/** Whether the variables a program reads and assigns are still the registered ones. */
const current = (p: Program) => {
  const now = tf.engine().state.registeredVariables
  if (Object.keys(now).length !== p.registered) return false
  const live = (v: tf.Variable) => !v.isDisposed && now[v.name] === v
  return p.sources.every((s) => s.kind === "input" || live(s.variable)) && p.assigned.every(live)
}

const readAll = (results: ReadonlyArray<tf.Tensor>): Values[] => {
  const values = results.map((t) => t.dataSync() as Values)
  tf.dispose([...results])
  return values
}

/**
 * One replayed step: inputs' handles in, `body`'s results read, assigned variables given their new values. A
 * variable alone on its dataId donates its tensor (shim-replay.h): the old value is freed inside the replay after
 * its last use and the new one lands in the same handle, so nothing changes on the JS side. Otherwise (another
 * tensor shares the old value, which must keep its values) the new value is wrapped and `assign`ed.
 */
const replay = (backend: TorchBackend, p: Program, inputs: ReadonlyArray<tf.Tensor>): Values[] => {
  const native = backend.native
  const handles = Float64Array.from(p.sources, (s) => backend.handle(s.kind === "input" ? inputs[s.index]! : s.variable) as number)
  const out = new Float64Array(p.results + p.assigned.length)
  p.assigned.forEach((v, i) => {
    if (p.donors[i]! >= 0 && backend.refCount(v.dataId) === 1) out[p.results + i] = p.donors[i]! + 1
  })
  native.replay(p.handle, handles, out)
  p.assigned.forEach((v, i) => {
    const h = out[p.results + i]!
    if (p.donors[i]! >= 0 && h === handles[p.donors[i]!]) return
    const t = tf.engine().makeTensorFromTensorInfo(backend.wrap(h as unknown as Handle))
    v.assign(t)
    t.dispose()
  })
  return Array.from(out.subarray(0, p.results), (x) => {
    const h = x as unknown as Handle
    native.describe(h)
    const n = native.resultShape().reduce((a, b) => a * b, 1)
    const dtype = native.resultDtype()
    const values = dtype === "float32" ? new Float32Array(n) : dtype === "int32" ? new Int32Array(n) : new Uint8Array(n)
    native.read(h, values)
    native.free(h)
    return values
  })
}
