/**
 * Reads PyTorch checkpoints (.pth/.pt/.ckpt) without running any of their code, in Node and in
 * browsers alike (everything goes through a random-access ByteSource).
 *
 * Two container formats exist:
 * - zip (torch.save since PyTorch 1.6): `<prefix>/data.pkl` is the pickle; storage `k` is the
 *   entry `<prefix>/data/k`; `<prefix>/byteorder` says 'little' or 'big' (absent: little).
 * - legacy (`_use_new_zipfile_serialization=False`, and everything before 1.6): five pickles in a
 *   row (magic number 0x1950a86a20f9469cfc6c, protocol version 1001, sys_info, the object, the
 *   list of storage keys), then for each key in that list an 8-byte element count followed by the
 *   storage's raw bytes.
 * In both, a tensor is `_rebuild_tensor_v2(storage, offset, size, stride, ...)`, where the storage is
 * a persistent id ('storage', <dtype>Storage, key, location, numel[, view]). Tensors are references
 * (TorchTensorRef) until read; several may share one storage, at offsets, with any strides.
 *
 * The pickle is interpreted by the restricted unpickler in pickle.ts; see its header for the policy
 * on globals. extractStateDict (convert.ts) then finds the model's weights in the object.
 */
import { DnfError } from '../errors.js';
import { Callable, PickleTruncated, PyDict, describe, unpickle, type GlobalDef } from './pickle.js';
import { clipText, dims, integerText, printable } from './printable.js';
import { DTYPE_SIZES, type ByteSource, type Dtype } from './safetensors.js';
import { ZipReader, looksLikeZip, type ZipEntry } from './zip.js';

export type TorchFormat = 'zip' | 'legacy';

/** A storage: a flat run of `byteLength` bytes, `byteOffset` into the data saved under `key`. */
export class TorchStorage {
  constructor(
    readonly key: string,
    /** The element type the storage was saved with (U8 for untyped storages). */
    readonly dtype: Dtype,
    readonly byteOffset: number,
    readonly byteLength: number,
  ) {}
}

/** A tensor not yet read: a strided view of a storage (offset and strides in elements of `dtype`). */
export class TorchTensorRef {
  constructor(
    readonly storage: TorchStorage,
    readonly dtype: Dtype,
    readonly shape: readonly number[],
    readonly strides: readonly number[],
    readonly storageOffset: number,
  ) {}

  get numel(): number {
    return this.shape.reduce((a, b) => a * b, 1);
  }
}

/** A storage type such as torch.FloatStorage, as it appears in persistent ids. */
class StorageType { constructor(readonly dtype: Dtype) {} }
/** A dtype such as torch.float16, as passed to _rebuild_tensor_v3. */
class TorchDtype { constructor(readonly dtype: Dtype) {} }

const STORAGE_DTYPES: Record<string, Dtype> = {
  FloatStorage: 'F32', DoubleStorage: 'F64', HalfStorage: 'F16', BFloat16Storage: 'BF16', LongStorage: 'I64',
  IntStorage: 'I32', ShortStorage: 'I16', CharStorage: 'I8', ByteStorage: 'U8', BoolStorage: 'BOOL',
};
const TORCH_DTYPES: Record<string, Dtype> = {
  float32: 'F32', float: 'F32', float64: 'F64', double: 'F64', float16: 'F16', half: 'F16', bfloat16: 'BF16',
  int64: 'I64', long: 'I64', int32: 'I32', int: 'I32', int16: 'I16', short: 'I16', int8: 'I8', uint8: 'U8', bool: 'BOOL',
};
/** Tensors beyond this many bytes are refused (JS typed arrays are limited to about this). */
const MAX_TENSOR_BYTES = 2 ** 32;
/** Views that repeat elements (stride 0, overlapping strides) may not expand a storage beyond this. */
const MAX_EXPANDED_BYTES = 2 ** 26;
/** The legacy format's pickles are read in growing chunks up to this size (real ones: a few MB). */
const MAX_PICKLE_BYTES = 1 << 28;
/**
 * A zip storage entry may be this much larger than the storage its persistent id declares (torch
 * writes exactly the storage's bytes): more is a damaged or hostile size, refused before any of it
 * is read or inflated.
 */
const STORAGE_SLACK_BYTES = 4096;
/** The byteorder entry holds 'little' or 'big'. */
const MAX_BYTEORDER_BYTES = 16;
const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;

/** The allow-list of torch globals (pickle.ts adds OrderedDict, _codecs.encode, set, bytes). */
function torchGlobals(name: string): Map<string, GlobalDef> {
  const g = new Map<string, GlobalDef>();
  for (const [cls, dtype] of Object.entries(STORAGE_DTYPES)) {
    g.set(`torch.${cls}`, { value: new StorageType(dtype) });
    g.set(`torch.cuda.${cls}`, { value: new StorageType(dtype) }); // legacy files saved from a GPU
  }
  g.set('torch.storage.UntypedStorage', { value: new StorageType('U8') });
  g.set('torch.UntypedStorage', { value: new StorageType('U8') });
  for (const [n, dtype] of Object.entries(TORCH_DTYPES)) g.set(`torch.${n}`, { value: new TorchDtype(dtype) });
  const rebuild = (args: unknown[], dtypeArg?: unknown) => makeTensor(name, args, dtypeArg);
  g.set('torch._utils._rebuild_tensor', { call: (a) => rebuild(a) });
  g.set('torch._utils._rebuild_tensor_v2', { call: (a) => rebuild(a) });
  g.set('torch._utils._rebuild_tensor_v3', { call: (a) => rebuild(a, a[6]) });
  // Parameters wrap a tensor; requires_grad, hooks and extra state do not matter for weights.
  const param = (a: unknown[]) => {
    if (!(a[0] instanceof TorchTensorRef)) throw new Error(`a parameter of ${describe(a[0])}`);
    return a[0];
  };
  g.set('torch._utils._rebuild_parameter', { call: param });
  g.set('torch._utils._rebuild_parameter_with_state', { call: param });
  // PyTorch 2 wraps tensors that carry Python attributes: (func, type, args, state) -> func(*args).
  // Only tensor rebuilders may be wrapped: they check their arguments' sizes before walking them.
  g.set('torch._tensor._rebuild_from_type_v2', {
    call: (a) => {
      if (!(a[0] instanceof Callable) || !a[0].qualname.startsWith('torch._utils._rebuild_') || !Array.isArray(a[2])) {
        throw new Error(`_rebuild_from_type_v2 of ${a[0] instanceof Callable ? printable(a[0].qualname) : describe(a[0])}`);
      }
      return a[0].call(a[2]);
    },
  });
  g.set('torch.Size', { call: (a) => (Array.isArray(a[0]) ? [...a[0]] : []) });
  return g;
}

const isIndex = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/** _rebuild_tensor{,_v2,_v3}(storage, storage_offset, size, stride, ...): validated against the storage. */
function makeTensor(name: string, args: unknown[], dtypeArg?: unknown): TorchTensorRef {
  const [storage, offset, shape, strides] = args;
  if (!(storage instanceof TorchStorage)) throw new Error(`a tensor over ${describe(storage)}, not a storage`);
  if (dtypeArg !== undefined && !(dtypeArg instanceof TorchDtype)) throw new Error(`a tensor of dtype ${describe(dtypeArg)}`);
  const dtype = dtypeArg instanceof TorchDtype ? dtypeArg.dtype : storage.dtype;
  if (!isIndex(offset) || !Array.isArray(shape) || !Array.isArray(strides) || shape.length !== strides.length ||
      shape.length > 64 || !shape.every(isIndex) || !strides.every(isIndex)) {
    const show = (v: unknown) => (Array.isArray(v) ? dims(v) : describe(v));
    throw new Error(`a tensor with offset ${describe(offset)}, size ${show(shape)} and stride ${show(strides)}`);
  }
  const t = new TorchTensorRef(storage, dtype, shape as number[], strides as number[], offset);
  const es = DTYPE_SIZES[dtype];
  const n = t.numel;
  const end = n === 0 ? 0 : (offset + shape.reduce((s: number, d: number, i) => s + (d - 1) * (strides[i] as number), 0) + 1) * es;
  if (!Number.isSafeInteger(n * es) || n * es > MAX_TENSOR_BYTES) {
    throw new DnfError(`${name}: a tensor of shape ${dims(shape)} exceeds the 4 GiB limit per tensor; split it or re-save it in smaller pieces`);
  }
  if (n * es > Math.max(end - offset * es, MAX_EXPANDED_BYTES)) {
    throw new DnfError(`${name}: a tensor of shape ${dims(shape)} with stride ${dims(strides)} repeats its elements into ${n * es} bytes, beyond the 64 MiB limit for such views; the file is damaged or hostile`);
  }
  if (!Number.isSafeInteger(end) || end > storage.byteLength) {
    throw new DnfError(`${name}: a tensor of shape ${dims(shape)}, stride ${dims(strides)} and offset ${offset} needs ${end} bytes but its storage '${printable(storage.key)}' holds ${storage.byteLength}; the file is damaged, so re-download it`);
  }
  return t;
}

/** An opened checkpoint: the unpickled object, and tensor data read on demand. */
export class TorchCheckpoint {
  /** Internal: use TorchCheckpoint.open (or readTorchCheckpoint). */
  constructor(
    readonly source: ByteSource,
    readonly format: TorchFormat,
    /** The unpickled object: PyDict, arrays, TorchTensorRef, PyOpaque, ... (see pickle.ts). */
    readonly root: unknown,
    /** Reads `length` bytes at `offset` of the data saved under a storage key. */
    private readonly readKey: (key: string, offset: number, length: number) => Promise<Uint8Array>,
    private readonly bigEndian: boolean,
  ) {}

  /** Opens a zip or legacy checkpoint and unpickles it; tensor data is not read yet. */
  static async open(src: ByteSource): Promise<TorchCheckpoint> {
    if (src.size === 0) throw new DnfError(`${src.name}: the file is empty; re-download it`);
    const head = await src.read(0, Math.min(src.size, 512));
    if (looksLikeZip(head)) return openZip(src);
    if (head[0] === 0x80) return openLegacy(src);
    // The pre-1.0 tar container ("ustar" at byte 257) and anything else are not checkpoints we read.
    const tar = head.length >= 262 && String.fromCharCode(...head.subarray(257, 262)) === 'ustar';
    throw new DnfError(tar
      ? `${src.name}: is a checkpoint in PyTorch's pre-1.0 tar format; load it once with torch.load and re-save it with torch.save`
      : `${src.name}: is not a PyTorch checkpoint (neither a torch.save zip archive nor a legacy pickle); check the path`);
  }

  /** A tensor's elements, contiguous (row-major) and little-endian, in its own dtype. */
  async readBytes(t: TorchTensorRef): Promise<Uint8Array> {
    const es = DTYPE_SIZES[t.dtype];
    const n = t.numel;
    if (n === 0) return new Uint8Array(0);
    const last = t.storageOffset + t.shape.reduce((s, d, i) => s + (d - 1) * t.strides[i], 0);
    const raw = await this.readKey(t.storage.key, t.storage.byteOffset + t.storageOffset * es, (last - t.storageOffset + 1) * es);
    // A copy of its own either way (the source's bytes may be a view: a Node Buffer's slice() is one).
    const out = isContiguous(t) ? new Uint8Array(raw.subarray(0, n * es)) : gather(t, raw, es);
    if (this.bigEndian && es > 1) for (let i = 0; i < out.length; i += es) out.subarray(i, i + es).reverse();
    return out;
  }
}

/** Shorthand for TorchCheckpoint.open. */
export function readTorchCheckpoint(src: ByteSource): Promise<TorchCheckpoint> {
  return TorchCheckpoint.open(src);
}

async function openZip(src: ByteSource): Promise<TorchCheckpoint> {
  const zip = await ZipReader.open(src);
  // The pickle is '<prefix>/data.pkl' with a one-folder prefix (the file's stem, or 'archive').
  const pkls = [...zip.entries.keys()].filter((n) => /^[^/]*\/?data\.pkl$/.test(n));
  if (pkls.length !== 1) {
    const jit = [...zip.entries.keys()].some((n) => /(^|\/)(constants\.pkl|code\/)/.test(n));
    throw new DnfError(jit
      ? `${src.name}: is a TorchScript archive (torch.jit.save), not a state dict; save model.state_dict() with torch.save instead`
      : `${src.name}: is a ZIP archive but not a torch.save checkpoint (${pkls.length ? 'several' : 'no'} data.pkl entries); check the path`);
  }
  const prefix = pkls[0].slice(0, -'data.pkl'.length);
  const name = `${src.name} (${printable(pkls[0])})`;
  const byteorder = zip.entries.get(`${prefix}byteorder`);
  if (byteorder && byteorder.size > MAX_BYTEORDER_BYTES) throw new DnfError(`${src.name}: its byteorder entry holds ${byteorder.size} bytes, not 'little' or 'big'; the file is damaged, so re-save the checkpoint`);
  const order = byteorder ? new TextDecoder().decode(await zip.read(byteorder)).trim() : 'little';
  if (order !== 'little' && order !== 'big') throw new DnfError(`${name}: unknown byte order '${clipText(order, 20)}'; re-save the checkpoint`);

  const storages = new Map<string, { storage: TorchStorage; entry: ZipEntry }>();
  const persistentLoad = (pid: unknown): TorchStorage => {
    if (!Array.isArray(pid) || pid[0] !== 'storage' || pid.length < 5) throw new DnfError(`${name}: unknown persistent id ${describe(pid)}; only tensors can be read`);
    const [, type, key, , numel] = pid;
    if (!(type instanceof StorageType) || typeof key !== 'string' || !isIndex(numel)) {
      throw new DnfError(`${name}: malformed storage reference (${describe(type)}, ${describe(key)}, ${describe(numel)}); the file is damaged`);
    }
    const known = storages.get(key);
    if (known) return known.storage;
    const entry = zip.entries.get(`${prefix}data/${key}`);
    const bytes = numel * DTYPE_SIZES[type.dtype];
    if (!entry || entry.size < bytes) {
      throw new DnfError(`${src.name}: storage '${printable(key)}' ${entry ? `holds ${entry.size} of its ${bytes} bytes` : 'is missing from the archive'}; the file is truncated or damaged, so re-download it`);
    }
    if (entry.size > bytes + STORAGE_SLACK_BYTES) {
      throw new DnfError(`${src.name}: storage '${printable(key)}' declares ${entry.size} bytes in the archive for ${bytes} bytes of data; the file is damaged or hostile, so re-download it`);
    }
    const storage = new TorchStorage(key, type.dtype, 0, bytes);
    storages.set(key, { storage, entry });
    return storage;
  };
  const pkl = zip.entries.get(pkls[0])!;
  if (pkl.size > MAX_PICKLE_BYTES) throw new DnfError(`${name}: a pickle of ${pkl.size} bytes exceeds the 256 MiB limit; this is not a state dict of tensors`);
  const { value } = unpickle(await zip.read(pkl), { name, globals: torchGlobals(name), persistentLoad });
  return new TorchCheckpoint(src, 'zip', value,
    (key, off, len) => zip.read(storages.get(key)!.entry, off, len), order === 'big');
}

async function openLegacy(src: ByteSource): Promise<TorchCheckpoint> {
  const name = src.name;
  // The pickles' total length is unknown up front: read a chunk, and a bigger one if a pickle is cut.
  let chunk = Math.min(src.size, 1 << 20);
  for (;;) {
    const data = await src.read(0, chunk);
    try {
      return await parseLegacy(src, data);
    } catch (e) {
      if (!(e instanceof PickleTruncated) || chunk === src.size) throw e;
      if (chunk >= MAX_PICKLE_BYTES) throw new DnfError(`${name}: its pickles exceed the 256 MiB limit; this is not a state dict of tensors`);
      chunk = Math.min(src.size, chunk * 4);
    }
  }
}

async function parseLegacy(src: ByteSource, data: Uint8Array): Promise<TorchCheckpoint> {
  const name = src.name;
  const plain = { name }; // the first pickles need no torch globals and no persistent ids
  const magic = unpickle(data, plain);
  if (magic.value !== LEGACY_MAGIC) {
    throw new DnfError(`${name}: is a pickle but not a PyTorch checkpoint (no torch.save magic number); check the path`);
  }
  const proto = unpickle(data, plain, magic.end);
  if (proto.value !== 1001) throw new DnfError(`${name}: legacy checkpoint of unsupported protocol version ${describe(proto.value)}; re-save it with torch.save`);
  const sys = unpickle(data, plain, proto.end);
  const littleEndian = !(sys.value instanceof PyDict) || sys.value.map.get('little_endian') !== false;

  const roots = new Map<string, TorchStorage>(); // root storages by key
  const persistentLoad = (pid: unknown): unknown => {
    if (Array.isArray(pid) && pid[0] === 'module') {
      throw new DnfError(`${name}: is a whole pickled model (torch.save(model)), which cannot be read without running its code; in Python, save model.state_dict() with torch.save`);
    }
    if (!Array.isArray(pid) || pid[0] !== 'storage' || pid.length < 5) throw new DnfError(`${name}: unknown persistent id ${describe(pid)}; only tensors can be read`);
    const [, type, key, , numel, view] = pid;
    if (!(type instanceof StorageType) || typeof key !== 'string' || !isIndex(numel)) {
      throw new DnfError(`${name}: malformed storage reference (${describe(type)}, ${describe(key)}, ${describe(numel)}); the file is damaged`);
    }
    const es = DTYPE_SIZES[type.dtype];
    let root = roots.get(key);
    if (!root) roots.set(key, root = new TorchStorage(key, type.dtype, 0, numel * es));
    if (view === null || view === undefined) return root;
    // Pre-1.0 storage views: (view_key, offset, size) in elements of the root storage.
    const [, off, size] = Array.isArray(view) ? view : [];
    if (!isIndex(off) || !isIndex(size) || (off + size) * es > root.byteLength) throw new DnfError(`${name}: malformed storage view; the file is damaged`);
    return new TorchStorage(key, root.dtype, off * es, size * es);
  };
  const main = unpickle(data, { name, globals: torchGlobals(name), persistentLoad }, sys.end);
  const keys = unpickle(data, plain, main.end);
  if (!Array.isArray(keys.value) || !keys.value.every((k) => typeof k === 'string')) {
    throw new DnfError(`${name}: the list of storage keys is ${describe(keys.value)}; the file is damaged`);
  }

  // Storage data follows in the order of the key list: an 8-byte element count, then the bytes.
  const starts = new Map<string, number>();
  let pos = keys.end;
  for (const key of keys.value as string[]) {
    const root = roots.get(key);
    if (!root) throw new DnfError(`${name}: storage '${printable(key)}' is listed but never used; the file is damaged`);
    if (starts.has(key)) throw new DnfError(`${name}: storage '${printable(key)}' is listed twice; the file is damaged`);
    if (pos + 8 > src.size) throw truncated(name, key);
    const countBytes = await src.read(pos, 8);
    const count = new DataView(countBytes.buffer, countBytes.byteOffset, 8).getBigUint64(0, littleEndian);
    const es = DTYPE_SIZES[root.dtype];
    if (count !== BigInt(root.byteLength / es)) {
      throw new DnfError(`${name}: storage '${printable(key)}' has ${integerText(count)} elements in the data but ${root.byteLength / es} in the pickle; the file is damaged, so re-download it`);
    }
    starts.set(key, pos + 8);
    pos += 8 + root.byteLength;
    if (pos > src.size) throw truncated(name, key);
  }
  const readKey = (key: string, off: number, len: number) => {
    const start = starts.get(key);
    if (start === undefined) throw new DnfError(`${name}: storage '${printable(key)}' is missing from the data section; the file is damaged`);
    return src.read(start + off, len);
  };
  return new TorchCheckpoint(src, 'legacy', main.value, readKey, !littleEndian);
}

function truncated(name: string, key: string): DnfError {
  return new DnfError(`${name}: the file ends inside the data of storage '${printable(key)}'; it is truncated, so re-download it`);
}

/** Whether a view's elements lie in row-major order without gaps (size-1 dims have any stride). */
function isContiguous(t: TorchTensorRef): boolean {
  let expected = 1;
  for (let i = t.shape.length - 1; i >= 0; i--) {
    if (t.shape[i] !== 1 && t.strides[i] !== expected) return false;
    expected *= t.shape[i];
  }
  return true;
}

/** Copies a strided view (raw starts at its first element) into a contiguous buffer. */
function gather(t: TorchTensorRef, raw: Uint8Array, es: number): Uint8Array {
  const out = new Uint8Array(t.numel * es);
  const rank = t.shape.length;
  const inner = t.shape[rank - 1];
  const innerStride = t.strides[rank - 1];
  const idx = new Array<number>(rank - 1).fill(0); // odometer over the outer dims
  let o = 0;
  for (;;) {
    let base = 0;
    for (let d = 0; d < rank - 1; d++) base += idx[d] * t.strides[d];
    if (innerStride === 1) {
      out.set(raw.subarray(base * es, (base + inner) * es), o);
      o += inner * es;
    } else {
      for (let j = 0; j < inner; j++, o += es) {
        const s = (base + j * innerStride) * es;
        for (let b = 0; b < es; b++) out[o + b] = raw[s + b];
      }
    }
    let d = rank - 2;
    while (d >= 0 && ++idx[d] === t.shape[d]) idx[d--] = 0;
    if (d < 0) return out;
  }
}
