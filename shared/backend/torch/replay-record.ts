/**
 * Recording a step for ./replay.ts: the shim calls a step makes, as slots (see replay.ts's header), and the streams
 * shim-replay.h builds a program from; `difference` says why two recordings would not replay each other.
 */
import * as tf from "@tensorflow/tfjs"
import type { TorchBackend } from "./backend.ts"
import type { Handle, Native, NativeTap, TorchDtype } from "./native.ts"

export type Values = Float32Array | Int32Array | Uint8Array

/** Where an input slot's tensor comes from at each replay. */
export type Source = { readonly kind: "input"; readonly index: number } | { readonly kind: "variable"; readonly variable: tf.Variable }

interface Const {
  readonly slot: number
  /** A copy of the values the step wrote (fromValues), or an alias of a tensor from before the step. */
  readonly values?: { readonly data: Values; readonly shape: ReadonlyArray<number>; readonly dtype: TorchDtype }
  readonly alias?: Handle
  readonly original?: number
}

interface Instr {
  readonly op: number
  readonly args: readonly [number, number, number]
  readonly out: number
  readonly extras: number[]
  readonly ints: Int32Array
  readonly floats: Float64Array
  readonly ptrs: Int32Array
}

export interface Recording {
  slots: number
  readonly sources: Source[]
  readonly inputSlots: number[]
  readonly consts: Const[]
  readonly code: Instr[]
  outputs: number[]
  /** Per slot made inside the step: its logical size, and the call after which tfjs freed it (-1: kept). */
  readonly bytes: number[]
  readonly freedAt: number[]
  /** Variables whose value the step replaced, in output order after `body`'s results. */
  assigned: tf.Variable[]
  unsupported?: string
}

const prefix = (a: Int32Array | Float64Array) => {
  let n = a.length
  while (n > 0 && a[n - 1] === 0) n--
  return n
}

/** Records the shim calls of one step; `finish` turns the outputs into slots and stops recording. */
export const record = (native: Native, backend: TorchBackend, inputs: ReadonlyArray<tf.Tensor>) => {
  const rec: Recording = { slots: 0, sources: [], inputSlots: [], consts: [], code: [], outputs: [], assigned: [], bytes: [], freedAt: [] }
  const slotOf = new Map<number, number>()
  const freed = new Set<number>()
  const candidates = new Map<number, Source>()
  inputs.forEach((t, index) => candidates.set(backend.handle(t) as number, { kind: "input", index }))
  const variables = tf.engine().state.registeredVariables
  const before = new Map<string, object>()
  const tensorInfo = tf.engine().state.tensorInfo
  for (const [name, v] of Object.entries(variables)) {
    before.set(name, v.dataId)
    // Variables held by another backend stay there (taking their handle would move them).
    if (tensorInfo.get(v.dataId)?.backend === backend) candidates.set(backend.handle(v) as number, { kind: "variable", variable: v })
  }
  const fail = (why: string) => void (rec.unsupported ??= why)
  /** The slot of a tensor the step reads; tensors from before the step become inputs or constants. */
  const slotFor = (h: Handle): number => {
    const known = slotOf.get(h as number)
    if (known !== undefined) return known
    const slot = rec.slots++
    slotOf.set(h as number, slot)
    const source = candidates.get(h as number)
    if (source !== undefined) {
      rec.sources.push(source)
      rec.inputSlots.push(slot)
    } else {
      if (freed.has(h as number)) fail("the step used a tensor after freeing it")
      // Made before the step and not a variable: immutable, so the program keeps a reference to it.
      native.setTap(undefined)
      const alias = native.call(native.op.identity, h)
      native.setTap(tap)
      rec.consts.push({ slot, alias, original: h as number })
    }
    return slot
  }
  const newSlot = (h: Handle) => {
    const slot = rec.slots++
    rec.bytes[slot] = native.resultShape().reduce((a, b) => a * b, 1) * (native.resultDtype() === "bool" ? 1 : 4)
    rec.freedAt[slot] = -1
    slotOf.set(h as number, slot)
    freed.delete(h as number)
    return slot
  }
  const tap: NativeTap = {
    before: (_op, a, b, c) => {
      // Bring tensors from before the step in now: an alias made after the call would overwrite its result's meta.
      for (const h of [a, b, c]) if (h !== null) slotFor(h)
      const ptrs = native.ptrs
      for (let i = 0, n = prefix(ptrs); i < n; i++) {
        const h = ptrs[i]!
        if (h !== 0 && !freed.has(h)) slotFor(h as unknown as Handle)
      }
    },
    after: (op, a, b, c, result) => {
      const ptrs = native.ptrs.subarray(0, prefix(native.ptrs))
      const arg = (h: Handle | null) => (h === null ? -1 : slotOf.get(h as number)!)
      rec.code.push({
        op,
        args: [arg(a), arg(b), arg(c)],
        out: newSlot(result),
        extras: [],
        ints: native.ints.slice(0, prefix(native.ints)),
        floats: native.floats.slice(0, prefix(native.floats)),
        // A handle freed since it was written is a stale argument of an earlier call: this op does not read it.
        ptrs: Int32Array.from(ptrs, (h) => (h === 0 || freed.has(h) ? -1 : slotOf.get(h)!))
      })
    },
    extra: (result) => {
      const last = rec.code.at(-1)
      if (last === undefined) return fail("a further result with no call before it")
      last.extras.push(newSlot(result))
    },
    fromValues: (values, shape, dtype, result) => {
      const slot = newSlot(result)
      rec.consts.push({ slot, values: { data: values.slice(), shape: [...shape], dtype } })
    },
    free: (h) => {
      const slot = slotOf.get(h as number)
      if (slot !== undefined && rec.freedAt[slot] === -1) rec.freedAt[slot] = rec.code.length - 1
      slotOf.delete(h as number)
      freed.add(h as number)
    }
  }
  native.ints.fill(0)
  native.floats.fill(0)
  native.ptrs.fill(0)
  native.setTap(tap)
  return {
    rec,
    /** Call with `body`'s results still alive; stops recording. */
    finish: (results: ReadonlyArray<tf.Tensor>) => {
      try {
        rec.outputs = results.map((t) => slotFor(backend.handle(t)))
        const now = tf.engine().state.registeredVariables
        if (Object.keys(now).length !== before.size || Object.keys(now).some((n) => !before.has(n))) {
          fail("the step made or disposed variables")
        }
        for (const [name, v] of Object.entries(now)) {
          if (before.get(name) === v.dataId) continue
          rec.assigned.push(v)
          rec.outputs.push(slotFor(backend.handle(v)))
        }
      } finally {
        native.setTap(undefined)
      }
    },
    stop: () => native.setTap(undefined)
  }
}

/** The call after which the replay frees each slot: its last use; -1 for inputs and outputs (never freed). */
export const freePoints = (rec: Recording): Int32Array => {
  const lastUse = new Int32Array(rec.slots).fill(-1)
  rec.code.forEach((ins, i) => {
    for (const s of [...ins.args, ...ins.ptrs, ins.out, ...ins.extras]) if (s >= 0) lastUse[s] = i
  })
  for (const s of [...rec.outputs, ...rec.inputSlots]) lastUse[s] = -1
  return lastUse
}

/** The most bytes of tensors made by the step's calls alive at once, when each slot is freed after call `end(slot)`. */
export const peakOf = (rec: Recording, end: (slot: number) => number): number => {
  const delta = new Float64Array(rec.code.length + 1)
  rec.code.forEach((ins, i) => {
    for (const s of [ins.out, ...ins.extras]) {
      const e = end(s)
      const b = rec.bytes[s]!
      delta[i] = delta[i]! + b
      const at = e < 0 ? rec.code.length : e + 1
      delta[at] = delta[at]! - b
    }
  })
  let live = 0
  let peak = 0
  for (const d of delta) peak = Math.max(peak, (live += d))
  return peak
}

/** The int32/float64 streams of shim-replay.h; frees after each slot's last use (outputs and inputs never). */
export const encode = (rec: Recording): { code: Int32Array; floats: Float64Array } => {
  const freeAfter = rec.code.map(() => [] as number[])
  freePoints(rec).forEach((i, s) => {
    if (i >= 0) freeAfter[i]!.push(s)
  })
  const out: number[] = [rec.slots, rec.inputSlots.length, rec.outputs.length, rec.consts.length, rec.code.length]
  out.push(...rec.inputSlots, ...rec.outputs, ...rec.consts.map((c) => c.slot))
  const floats: number[] = []
  rec.code.forEach((ins, i) => {
    out.push(ins.op, ...ins.args, ins.out, ins.extras.length, ...ins.extras, ins.ints.length, ...ins.ints)
    out.push(ins.floats.length)
    floats.push(...ins.floats)
    out.push(ins.ptrs.length, ...ins.ptrs, freeAfter[i]!.length, ...freeAfter[i]!)
  })
  return { code: Int32Array.from(out), floats: Float64Array.from(floats) }
}

const sameSource = (a: Source, b: Source) =>
  a.kind === "input" ? b.kind === "input" && a.index === b.index : b.kind === "variable" && a.variable === b.variable

const sameBytes = (a: Values, b: Values) =>
  a.constructor === b.constructor && a.length === b.length && a.every((x, i) => Object.is(x, b[i]))

/** Why two recordings differ, or undefined when a program of one replays the other. */
export const difference = (a: Recording, b: Recording): string | undefined => {
  const ea = encode(a)
  const eb = encode(b)
  if (ea.code.length !== eb.code.length || ea.code.some((x, i) => x !== eb.code[i])) {
    const i = a.code.findIndex((ins, k) => b.code[k]?.op !== ins.op)
    return i >= 0 ? `the steps run different ops (call ${i})` : "the steps' calls differ in arguments or tensors"
  }
  if (ea.floats.length !== eb.floats.length || ea.floats.some((x, i) => !Object.is(x, eb.floats[i]))) {
    return "the steps' float arguments differ"
  }
  if (a.sources.some((s, i) => !sameSource(s, b.sources[i]!)) || a.assigned.some((v, i) => v !== b.assigned[i])) {
    return "the steps read or assign different variables"
  }
  for (let i = 0; i < a.consts.length; i++) {
    const x = a.consts[i]!
    const y = b.consts[i]!
    if (x.original !== y.original) return "the steps read different tensors made before them"
    if (x.values !== undefined && y.values !== undefined && !sameBytes(x.values.data, y.values.data)) {
      return "a constant the step makes from JS values differs between steps (e.g. Adam's bias correction)"
    }
  }
  return undefined
}
