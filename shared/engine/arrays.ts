/**
 * A binary container for named numeric arrays (tensors, weights, datasets) — plain data, no tfjs.
 *
 * Layout: "LWIA" magic (4 bytes) | header length (uint32 LE) | header JSON (UTF-8) | padding to 8 | data...
 * The header lists `{ name, dtype, shape, offset, length }`; offsets are from the start of the data section and
 * 8-byte aligned, so decoding returns zero-copy typed-array views.
 */
export type DType = "float32" | "int32" | "uint8" | "float64"
export type NumericArray = Float32Array | Int32Array | Uint8Array | Float64Array

export interface NamedArray {
  readonly dtype: DType
  readonly shape: ReadonlyArray<number>
  readonly data: NumericArray
}

const MAGIC = 0x4149574c // "LWIA" little-endian

const ctor = { float32: Float32Array, int32: Int32Array, uint8: Uint8Array, float64: Float64Array } as const

export const dtypeOf = (data: NumericArray): DType =>
  data instanceof Float32Array
    ? "float32"
    : data instanceof Int32Array
      ? "int32"
      : data instanceof Uint8Array
        ? "uint8"
        : "float64"

const align8 = (n: number) => (n + 7) & ~7

export const encodeArrays = (arrays: Readonly<Record<string, NamedArray>>): Uint8Array => {
  const names = Object.keys(arrays).sort()
  let offset = 0
  const entries = names.map((name) => {
    const a = arrays[name]!
    const size = a.shape.reduce((p, d) => p * d, 1)
    if (size !== a.data.length) {
      throw new RangeError(`encodeArrays: "${name}" has shape [${a.shape}] (${size}) but ${a.data.length} values`)
    }
    const entry = { name, dtype: a.dtype, shape: [...a.shape], offset, length: a.data.byteLength }
    offset = align8(offset + a.data.byteLength)
    return entry
  })
  const header = new TextEncoder().encode(JSON.stringify({ entries }))
  const dataStart = align8(8 + header.length)
  const out = new Uint8Array(dataStart + offset)
  const view = new DataView(out.buffer)
  view.setUint32(0, MAGIC, true)
  view.setUint32(4, header.length, true)
  out.set(header, 8)
  for (const e of entries) {
    const a = arrays[e.name]!
    out.set(new Uint8Array(a.data.buffer, a.data.byteOffset, a.data.byteLength), dataStart + e.offset)
  }
  return out
}

/** Decodes; throws a RangeError describing the problem if the bytes are not a well-formed container. */
export const decodeArrays = (bytes: Uint8Array): Record<string, NamedArray> => {
  if (bytes.length < 8) throw new RangeError("arrays container: shorter than its 8-byte preamble")
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  if (view.getUint32(0, true) !== MAGIC) throw new RangeError("arrays container: bad magic number")
  const headerLength = view.getUint32(4, true)
  if (8 + headerLength > bytes.length) throw new RangeError("arrays container: truncated header")
  const { entries } = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength))) as {
    entries: Array<{ name: string; dtype: DType; shape: number[]; offset: number; length: number }>
  }
  const dataStart = align8(8 + headerLength)
  // Typed-array views need their byte offset aligned to the element size: copy once if the buffer is not.
  const base = (bytes.byteOffset + dataStart) % 8 === 0 ? bytes : bytes.slice()
  const out: Record<string, NamedArray> = {}
  for (const e of entries) {
    const C = ctor[e.dtype]
    if (!C) throw new RangeError(`arrays container: unknown dtype ${e.dtype} for "${e.name}"`)
    const start = base.byteOffset + dataStart + e.offset
    if (dataStart + e.offset + e.length > base.length) throw new RangeError(`arrays container: "${e.name}" truncated`)
    out[e.name] = { dtype: e.dtype, shape: e.shape, data: new C(base.buffer as ArrayBuffer, start, e.length / C.BYTES_PER_ELEMENT) }
  }
  return out
}
