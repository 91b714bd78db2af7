// Writers of the weights formats at the level of their bytes: pickle opcodes, torch.save's legacy
// layout, ZIP archives (stored or deflated entries, with the offsets of every header field so that
// they can be changed afterwards) and safetensors files from a header object. They build the hostile
// files of tools/hostile/weights.mjs and the inputs of the fuzzers in test/fuzz/; nothing here checks
// what it is given, since malformed files are the point.
import { constants as zlibConstants, deflateRawSync } from 'node:zlib';

const utf8 = new TextEncoder();

/** Pickle opcodes by name (protocols 0-5), as in CPython's pickle.py. */
export const OP = {
  MARK: 0x28, STOP: 0x2e, POP: 0x30, POP_MARK: 0x31, DUP: 0x32, FLOAT: 0x46, INT: 0x49, BININT: 0x4a,
  BININT1: 0x4b, LONG: 0x4c, BININT2: 0x4d, NONE: 0x4e, PERSID: 0x50, BINPERSID: 0x51, REDUCE: 0x52,
  STRING: 0x53, BINSTRING: 0x54, SHORT_BINSTRING: 0x55, UNICODE: 0x56, BINUNICODE: 0x58, APPEND: 0x61,
  BUILD: 0x62, GLOBAL: 0x63, DICT: 0x64, EMPTY_DICT: 0x7d, APPENDS: 0x65, GET: 0x67, BINGET: 0x68,
  INST: 0x69, LONG_BINGET: 0x6a, LIST: 0x6c, EMPTY_LIST: 0x5d, OBJ: 0x6f, PUT: 0x70, BINPUT: 0x71,
  LONG_BINPUT: 0x72, SETITEM: 0x73, TUPLE: 0x74, EMPTY_TUPLE: 0x29, SETITEMS: 0x75, BINFLOAT: 0x47,
  PROTO: 0x80, NEWOBJ: 0x81, EXT1: 0x82, EXT2: 0x83, EXT4: 0x84, TUPLE1: 0x85, TUPLE2: 0x86,
  TUPLE3: 0x87, NEWTRUE: 0x88, NEWFALSE: 0x89, LONG1: 0x8a, LONG4: 0x8b, BINBYTES: 0x42,
  SHORT_BINBYTES: 0x43, SHORT_BINUNICODE: 0x8c, BINUNICODE8: 0x8d, BINBYTES8: 0x8e, EMPTY_SET: 0x8f,
  ADDITEMS: 0x90, FROZENSET: 0x91, NEWOBJ_EX: 0x92, STACK_GLOBAL: 0x93, MEMOIZE: 0x94, FRAME: 0x95,
  BYTEARRAY8: 0x96, NEXT_BUFFER: 0x97, READONLY_BUFFER: 0x98,
};

/** Concatenates byte arrays. */
export function concat(parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

const u32le = (n) => { const b = new Uint8Array(4); new DataView(b.buffer).setUint32(0, n >>> 0, true); return b; };
const u64le = (n) => { const b = new Uint8Array(8); new DataView(b.buffer).setBigUint64(0, BigInt(n), true); return b; };

/** Little-endian two's-complement bytes of a BigInt, as LONG1/LONG4 store it (shortest form). */
export function longBytes(v) {
  v = BigInt(v);
  if (v === 0n) return new Uint8Array(0);
  const out = [];
  let x = v;
  for (;;) {
    out.push(Number(x & 0xffn));
    x >>= 8n;
    if ((x === 0n && !(out[out.length - 1] & 0x80)) || (x === -1n && (out[out.length - 1] & 0x80))) break;
  }
  return Uint8Array.from(out);
}

/** A pickle written opcode by opcode into one growing buffer; every method returns `this`. */
export class Pickle {
  constructor() { this.buf = new Uint8Array(256); this.length = 0; }
  /** Appends bytes: numbers (one byte each) and Uint8Arrays. */
  raw(...bytes) {
    for (const b of bytes) {
      const n = typeof b === 'number' ? 1 : b.length;
      if (this.length + n > this.buf.length) {
        const grown = new Uint8Array(Math.max(2 * this.buf.length, this.length + n));
        grown.set(this.buf.subarray(0, this.length));
        this.buf = grown;
      }
      if (typeof b === 'number') this.buf[this.length] = b; else this.buf.set(b, this.length);
      this.length += n;
    }
    return this;
  }
  op(code) { return this.raw(code); }
  proto(p = 2) { return this.raw(OP.PROTO, p); }
  stop() { return this.op(OP.STOP); }
  none() { return this.op(OP.NONE); }
  bool(b) { return this.op(b ? OP.NEWTRUE : OP.NEWFALSE); }
  /** The shortest integer opcode for `v` (BININT1/2, BININT, LONG1). */
  int(v) {
    if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < 256) return this.raw(OP.BININT1, v);
    if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < 65536) return this.raw(OP.BININT2, v & 255, v >> 8);
    if (typeof v === 'number' && Number.isInteger(v) && v >= -(2 ** 31) && v < 2 ** 31) return this.raw(OP.BININT, u32le(v));
    const b = longBytes(v);
    return b.length < 256 ? this.raw(OP.LONG1, b.length, b) : this.raw(OP.LONG4, u32le(b.length), b);
  }
  long4(bytes) { return this.raw(OP.LONG4, u32le(bytes.length), bytes); }
  float(f) { const b = new Uint8Array(8); new DataView(b.buffer).setFloat64(0, f, false); return this.raw(OP.BINFLOAT, b); }
  str(s) {
    const b = utf8.encode(s);
    return b.length < 256 ? this.raw(OP.SHORT_BINUNICODE, b.length, b) : this.raw(OP.BINUNICODE, u32le(b.length), b);
  }
  bytes(b) { return b.length < 256 ? this.raw(OP.SHORT_BINBYTES, b.length, b) : this.raw(OP.BINBYTES, u32le(b.length), b); }
  /** A protocol 0 text opcode: `code` followed by `text` and a newline. */
  line(code, text) { return this.raw(code, utf8.encode(`${text}\n`)); }
  global(module, name) { return this.raw(OP.GLOBAL, utf8.encode(`${module}\n${name}\n`)); }
  mark() { return this.op(OP.MARK); }
  put(i) { return i < 256 ? this.raw(OP.BINPUT, i) : this.raw(OP.LONG_BINPUT, u32le(i)); }
  get(i) { return i < 256 ? this.raw(OP.BINGET, i) : this.raw(OP.LONG_BINGET, u32le(i)); }
  /** A tuple of the values pushed by `fill(this)`. */
  tuple(fill) { this.mark(); fill(this); return this.op(OP.TUPLE); }
  /** A call of module.name with the arguments pushed by `args(this)`. */
  call(module, name, args) { this.global(module, name); this.tuple(args); return this.op(OP.REDUCE); }
  /** An empty OrderedDict, as torch pickles one. */
  orderedDict() { return this.global('collections', 'OrderedDict').op(OP.EMPTY_TUPLE).op(OP.REDUCE); }
  /**
   * A tensor as torch.save pickles it: _rebuild_tensor_v2(storage, offset, size, stride, False,
   * OrderedDict()), the storage a persistent id ('storage', torch.<type>, key, 'cpu', numel).
   */
  tensor({ key, type = 'FloatStorage', numel, shape, stride, offset = 0 }) {
    stride ??= shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
    return this.call('torch._utils', '_rebuild_tensor_v2', (p) => {
      p.tuple((q) => q.str('storage').global('torch', type).str(key).str('cpu').int(numel)).op(OP.BINPERSID);
      p.int(offset).tuple((q) => shape.forEach((d) => q.int(d))).tuple((q) => stride.forEach((d) => q.int(d)));
      p.bool(false).orderedDict();
    });
  }
  /** A dict of the entries pushed by `fill(this)` (key, value, key, value, ...). */
  dict(fill, ordered = false) {
    if (ordered) this.orderedDict(); else this.op(OP.EMPTY_DICT);
    this.mark(); fill(this); return this.op(OP.SETITEMS);
  }
  list(fill) { this.op(OP.EMPTY_LIST).mark(); fill(this); return this.op(OP.APPENDS); }
  toBytes() { return this.buf.slice(0, this.length); }
}

/** A whole pickle: PROTO 2, the value pushed by `fill`, STOP. */
export function pickle(fill, proto = 2) {
  const p = new Pickle().proto(proto);
  fill(p);
  return p.stop().toBytes();
}

/** The magic number that starts a legacy torch.save file. */
export const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;

/**
 * torch.save's legacy layout (`_use_new_zipfile_serialization=False`): pickles of the magic number,
 * protocol version 1001 and sys_info, the object pickle `object`, the list of storage keys, then
 * each storage as an 8-byte little-endian element count and its bytes. Any part can be replaced.
 */
export function legacyCheckpoint(object, storages, parts = {}) {
  const magic = parts.magic ?? pickle((p) => p.int(LEGACY_MAGIC));
  const version = parts.version ?? pickle((p) => p.int(1001));
  const sysInfo = parts.sysInfo ?? pickle((p) => p.dict((q) => q.str('protocol_version').int(1001).str('little_endian').bool(true)));
  const keys = parts.keys ?? pickle((p) => p.list((q) => storages.forEach((s) => q.str(s.key))));
  const data = storages.flatMap((s) => [u64le(s.numel ?? s.bytes.length / (s.elementSize ?? 4)), s.bytes]);
  return concat([magic, version, sysInfo, object, keys, ...data]);
}

/** CRC-32 (IEEE), as ZIP stores it. */
export function crc32(bytes) {
  let c = ~0;
  for (let i = 0; i < bytes.length; i++) {
    c ^= bytes[i];
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return ~c >>> 0;
}

/**
 * A ZIP archive of `files` ({name, data, method: 0 (stored, default) or 8 (deflate), size: the
 * uncompressed size to declare, default data.length}), classic (non-ZIP64) records. Returns the
 * bytes and `fields`: for each entry the absolute offsets of its local header and central
 * directory entry, and of the end record, so that a caller can change any field afterwards.
 */
export function zipArchive(files) {
  const parts = [];
  let at = 0;
  const push = (b) => { parts.push(b); at += b.length; };
  const entries = [];
  for (const f of files) {
    const name = utf8.encode(f.name);
    const method = f.method ?? 0;
    const body = method === 8 ? (f.compressed ?? deflateRawSync(f.data)) : f.data;
    const size = f.size ?? f.data.length;
    const h = new Uint8Array(30);
    const v = new DataView(h.buffer);
    v.setUint32(0, 0x04034b50, true); v.setUint16(4, 20, true); v.setUint16(8, method, true);
    v.setUint32(14, crc32(f.data), true); v.setUint32(18, body.length, true); v.setUint32(22, size >>> 0, true);
    v.setUint16(26, name.length, true);
    entries.push({ name: f.name, local: at, method, crc: crc32(f.data), compressed: body.length, size, nameBytes: name });
    push(h); push(name); push(body);
  }
  const cdStart = at;
  for (const e of entries) {
    const c = new Uint8Array(46);
    const v = new DataView(c.buffer);
    v.setUint32(0, 0x02014b50, true); v.setUint16(4, 20, true); v.setUint16(6, 20, true); v.setUint16(10, e.method, true);
    v.setUint32(16, e.crc, true); v.setUint32(20, e.compressed, true); v.setUint32(24, e.size >>> 0, true);
    v.setUint16(28, e.nameBytes.length, true); v.setUint32(42, e.local, true);
    e.central = at;
    push(c); push(e.nameBytes);
  }
  const eocd = new Uint8Array(22);
  const v = new DataView(eocd.buffer);
  v.setUint32(0, 0x06054b50, true); v.setUint16(8, entries.length, true); v.setUint16(10, entries.length, true);
  v.setUint32(12, at - cdStart, true); v.setUint32(16, cdStart, true);
  const end = at;
  push(eocd);
  return { bytes: concat(parts), fields: { entries, centralDirectory: cdStart, end } };
}

/** A torch.save zip checkpoint: `<archive>/data.pkl`, the storages under data/, version, byteorder. */
export function zipCheckpoint(dataPkl, storages, { archive = 'archive', method = 0 } = {}) {
  return zipArchive([
    { name: `${archive}/data.pkl`, data: dataPkl, method },
    { name: `${archive}/byteorder`, data: utf8.encode('little') },
    ...storages.map((s) => ({ name: `${archive}/data/${s.key}`, data: s.bytes, method: s.method ?? method, size: s.size, compressed: s.compressed })),
    { name: `${archive}/version`, data: utf8.encode('3\n') },
  ]);
}

/**
 * A safetensors file from a header value (any JSON value: malformed ones are the point) and the
 * data that follows it. `headerText` overrides the JSON text; `length` the declared header size.
 */
export function safetensorsFile(header, data = new Uint8Array(0), { headerText, length } = {}) {
  const json = utf8.encode(headerText ?? JSON.stringify(header));
  const prefix = u64le(length ?? json.length);
  return concat([prefix, json, data]);
}

/**
 * A raw DEFLATE stream of `mib` MiB of zeros, made without compressing them all: one MiB deflated
 * up to a full flush (which resets the compressor, so every copy is the same), repeated, then an
 * empty final block.
 */
export function deflatedZeros(mib) {
  const chunk = deflateRawSync(new Uint8Array(1 << 20), { finishFlush: zlibConstants.Z_FULL_FLUSH });
  return concat([...new Array(mib).fill(chunk), Uint8Array.of(0x03, 0x00)]);
}
