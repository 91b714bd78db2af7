/**
 * A reader and writer for the safetensors format (https://github.com/huggingface/safetensors),
 * written here so that it runs unchanged in Node and in browsers: no Node built-ins.
 *
 * Layout: an 8-byte little-endian u64 N, then N bytes of UTF-8 JSON (padded with spaces), then the
 * tensor data. The JSON maps each tensor name to {dtype, shape, data_offsets: [begin, end]}, with
 * offsets relative to the start of the data; an optional "__metadata__" entry maps strings to
 * strings. All tensor data is little-endian and row-major.
 *
 * The reader validates the whole header up front, then reads tensors lazily, one at a time, from a
 * random-access ByteSource (a file handle, a Blob, or bytes in memory).
 */
import { DnfError } from '../errors.js';
import { dims, oneLine, quoted, snippet } from './printable.js';

/** Random-access bytes: a Node file handle, a browser Blob/File, or a Uint8Array. */
export interface ByteSource {
  /** Shown in error messages: a path or a file name. */
  readonly name: string;
  /** Total size in bytes. */
  readonly size: number;
  /**
   * Exactly `length` bytes starting at `offset`. The sources here return a fresh Uint8Array of its
   * own; readers never assume it, and treat what they get as read-only, at any byte offset.
   */
  read(offset: number, length: number): Promise<Uint8Array>;
}

/**
 * A ByteSource over bytes already in memory: a Uint8Array, a Node Buffer (also a slice of Node's
 * shared pool, at any byteOffset) or a view of a SharedArrayBuffer. Every read returns a copy in a
 * fresh, unshared ArrayBuffer, so that its alignment (and Buffer's view-returning slice(), and
 * later writes to `u8`) never matter to the reader.
 */
export function bytesSource(name: string, u8: Uint8Array): ByteSource {
  return {
    name,
    size: u8.byteLength,
    read: async (offset, length) => {
      checkRange(name, u8.byteLength, offset, length);
      const out = new Uint8Array(length);
      out.set(u8.subarray(offset, offset + length));
      return out;
    },
  };
}

/** A ByteSource over a browser Blob or File; each read fetches only the requested slice. */
export function blobSource(name: string, blob: Blob): ByteSource {
  return {
    name,
    size: blob.size,
    read: async (offset, length) => {
      checkRange(name, blob.size, offset, length);
      return new Uint8Array(await blob.slice(offset, offset + length).arrayBuffer());
    },
  };
}

/** Throws when [offset, offset+length) is not inside a source of `size` bytes. */
export function checkRange(name: string, size: number, offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > size) {
    throw new DnfError(`${name}: cannot read ${length} bytes at offset ${offset} from a file of ${size} bytes; the file may be truncated, so re-download or re-create it`);
  }
}

// ---------------------------------------------------------------------------------------------
// Dtypes

/** The dtypes this project reads and writes, with their sizes in bytes. */
export const DTYPE_SIZES = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1,
} as const;
export type Dtype = keyof typeof DTYPE_SIZES;

export function isDtype(s: unknown): s is Dtype {
  return typeof s === 'string' && Object.prototype.hasOwnProperty.call(DTYPE_SIZES, s);
}

/** Number of elements of `shape`; 1 for a scalar (shape []). */
export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

const isNonNegInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
/** Quotes a name from the file for a one-line message (capped, control characters replaced). */
const q = (s: string) => quoted(s);

// ---------------------------------------------------------------------------------------------
// Reader

/** Where a tensor lives. `byteOffset` is absolute in the file (header included). */
export interface TensorInfo {
  readonly dtype: Dtype;
  readonly shape: readonly number[];
  readonly byteOffset: number;
  readonly byteLength: number;
}

/** Headers above this size are rejected, as the reference implementation does. */
export const MAX_HEADER_BYTES = 100 * 1024 * 1024;

export class SafetensorsFile {
  private constructor(
    readonly source: ByteSource,
    /** The "__metadata__" map, empty when the file has none. */
    readonly metadata: Record<string, string>,
    private readonly tensors: Map<string, TensorInfo>,
  ) {}

  /** Reads and validates the header; tensor data is not read until asked for. */
  static async open(src: ByteSource): Promise<SafetensorsFile> {
    const bad = (what: string) => new DnfError(
      `${src.name}: not a valid safetensors file (${what}); re-download it or re-convert it with \`dnf convert\``);
    if (src.size < 8) throw bad(`only ${src.size} bytes, fewer than the 8-byte header length`);

    const prefix = await readExactly(src, 0, 8);
    const headerLen = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
    if (headerLen > BigInt(MAX_HEADER_BYTES)) throw bad(`header length ${headerLen} bytes exceeds the 100 MiB limit`);
    const len = Number(headerLen);
    if (8 + len > src.size) throw bad(`header length ${len} bytes exceeds the file size ${src.size}`);

    let header: unknown;
    try {
      const text = new TextDecoder('utf-8', { fatal: true }).decode(await readExactly(src, 8, len));
      header = JSON.parse(text);
    } catch (e) {
      if (e instanceof DnfError) throw e;
      throw bad(`header is not valid UTF-8 JSON: ${oneLine(e)}`);
    }
    if (typeof header !== 'object' || header === null || Array.isArray(header)) {
      throw bad(`header is ${Array.isArray(header) ? 'an array' : header === null ? 'null' : typeof header}, not a JSON object`);
    }

    const dataStart = 8 + len;
    let metadata: Record<string, string> = {};
    const tensors = new Map<string, TensorInfo>();
    const ranges: Array<{ name: string; begin: number; end: number }> = [];
    for (const [name, entry] of Object.entries(header as Record<string, unknown>)) {
      if (name === '__metadata__') {
        if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) throw bad('"__metadata__" is not a JSON object');
        const pairs = Object.entries(entry as Record<string, unknown>);
        for (const [k, v] of pairs) {
          if (typeof v !== 'string') throw bad(`metadata value ${q(k)} is ${snippet(v)}, not a string`);
        }
        metadata = Object.fromEntries(pairs) as Record<string, string>; // fromEntries: safe even for "__proto__"
        continue;
      }
      const t = `tensor ${q(name)}`;
      if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) throw bad(`${t} is not a JSON object`);
      const { dtype, shape, data_offsets: offs } = entry as Record<string, unknown>;
      if (!isDtype(dtype)) throw bad(`${t} has unsupported dtype ${snippet(dtype)} (known: ${Object.keys(DTYPE_SIZES).join(' ')})`);
      if (!Array.isArray(shape) || !shape.every(isNonNegInt)) throw bad(`${t} has shape ${snippet(shape)}, not a list of non-negative integers`);
      if (!Array.isArray(offs) || offs.length !== 2 || !offs.every(isNonNegInt) || offs[0] > offs[1]) {
        throw bad(`${t} has data_offsets ${snippet(offs)}, not [begin, end] with 0 <= begin <= end`);
      }
      const [begin, end] = offs as [number, number];
      const expected = numel(shape) * DTYPE_SIZES[dtype];
      if (!Number.isSafeInteger(expected) || expected !== end - begin) {
        throw bad(`${t} of dtype ${dtype} and shape ${dims(shape)} needs ${expected} bytes but data_offsets [${begin},${end}] hold ${end - begin}`);
      }
      if (dataStart + end > src.size) {
        throw bad(`${t} ends at byte ${dataStart + end}, beyond the end of the file (${src.size} bytes): the file is truncated`);
      }
      tensors.set(name, { dtype, shape: [...shape], byteOffset: dataStart + begin, byteLength: end - begin });
      ranges.push({ name, begin, end });
    }

    // No two tensors may share bytes. Empty tensors occupy nothing and cannot overlap.
    const filled = ranges.filter((r) => r.end > r.begin).sort((a, b) => a.begin - b.begin);
    for (let i = 1; i < filled.length; i++) {
      const [a, b] = [filled[i - 1], filled[i]];
      if (b.begin < a.end) throw bad(`tensors ${q(a.name)} [${a.begin},${a.end}) and ${q(b.name)} [${b.begin},${b.end}) overlap`);
    }
    return new SafetensorsFile(src, metadata, tensors);
  }

  /** Tensor names in header order (except that integer-like names come first, as in any JS object). */
  names(): string[] {
    return [...this.tensors.keys()];
  }

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  /** Dtype, shape and byte range of one tensor; a DnfError naming the tensor when it is absent. */
  info(name: string): TensorInfo {
    const t = this.tensors.get(name);
    if (!t) {
      throw new DnfError(`${this.source.name}: no tensor named ${q(name)} among its ${this.tensors.size} tensors; check that this is the right checkpoint for the model`);
    }
    return t;
  }

  /** The raw little-endian bytes of one tensor (a view that may alias the source: do not mutate). */
  async read(name: string): Promise<Uint8Array> {
    const t = this.info(name);
    return readExactly(this.source, t.byteOffset, t.byteLength);
  }

  /** One tensor converted to float32 (from any float or integer dtype; I64 beyond 2^53 rounds). */
  async readF32(name: string): Promise<Float32Array> {
    const { dtype, byteLength } = this.info(name);
    return toF32(dtype, await this.read(name), byteLength / DTYPE_SIZES[dtype]);
  }
}

/** Reads exactly `length` bytes or throws a DnfError naming the source. */
async function readExactly(src: ByteSource, offset: number, length: number): Promise<Uint8Array> {
  const got = await src.read(offset, length);
  if (got.byteLength !== length) {
    throw new DnfError(`${src.name}: read ${got.byteLength} of ${length} bytes at offset ${offset}; the file may be truncated or changing, so re-download or re-create it`);
  }
  return got;
}


// ---------------------------------------------------------------------------------------------
// Conversion to float32

const HOST_LE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * Returns an ArrayBuffer and offset where `n` little-endian elements of `size` bytes can be viewed
 * with a native typed array: `bytes` itself when aligned on a little-endian host, else a copy
 * (byte-swapped on big-endian hosts). The copy is made with the Uint8Array constructor: a Node
 * Buffer's slice() would return a view at the same, unaligned offset.
 */
function aligned(bytes: Uint8Array, size: number): [ArrayBufferLike, number] {
  if (HOST_LE && bytes.byteOffset % size === 0) return [bytes.buffer, bytes.byteOffset];
  const copy = new Uint8Array(bytes);
  if (!HOST_LE) {
    for (let i = 0; i < copy.length; i += size) copy.subarray(i, i + size).reverse();
  }
  return [copy.buffer, 0];
}

function toF32(dtype: Dtype, bytes: Uint8Array, n: number): Float32Array {
  const out = new Float32Array(n);
  const [buf, off] = aligned(bytes, DTYPE_SIZES[dtype]);
  switch (dtype) {
    case 'F32': out.set(new Float32Array(buf, off, n)); break;
    case 'F64': out.set(new Float64Array(buf, off, n)); break;
    case 'F16': {
      const src = new Uint16Array(buf, off, n);
      const bits = new Uint32Array(out.buffer);
      const table = f16Table();
      for (let i = 0; i < n; i++) bits[i] = table[src[i]];
      break;
    }
    case 'BF16': {
      const src = new Uint16Array(buf, off, n);
      const bits = new Uint32Array(out.buffer);
      for (let i = 0; i < n; i++) bits[i] = src[i] << 16;
      break;
    }
    case 'I64': {
      const src = new BigInt64Array(buf, off, n);
      for (let i = 0; i < n; i++) out[i] = Number(src[i]);
      break;
    }
    case 'I32': out.set(new Int32Array(buf, off, n)); break;
    case 'I16': out.set(new Int16Array(buf, off, n)); break;
    case 'I8': out.set(new Int8Array(buf, off, n)); break;
    case 'U8': case 'BOOL': out.set(new Uint8Array(buf, off, n)); break;
  }
  return out;
}

/** The float32 bit pattern of an IEEE half-precision value given by its 16 bits. */
export function f16BitsToF32Bits(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exp = (h >>> 10) & 0x1f;
  let mant = h & 0x3ff;
  if (exp === 0x1f) return (sign | 0x7f800000 | (mant << 13)) >>> 0; // inf / NaN (payload kept)
  if (exp !== 0) return (sign | ((exp + 112) << 23) | (mant << 13)) >>> 0; // rebias 15 -> 127
  if (mant === 0) return sign >>> 0; // +-0
  // Subnormal mant * 2^-24: shift until the implicit bit (bit 10) is set, lowering the exponent.
  let e = 113;
  while ((mant & 0x400) === 0) { mant <<= 1; e--; }
  return (sign | (e << 23) | ((mant & 0x3ff) << 13)) >>> 0;
}

/** The float value of a half given by its 16 bits. */
export function f16ToF32(h: number): number {
  F32_SCRATCH_BITS[0] = f16BitsToF32Bits(h);
  return F32_SCRATCH[0];
}

/** The float value of a bfloat16 given by its 16 bits. */
export function bf16ToF32(h: number): number {
  F32_SCRATCH_BITS[0] = (h & 0xffff) << 16;
  return F32_SCRATCH[0];
}

const F32_SCRATCH = new Float32Array(1);
const F32_SCRATCH_BITS = new Uint32Array(F32_SCRATCH.buffer);

/** All 65536 half -> float32 bit patterns (256 KiB), built on first use. */
let F16_TABLE: Uint32Array | undefined;
function f16Table(): Uint32Array {
  if (!F16_TABLE) {
    F16_TABLE = new Uint32Array(65536);
    for (let h = 0; h < 65536; h++) F16_TABLE[h] = f16BitsToF32Bits(h);
  }
  return F16_TABLE;
}

// ---------------------------------------------------------------------------------------------
// Writer

export interface TensorToWrite {
  readonly name: string;
  readonly dtype: Dtype;
  readonly shape: readonly number[];
  /** Little-endian bytes, product(shape) * dtype size of them (typed arrays on any LE host). */
  readonly data: ArrayBufferView;
}

export interface EncodedSafetensors {
  /** The 8-byte length followed by the space-padded JSON header. */
  readonly header: Uint8Array;
  /** Tensor data in the given order: views onto the callers' buffers, not copies. */
  readonly chunks: Uint8Array[];
  /** header.byteLength + the sum of the chunk lengths. */
  readonly byteLength: number;
}

/**
 * Lays out a safetensors file like the reference writer: 8-byte LE header length, compact JSON
 * padded with spaces to a multiple of 8 ("__metadata__" first when given), then each tensor's bytes
 * contiguously, in the given order. Throws a DnfError for a bad name, dtype, shape or data size.
 */
export function encodeSafetensors(tensors: readonly TensorToWrite[], metadata?: Record<string, string>): EncodedSafetensors {
  const fail = (what: string) => new DnfError(`cannot write safetensors: ${what}`);
  // The header is assembled as [key, value] pairs, not an object, so that the JSON keeps the given
  // order even for integer-like names (which JS objects would move to the front).
  const entries: string[] = [];
  if (metadata && Object.keys(metadata).length > 0) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw fail(`metadata value ${q(k)} is not a string; convert it with String() or JSON.stringify()`);
    }
    entries.push(`"__metadata__":${JSON.stringify(metadata)}`);
  }
  const seen = new Set<string>();
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const t of tensors) {
    const name = t.name;
    if (typeof name !== 'string' || name === '' || name === '__metadata__') throw fail(`tensor name ${JSON.stringify(name)} is empty or reserved; give each tensor a distinct name`);
    if (seen.has(name)) throw fail(`tensor name ${q(name)} appears twice; give each tensor a distinct name`);
    if (!isDtype(t.dtype)) throw fail(`tensor ${q(name)} has unsupported dtype ${JSON.stringify(t.dtype)} (known: ${Object.keys(DTYPE_SIZES).join(' ')})`);
    if (!Array.isArray(t.shape) || !t.shape.every(isNonNegInt)) throw fail(`tensor ${q(name)} has shape ${JSON.stringify(t.shape)}, not a list of non-negative integers`);
    const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    const expected = numel(t.shape) * DTYPE_SIZES[t.dtype];
    if (bytes.byteLength !== expected) {
      throw fail(`tensor ${q(name)} of dtype ${t.dtype} and shape [${t.shape.join(',')}] needs ${expected} bytes but its data has ${bytes.byteLength}`);
    }
    seen.add(name);
    entries.push(`${JSON.stringify(name)}:${JSON.stringify({ dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + expected] })}`);
    chunks.push(bytes);
    offset += expected;
  }

  const json = new TextEncoder().encode(`{${entries.join(',')}}`);
  const padded = Math.ceil(json.byteLength / 8) * 8;
  const head = new Uint8Array(8 + padded).fill(0x20, 8 + json.byteLength);
  new DataView(head.buffer).setBigUint64(0, BigInt(padded), true);
  head.set(json, 8);
  return { header: head, chunks, byteLength: head.byteLength + offset };
}

/** encodeSafetensors concatenated into one buffer; for small files (big ones: stream the chunks). */
export function serializeSafetensors(tensors: readonly TensorToWrite[], metadata?: Record<string, string>): Uint8Array {
  const { header, chunks, byteLength } = encodeSafetensors(tensors, metadata);
  const out = new Uint8Array(byteLength);
  out.set(header, 0);
  let at = header.byteLength;
  for (const c of chunks) { out.set(c, at); at += c.byteLength; }
  return out;
}
