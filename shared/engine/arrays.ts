/**
 * A binary container for named numeric arrays (tensors, weights, datasets) — plain data, no tfjs.
 *
 * Layout: "LWIA" magic (4 bytes) | header length (uint32 LE) | header JSON (UTF-8) | padding to 8 | data...
 * The header lists `{ name, dtype, shape, offset, length }`; offsets are from the start of the data section and
 * 8-byte aligned, so decoding returns zero-copy typed-array views.
 *
 * An entry may instead live in a blob of its own: `{ name, dtype, shape, blob, length }`, `blob` the SHA-256 of the
 * array's raw bytes. The container is then a manifest (a Merkle node): its own hash covers the blobs' hashes, so a
 * model state that shares 39 of 40 arrays with its predecessor stores one new array blob and a small manifest
 * (shared/engine/CACHE.md, "Artifacts carry what a step changes"). `splitArrays` decides which arrays go out.
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

/** An array stored in its own blob: its shape facts, the SHA-256 of its raw bytes, and their count. */
export interface BlobArray {
  readonly dtype: DType
  readonly shape: ReadonlyArray<number>
  readonly blob: string
  readonly length: number
}

/**
 * Arrays this large or larger get a blob of their own. 64 KiB: below it, a file of its own costs more (on a network
 * file system: create, write, fsync, rename, directory fsync — several round trips) than carrying the bytes again in
 * the manifest; above it the bytes dominate. A model's biases and small kernels stay inline, its big kernels go out.
 */
export const BLOB_MIN_BYTES = 64 * 1024

/** The raw bytes of an array (a view, no copy). */
export const bytesOf = (a: NamedArray): Uint8Array => new Uint8Array(a.data.buffer, a.data.byteOffset, a.data.byteLength)

/** Which arrays stay inline in the container and which get a blob of their own (`minBytes` and up). */
export const splitArrays = (arrays: Readonly<Record<string, NamedArray>>, minBytes = BLOB_MIN_BYTES) => {
  const inline: Record<string, NamedArray> = {}
  const external: Record<string, NamedArray> = {}
  for (const [name, a] of Object.entries(arrays)) (a.data.byteLength >= minBytes ? external : inline)[name] = a
  return { inline, external }
}

const shapeSize = (shape: ReadonlyArray<number>) => shape.reduce((p, d) => p * d, 1)

/** Encodes `arrays` inline and `blobs` as references to arrays stored elsewhere (by the hash of their bytes). */
export const encodeArrays = (
  arrays: Readonly<Record<string, NamedArray>>,
  blobs: Readonly<Record<string, BlobArray>> = {}
): Uint8Array => {
  const names = Object.keys(arrays).sort()
  let offset = 0
  const external = Object.keys(blobs)
    .sort()
    .map((name) => {
      if (name in arrays) throw new RangeError(`encodeArrays: "${name}" is both inline and in a blob`)
      const b = blobs[name]!
      if (!/^[0-9a-f]{64}$/.test(b.blob)) throw new RangeError(`encodeArrays: "${name}" names blob ${JSON.stringify(b.blob)}, not a SHA-256`)
      if (shapeSize(b.shape) * ctor[b.dtype].BYTES_PER_ELEMENT !== b.length) {
        throw new RangeError(`encodeArrays: "${name}" has shape [${b.shape}] ${b.dtype} but ${b.length} bytes`)
      }
      return { name, dtype: b.dtype, shape: [...b.shape], blob: b.blob, length: b.length }
    })
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
  const header = new TextEncoder().encode(JSON.stringify(external.length > 0 ? { entries, blobs: external } : { entries }))
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

interface Header {
  readonly entries: Array<{ name: string; dtype: DType; shape: number[]; offset: number; length: number }>
  readonly blobs?: Array<{ name: string; dtype: DType; shape: number[]; blob: string; length: number }>
}

/** The header length when `bytes` starts like a container (magic first), else undefined. Needs the first 8 bytes. */
export const containerHeaderLength = (bytes: Uint8Array): number | undefined => {
  if (bytes.length < 8) return undefined
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  return view.getUint32(0, true) === MAGIC ? view.getUint32(4, true) : undefined
}

const parseHeader = (bytes: Uint8Array): Header => {
  if (bytes.length < 8) throw new RangeError("arrays container: shorter than its 8-byte preamble")
  const headerLength = containerHeaderLength(bytes)
  if (headerLength === undefined) throw new RangeError("arrays container: bad magic number")
  if (8 + headerLength > bytes.length) throw new RangeError("arrays container: truncated header")
  return JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength))) as Header
}

/**
 * The blobs a container names (empty for any other bytes: a JSON artifact, an array's raw bytes). `bytes` may be the
 * container's first 8 + header-length bytes only. What the store and gc follow to see a manifest's arrays.
 */
export const containerBlobs = (bytes: Uint8Array): string[] => {
  try {
    const blobs = parseHeader(bytes).blobs
    return Array.isArray(blobs) ? blobs.map((b) => b.blob).filter((h) => typeof h === "string" && /^[0-9a-f]{64}$/.test(h)) : []
  } catch {
    return [] // not a container: raw bytes that happen to start with the magic number, or JSON
  }
}

/** An array from its own blob's bytes, checked against the manifest's facts (copied once if misaligned). */
export const arrayFromBlob = (name: string, b: BlobArray, bytes: Uint8Array): NamedArray => {
  const C = ctor[b.dtype]
  if (!C) throw new RangeError(`arrays container: unknown dtype ${b.dtype} for "${name}"`)
  if (bytes.length !== b.length) throw new RangeError(`arrays container: "${name}" blob holds ${bytes.length} bytes, expected ${b.length}`)
  const base = bytes.byteOffset % C.BYTES_PER_ELEMENT === 0 ? bytes : bytes.slice()
  return { dtype: b.dtype, shape: b.shape, data: new C(base.buffer as ArrayBuffer, base.byteOffset, b.length / C.BYTES_PER_ELEMENT) }
}

/** The inline arrays and the references to arrays in blobs; throws a RangeError if the bytes are malformed. */
export const decodeContainer = (bytes: Uint8Array): { arrays: Record<string, NamedArray>; blobs: Record<string, BlobArray> } => {
  const header = parseHeader(bytes)
  const blobs: Record<string, BlobArray> = {}
  for (const b of header.blobs ?? []) blobs[b.name] = { dtype: b.dtype, shape: b.shape, blob: b.blob, length: b.length }
  return { arrays: decodeInline(bytes, header), blobs }
}

/** Decodes a container whose arrays are all inline; throws a RangeError describing the problem otherwise. */
export const decodeArrays = (bytes: Uint8Array): Record<string, NamedArray> => {
  const header = parseHeader(bytes)
  if ((header.blobs ?? []).length > 0) throw new RangeError("arrays container: names arrays in other blobs (read it through the store)")
  return decodeInline(bytes, header)
}

const decodeInline = (bytes: Uint8Array, { entries }: Header): Record<string, NamedArray> => {
  const headerLength = containerHeaderLength(bytes)!
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
