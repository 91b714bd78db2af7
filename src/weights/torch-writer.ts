/**
 * Writes PyTorch checkpoints in the zip format of `torch.save` (PyTorch >= 1.6), the inverse of
 * torch-checkpoint.ts, in Node and in browsers alike (no Node built-ins). What
 * `torch.save({'model': OrderedDict(state_dict)}, f)` writes is reproduced entry for entry:
 * - `<archive>/data.pkl`: the object as a protocol-2 pickle. Each tensor is
 *   `torch._utils._rebuild_tensor_v2(storage, 0, size, stride, False, OrderedDict())`, its storage a
 *   persistent id ('storage', torch.<Type>Storage, '<key>', 'cpu', numel) loaded through BINPERSID;
 *   state dicts are collections.OrderedDict (rebuilt by REDUCE of an empty tuple, items by SETITEMS).
 * - `<archive>/byteorder` ("little", as PyTorch >= 2.1 writes; older versions ignore it).
 * - `<archive>/data/<key>`: each tensor's raw little-endian bytes, row-major, one storage per tensor.
 * - `<archive>/version` ("3\n").
 * The zip is what PyTorch's reader (miniz) accepts: STORED entries with their CRC-32 and sizes in
 * the local header (no data descriptors), each entry's data aligned to 64 bytes in the file through
 * a padding extra field (id "FB", as torch pads), a central directory, and ZIP64 fields and end
 * records wherever a size, an offset or the entry count does not fit the classic 32/16-bit fields.
 *
 * Only what a state dict needs is pickled: dicts (PyDict; OrderedDict when its className says so)
 * with str keys, tuples (JS arrays), ints (safe-integer numbers and bigints), floats (other numbers),
 * bools, None (null) and tensors. Anything else is refused rather than guessed at.
 *
 * The file is produced as a list of chunks (headers, and the callers' tensor bytes as views, not
 * copies), so that a 100 MB checkpoint is streamed to disk entry by entry, never concatenated.
 */
import { DnfError } from '../errors.js';
import { PyDict, printable } from './pickle.js';
import { DTYPE_SIZES, numel, type Dtype, type TensorToWrite } from './safetensors.js';

/** A tensor to pickle: little-endian bytes, numel(shape) * dtype size of them. */
export interface TorchTensorToWrite {
  readonly dtype: Dtype;
  readonly shape: readonly number[];
  readonly data: ArrayBufferView;
}

/** The values torch.save is given here (see the file header). */
export type PickleValue = null | boolean | number | bigint | string | TorchTensorToWrite | PyDict | readonly PickleValue[];

export interface TorchWriteOptions {
  /** The folder every entry lies in (torch uses the file's stem, or 'archive'). Default 'archive'. */
  archive?: string;
  /**
   * Sizes, offsets and counts from this value up are written as ZIP64 fields. Default 0xFFFFFFFF
   * (the classic fields' limit); tests lower it to check the ZIP64 layout without 4 GiB files.
   */
  zip64From?: number;
}

export interface EncodedTorchCheckpoint {
  /** The file's bytes in order: small headers, and the tensor data as views, not copies. */
  readonly chunks: readonly Uint8Array[];
  /** Total size of the file in bytes. */
  readonly byteLength: number;
  /** Number of tensors (storages) in the archive. */
  readonly tensorCount: number;
}

/** torch.<Name>Storage for each dtype: the inverse of the reader's table in torch-checkpoint.ts. */
const STORAGE_TYPES: Record<Dtype, string> = {
  F64: 'DoubleStorage', F32: 'FloatStorage', F16: 'HalfStorage', BF16: 'BFloat16Storage', I64: 'LongStorage',
  I32: 'IntStorage', I16: 'ShortStorage', I8: 'CharStorage', U8: 'ByteStorage', BOOL: 'BoolStorage',
};
/** Entry data start at multiples of this in the file, as torch aligns them (for mmap). */
const ALIGNMENT = 64;

const fail = (what: string) => new DnfError(`cannot write a PyTorch checkpoint: ${what}`);

/**
 * The object `torch.save` gets for a state dict: {key: OrderedDict(name -> tensor)} in the given
 * order, with '/' in `key` nesting plain dicts ('checkpoint/model'), or the bare OrderedDict for
 * key ''. Default key 'model' (the layout of the reference train.py).
 */
export function stateDictObject(tensors: readonly TensorToWrite[], key = 'model'): PyDict {
  const sd = new PyDict('collections.OrderedDict');
  for (const t of tensors) {
    if (sd.map.has(t.name)) throw fail(`tensor name ${JSON.stringify(t.name)} appears twice; give each tensor a distinct name`);
    sd.map.set(t.name, t);
  }
  if (key === '') return sd;
  const segments = key.split('/');
  if (segments.some((s) => s === '')) throw fail(`key ${JSON.stringify(key)} has an empty level; use names separated by single '/', or '' for a bare state dict`);
  let obj = sd;
  for (const seg of segments.reverse()) {
    const outer = new PyDict();
    outer.map.set(seg, obj);
    obj = outer;
  }
  return obj;
}

/** Lays out the zip archive of `torch.save(obj)`; throws a DnfError for a value it cannot pickle. */
export function encodeTorchCheckpoint(obj: PickleValue, opts: TorchWriteOptions = {}): EncodedTorchCheckpoint {
  const archive = opts.archive ?? 'archive';
  if (archive === '' || /[/\\]/.test(archive)) throw fail(`archive name ${JSON.stringify(archive)} must be a non-empty name without slashes`);
  const storages: Uint8Array[] = [];
  const pickle = pickleObject(obj, (t, at) => {
    storages.push(tensorBytes(t, at));
    return String(storages.length - 1);
  });
  const utf8 = new TextEncoder();
  const files: Array<{ name: string; data: Uint8Array }> = [
    { name: `${archive}/data.pkl`, data: pickle },
    { name: `${archive}/byteorder`, data: utf8.encode('little') },
    ...storages.map((data, i) => ({ name: `${archive}/data/${i}`, data })),
    { name: `${archive}/version`, data: utf8.encode('3\n') },
  ];
  return { ...zipStored(files, opts.zip64From ?? 0xffffffff), tensorCount: storages.length };
}

/** encodeTorchCheckpoint concatenated into one buffer; for small files (big ones: stream the chunks). */
export function serializeTorchCheckpoint(obj: PickleValue, opts: TorchWriteOptions = {}): Uint8Array {
  const { chunks, byteLength } = encodeTorchCheckpoint(obj, opts);
  const out = new Uint8Array(byteLength);
  let at = 0;
  for (const c of chunks) { out.set(c, at); at += c.byteLength; }
  return out;
}

/** A tensor's bytes, checked against its dtype and shape; `at` says where it is in the object. */
function tensorBytes(t: TorchTensorToWrite, at: string): Uint8Array {
  const shape = `[${t.shape.join(',')}]`;
  const what = `the tensor at ${at || 'the top level'}`;
  if (!Object.prototype.hasOwnProperty.call(STORAGE_TYPES, t.dtype)) throw fail(`${what} (shape ${shape}) has unsupported dtype ${JSON.stringify(t.dtype)} (known: ${Object.keys(STORAGE_TYPES).join(' ')})`);
  if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw fail(`${what} has shape ${shape}, not a list of non-negative integers`);
  const expected = numel(t.shape) * DTYPE_SIZES[t.dtype];
  if (t.data.byteLength !== expected) throw fail(`${what} of dtype ${t.dtype} and shape ${shape} needs ${expected} bytes but its data has ${t.data.byteLength}`);
  return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

/** Row-major strides as torch computes them for a contiguous tensor (a size-0 dim counts as 1). */
function contiguousStrides(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) { strides[i] = s; s *= Math.max(shape[i], 1); }
  return strides;
}

const isTensor = (v: unknown): v is TorchTensorToWrite =>
  typeof v === 'object' && v !== null && ArrayBuffer.isView((v as TorchTensorToWrite).data) && Array.isArray((v as TorchTensorToWrite).shape);

// ---------------------------------------------------------------------------------------------
// Pickle (protocol 2)

const OP = {
  PROTO: 0x80, STOP: 0x2e, NONE: 0x4e, NEWTRUE: 0x88, NEWFALSE: 0x89,
  BININT1: 0x4b, BININT2: 0x4d, BININT: 0x4a, LONG1: 0x8a, BINFLOAT: 0x47, BINUNICODE: 0x58,
  EMPTY_TUPLE: 0x29, TUPLE1: 0x85, TUPLE2: 0x86, TUPLE3: 0x87, MARK: 0x28, TUPLE: 0x74,
  EMPTY_DICT: 0x7d, SETITEM: 0x73, SETITEMS: 0x75, GLOBAL: 0x63, REDUCE: 0x52, BINPERSID: 0x51,
  BINPUT: 0x71, LONG_BINPUT: 0x72, BINGET: 0x68, LONG_BINGET: 0x6a,
} as const;
/** Items per SETITEMS, as Python's pickler batches them. */
const BATCH = 1000;

/** A growable byte buffer with the pickle's primitive encodings. */
class ByteWriter {
  private buf = new Uint8Array(4096);
  private view = new DataView(this.buf.buffer);
  length = 0;

  private reserve(n: number): number {
    if (this.length + n > this.buf.length) {
      const bigger = new Uint8Array(Math.max(this.buf.length * 2, this.length + n));
      bigger.set(this.buf.subarray(0, this.length));
      this.buf = bigger;
      this.view = new DataView(bigger.buffer);
    }
    this.length += n;
    return this.length - n;
  }
  // Each method reserves before touching buf or view: reserve() may replace both.
  u8(...bytes: number[]) { const at = this.reserve(bytes.length); this.buf.set(bytes, at); }
  u16(v: number) { const at = this.reserve(2); this.view.setUint16(at, v, true); }
  i32(v: number) { const at = this.reserve(4); this.view.setInt32(at, v, true); }
  u32(v: number) { const at = this.reserve(4); this.view.setUint32(at, v, true); }
  f64be(v: number) { const at = this.reserve(8); this.view.setFloat64(at, v, false); }
  bytes(b: Uint8Array) { const at = this.reserve(b.length); this.buf.set(b, at); }
  result(): Uint8Array { return this.buf.slice(0, this.length); }
}

/**
 * Pickles `obj`; each tensor's storage is named by `storageKey(tensor, where)`. Globals and strings
 * are memoized on first use and fetched with BINGET afterwards, as Python's pickler does.
 */
function pickleObject(obj: PickleValue, storageKey: (t: TorchTensorToWrite, at: string) => string): Uint8Array {
  const w = new ByteWriter();
  const memo = new Map<string, number>();
  const utf8 = new TextEncoder();

  /** Emits the value `emit` pushes, or a BINGET of the copy memoized under `id`. */
  const memoized = (id: string, emit: () => void) => {
    const slot = memo.get(id);
    if (slot !== undefined) {
      if (slot < 256) w.u8(OP.BINGET, slot); else { w.u8(OP.LONG_BINGET); w.u32(slot); }
      return;
    }
    emit();
    const i = memo.size;
    memo.set(id, i);
    if (i < 256) w.u8(OP.BINPUT, i); else { w.u8(OP.LONG_BINPUT); w.u32(i); }
  };
  const str = (s: string) => memoized(`s:${s}`, () => {
    const b = utf8.encode(s);
    w.u8(OP.BINUNICODE); w.u32(b.length); w.bytes(b);
  });
  const global = (module: string, name: string) => memoized(`g:${module}\n${name}`, () => {
    w.u8(OP.GLOBAL); w.bytes(utf8.encode(`${module}\n${name}\n`));
  });
  const int = (v: number | bigint) => {
    if (typeof v === 'number' && v >= 0 && v < 256) w.u8(OP.BININT1, v);
    else if (typeof v === 'number' && v >= 0 && v < 65536) { w.u8(OP.BININT2); w.u16(v); }
    else if (typeof v === 'number' && v >= -(2 ** 31) && v < 2 ** 31) { w.u8(OP.BININT); w.i32(v); }
    else {
      const b = longBytes(BigInt(v));
      if (b.length > 255) throw fail(`an integer of ${b.length} bytes is beyond what LONG1 holds`);
      w.u8(OP.LONG1, b.length); w.bytes(b);
    }
  };
  const tuple = (items: readonly unknown[], at: string) => {
    if (items.length === 0) { w.u8(OP.EMPTY_TUPLE); return; }
    if (items.length > 3) w.u8(OP.MARK);
    items.forEach((v, i) => value(v, `${at}[${i}]`));
    w.u8(items.length > 3 ? OP.TUPLE : [OP.TUPLE1, OP.TUPLE2, OP.TUPLE3][items.length - 1]);
  };
  const dict = (d: PyDict, at: string) => {
    if (d.className === 'collections.OrderedDict') { global('collections', 'OrderedDict'); w.u8(OP.EMPTY_TUPLE, OP.REDUCE); }
    else if (d.className === 'builtins.dict') w.u8(OP.EMPTY_DICT);
    else throw fail(`cannot pickle a ${printable(d.className)} at ${at || 'the top level'}; only dict and OrderedDict`);
    const items = [...d.map];
    for (let i = 0; i < items.length; i += BATCH) {
      const batch = items.slice(i, i + BATCH);
      if (batch.length > 1) w.u8(OP.MARK);
      for (const [k, v] of batch) {
        if (typeof k !== 'string') throw fail(`a dict key at ${at || 'the top level'} is ${typeof k}, not a string`);
        str(k);
        value(v, `${at}['${printable(k)}']`);
      }
      w.u8(batch.length > 1 ? OP.SETITEMS : OP.SETITEM);
    }
  };
  /** _rebuild_tensor_v2(storage, 0, size, stride, False, OrderedDict()) with storage as a persistent id. */
  const tensor = (t: TorchTensorToWrite, at: string) => {
    const key = storageKey(t, at);
    global('torch._utils', '_rebuild_tensor_v2');
    w.u8(OP.MARK, OP.MARK);
    str('storage');
    global('torch', STORAGE_TYPES[t.dtype]);
    str(key);
    str('cpu');
    int(numel(t.shape));
    w.u8(OP.TUPLE, OP.BINPERSID);
    int(0);
    tuple(t.shape, '');
    tuple(contiguousStrides(t.shape), '');
    w.u8(OP.NEWFALSE);
    global('collections', 'OrderedDict');
    w.u8(OP.EMPTY_TUPLE, OP.REDUCE, OP.TUPLE, OP.REDUCE);
  };
  const value = (v: unknown, at: string): void => {
    if (v === null) w.u8(OP.NONE);
    else if (typeof v === 'boolean') w.u8(v ? OP.NEWTRUE : OP.NEWFALSE);
    else if (typeof v === 'bigint' || (typeof v === 'number' && Number.isSafeInteger(v))) int(v);
    else if (typeof v === 'number') { w.u8(OP.BINFLOAT); w.f64be(v); }
    else if (typeof v === 'string') str(v);
    else if (Array.isArray(v)) tuple(v, at);
    else if (v instanceof PyDict) dict(v, at);
    else if (isTensor(v)) tensor(v, at);
    else throw fail(`cannot pickle ${v === undefined ? 'undefined' : typeof v === 'object' ? `a ${v.constructor?.name ?? 'object'}` : `a ${typeof v}`} at ${at || 'the top level'}; only dicts, tuples, str, int, float, bool, None and tensors`);
  };

  w.u8(OP.PROTO, 2);
  value(obj, '');
  w.u8(OP.STOP);
  return w.result();
}

/** Python's encode_long: the shortest little-endian two's complement bytes of `v` (LONG1). */
function longBytes(v: bigint): Uint8Array {
  const out: number[] = [];
  for (let x = v; ; x >>= 8n) {
    const b = Number(x & 0xffn);
    out.push(b);
    // Done once the rest is all sign: 0 with a clear top bit, or -1 with a set one.
    if ((x >> 8n === 0n && (b & 0x80) === 0) || (x >> 8n === -1n && (b & 0x80) !== 0)) break;
  }
  return Uint8Array.from(out);
}

// ---------------------------------------------------------------------------------------------
// Zip (STORED entries)

const SIG_LOCAL = 0x04034b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_EOCD = 0x06054b50;
const SIG_EOCD64 = 0x06064b50;
const SIG_EOCD64_LOCATOR = 0x07064b50;
/** Bit 11 of the general-purpose flags: names are UTF-8. */
const FLAG_UTF8 = 0x800;
/** "Version needed to extract": 2.0 for stored files, 4.5 where ZIP64 fields are used. */
const VERSION_PLAIN = 20;
const VERSION_ZIP64 = 45;
/** Padding extra field id "FB" (0x4246), the one torch pads entries with. */
const EXTRA_PADDING = 0x4246;
const EXTRA_ZIP64 = 0x0001;
/** DOS date 1980-01-01, time 00:00 (the earliest valid one; the checkpoint does not depend on when it was written). */
const DOS_DATE = 0x21;

interface Placed { name: Uint8Array; data: Uint8Array; crc: number; offset: number; header: number }

/** A zip of STORED entries: local header and data for each file, then the central directory. */
function zipStored(files: ReadonlyArray<{ name: string; data: Uint8Array }>, zip64From: number): { chunks: Uint8Array[]; byteLength: number } {
  const utf8 = new TextEncoder();
  const big = (v: number) => v >= zip64From;
  let offset = 0;
  const placed: Placed[] = files.map(({ name, data }) => {
    const n = utf8.encode(name);
    // Local header: 30 bytes, the name, a ZIP64 field (sizes) when needed, then padding to align the data.
    const fixed = 30 + n.length + (big(data.length) ? 20 : 0) + 4;
    const header = fixed + ((ALIGNMENT - ((offset + fixed) % ALIGNMENT)) % ALIGNMENT);
    const p = { name: n, data, crc: crc32(data), offset, header };
    offset += header + data.length;
    return p;
  });
  const central = centralDirectory(placed, offset, big, (count) => count >= Math.min(0xffff, zip64From));
  return {
    chunks: [...placed.flatMap((p) => [localHeader(p, big), p.data]), central],
    byteLength: offset + central.length,
  };
}

function localHeader(p: Placed, big: (v: number) => boolean): Uint8Array {
  const zip64 = big(p.data.length);
  const h = new Uint8Array(p.header);
  const v = new DataView(h.buffer);
  v.setUint32(0, SIG_LOCAL, true);
  v.setUint16(4, zip64 ? VERSION_ZIP64 : VERSION_PLAIN, true);
  v.setUint16(6, FLAG_UTF8, true);
  v.setUint16(8, 0, true); // STORED
  v.setUint16(10, 0, true);
  v.setUint16(12, DOS_DATE, true);
  v.setUint32(14, p.crc, true);
  v.setUint32(18, zip64 ? 0xffffffff : p.data.length, true);
  v.setUint32(22, zip64 ? 0xffffffff : p.data.length, true);
  v.setUint16(26, p.name.length, true);
  v.setUint16(28, p.header - 30 - p.name.length, true);
  h.set(p.name, 30);
  let e = 30 + p.name.length;
  if (zip64) { // in a local header the ZIP64 field holds both sizes
    v.setUint16(e, EXTRA_ZIP64, true);
    v.setUint16(e + 2, 16, true);
    v.setBigUint64(e + 4, BigInt(p.data.length), true);
    v.setBigUint64(e + 12, BigInt(p.data.length), true);
    e += 20;
  }
  v.setUint16(e, EXTRA_PADDING, true);
  v.setUint16(e + 2, p.header - e - 4, true);
  h.fill(0x5a, e + 4); // 'Z', as torch pads
  return h;
}

/**
 * The central directory and end records. A field that does not fit (by `big`, or `bigCount` for
 * the 16-bit entry counts) holds all ones, and its value moves to a ZIP64 field or end record.
 */
function centralDirectory(placed: readonly Placed[], cdOffset: number, big: (v: number) => boolean, bigCount: (n: number) => boolean): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const p of placed) {
    // ZIP64 extra: whichever of size, compressed size and offset overflow, in that order.
    const fields = [p.data.length, p.data.length, p.offset];
    const wide = fields.map(big);
    const extra = wide.some(Boolean) ? 4 + 8 * wide.filter(Boolean).length : 0;
    const h = new Uint8Array(46 + p.name.length + extra);
    const v = new DataView(h.buffer);
    v.setUint32(0, SIG_CENTRAL, true);
    v.setUint16(4, extra ? VERSION_ZIP64 : VERSION_PLAIN, true); // made by (MS-DOS attributes)
    v.setUint16(6, extra ? VERSION_ZIP64 : VERSION_PLAIN, true); // needed to extract
    v.setUint16(8, FLAG_UTF8, true);
    v.setUint16(10, 0, true); // STORED
    v.setUint16(14, DOS_DATE, true);
    v.setUint32(16, p.crc, true);
    v.setUint32(20, wide[1] ? 0xffffffff : p.data.length, true);
    v.setUint32(24, wide[0] ? 0xffffffff : p.data.length, true);
    v.setUint16(28, p.name.length, true);
    v.setUint16(30, extra, true);
    v.setUint32(42, wide[2] ? 0xffffffff : p.offset, true);
    h.set(p.name, 46);
    if (extra) {
      let e = 46 + p.name.length;
      v.setUint16(e, EXTRA_ZIP64, true);
      v.setUint16(e + 2, extra - 4, true);
      for (const [j, value] of fields.entries()) {
        if (wide[j]) { e += 8; v.setBigUint64(e - 4, BigInt(value), true); }
      }
    }
    parts.push(h);
  }
  const cdSize = parts.reduce((s, p) => s + p.length, 0);
  const count = placed.length;
  if (big(cdOffset) || big(cdSize) || bigCount(count)) parts.push(zip64End(count, cdSize, cdOffset));
  const end = new Uint8Array(22);
  const v = new DataView(end.buffer);
  v.setUint32(0, SIG_EOCD, true);
  v.setUint16(8, bigCount(count) ? 0xffff : count, true);
  v.setUint16(10, bigCount(count) ? 0xffff : count, true);
  v.setUint32(12, big(cdSize) ? 0xffffffff : cdSize, true);
  v.setUint32(16, big(cdOffset) ? 0xffffffff : cdOffset, true);
  parts.push(end);
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

/** The ZIP64 end-of-central-directory record (56 bytes) and its locator (20 bytes). */
function zip64End(count: number, cdSize: number, cdOffset: number): Uint8Array {
  const out = new Uint8Array(56 + 20);
  const v = new DataView(out.buffer);
  v.setUint32(0, SIG_EOCD64, true);
  v.setBigUint64(4, 44n, true); // size of the rest of the record
  v.setUint16(12, VERSION_ZIP64, true);
  v.setUint16(14, VERSION_ZIP64, true);
  v.setBigUint64(24, BigInt(count), true);
  v.setBigUint64(32, BigInt(count), true);
  v.setBigUint64(40, BigInt(cdSize), true);
  v.setBigUint64(48, BigInt(cdOffset), true);
  v.setUint32(56, SIG_EOCD64_LOCATOR, true);
  v.setBigUint64(64, BigInt(cdOffset + cdSize), true); // where the ZIP64 record starts
  v.setUint32(72, 1, true); // total number of disks
  return out;
}

// ---------------------------------------------------------------------------------------------
// CRC-32 (the zip / PNG polynomial 0xEDB88320), slicing by 4 bytes

let CRC_TABLES: Uint32Array[] | undefined;
function crcTables(): Uint32Array[] {
  if (!CRC_TABLES) {
    const t = Array.from({ length: 4 }, () => new Uint32Array(256));
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      t[0][n] = c >>> 0;
    }
    for (let n = 0; n < 256; n++) for (let k = 1; k < 4; k++) t[k][n] = (t[0][t[k - 1][n] & 0xff] ^ (t[k - 1][n] >>> 8)) >>> 0;
    CRC_TABLES = t;
  }
  return CRC_TABLES;
}

/** CRC-32 of `bytes`, as zip records it. */
export function crc32(bytes: Uint8Array): number {
  const [t0, t1, t2, t3] = crcTables();
  let c = 0xffffffff;
  let i = 0;
  for (const end4 = bytes.length & ~3; i < end4; i += 4) {
    c ^= bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24);
    c = t3[c & 0xff] ^ t2[(c >>> 8) & 0xff] ^ t1[(c >>> 16) & 0xff] ^ t0[c >>> 24];
  }
  for (; i < bytes.length; i++) c = t0[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
