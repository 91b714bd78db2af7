/**
 * From an unpickled PyTorch checkpoint to the tensors of a safetensors file, platform-neutral
 * (the Node entry that reads and writes files is src/node/convert.ts).
 *
 * Where the weights are (extractStateDict), unless `key` names them:
 * 1. a dict with one of the wrapper keys, in this order: state_dict, model_state_dict, model,
 *    module, net, network - the first whose value is a dict holding tensors (training scripts save
 *    {'model': sd, 'optimizer': ..., 'total_steps': n}; Lightning saves {'state_dict': ...});
 * 2. otherwise the top-level dict itself, if it holds tensors (a plain model.state_dict());
 * 3. a list or tuple: its first element that is a dict holding tensors (the DDIM training code
 *    saves [model_sd, optimizer_sd, epoch, step, ema_sd]: `key: '4'` picks the EMA weights).
 * EMA weights stored under other names ('ema', 'model_ema', ...) are picked with `key`.
 * In the state dict: non-string keys and non-tensor values are dropped, as are num_batches_tracked
 * (BatchNorm bookkeeping) and, unless keepIntegers, integer and bool tensors; a common 'module.'
 * prefix (DataParallel) is stripped. An object of a non-allow-listed class among the values is an
 * error, not a silent drop: it may be weights we cannot read (e.g. a numpy array).
 * A safetensors file is read too (its tensors are the state dict, filtered the same way), and the
 * names of a diffusers UNet2DModel (.bin or .safetensors) become the reference names
 * (diffusers-keys.ts).
 */
import { DnfError } from '../errors.js';
import { PyDict, PyOpaque, describe, shortRepr } from './pickle.js';
import { printable } from './printable.js';
import { isDiffusersUnet, tensorsFromDiffusers } from './diffusers-keys.js';
import { DTYPE_SIZES, SafetensorsFile, f16BitsToF32Bits, numel, type ByteSource, type Dtype, type TensorToWrite } from './safetensors.js';
import { TorchCheckpoint, TorchTensorRef, type TorchFormat } from './torch-checkpoint.js';

export interface ExtractOptions {
  /**
   * Where the state dict is: a key of the top-level dict or an index of a top-level list, with '/'
   * between levels ('model', 'ema', '0', 'checkpoint/model'). Default: found as described above.
   */
  key?: string;
  /** Keep integer and bool tensors (num_batches_tracked is dropped regardless). Default false. */
  keepIntegers?: boolean;
}

export interface StateDict {
  /** Kept tensors by name (prefix stripped), in the checkpoint's order. */
  tensors: Map<string, TorchTensorRef>;
  /** Keys of the state dict that were not kept. */
  dropped: string[];
  /** Where the state dict was found, as Python would index it: "['model']", "[0]", or "" (top level). */
  path: string;
  /** Entries beside the state dict that were ignored (e.g. optimizer, total_steps, args). */
  ignored: string[];
  /** 'module.' when that prefix was stripped from every name, else ''. */
  strippedPrefix: string;
}

const WRAPPER_KEYS = ['state_dict', 'model_state_dict', 'model', 'module', 'net', 'network'];
const MAX_LISTED = 8;

/**
 * Whether `v` is a dict holding a tensor among its values. Answers are kept per dict: a hostile list
 * may name one huge dict a million times, and each dict is then still scanned once only.
 */
const tensorHolders = new WeakMap<PyDict, boolean>();
function holdsTensors(v: unknown): v is PyDict {
  if (!(v instanceof PyDict)) return false;
  let known = tensorHolders.get(v);
  if (known === undefined) {
    known = false;
    for (const x of v.map.values()) if (x instanceof TorchTensorRef) { known = true; break; }
    tensorHolders.set(v, known);
  }
  return known;
}
/** A key as Python indexes with it, bounded (keys may be huge strings or deeply nested tuples). */
const pyKey = (k: unknown) => (typeof k === 'string' ? `['${printable(k)}']` : `[${shortRepr(k)}]`);
/** Keys of the file for a message: the first MAX_LISTED, each bounded (see shortRepr). */
const list = (xs: unknown[]) => xs.slice(0, MAX_LISTED).map((k) => shortRepr(k)).join(', ') + (xs.length > MAX_LISTED ? `, ... (${xs.length} in all)` : '');
/** A key as reported in `dropped` and `ignored`: the name itself, or a bounded rendering. */
const keyName = (k: unknown) => (typeof k === 'string' ? k : shortRepr(k));

/** The refusal for an object of a class that is not allow-listed. */
function refuse(name: string, o: PyOpaque, where: string): DnfError {
  return new DnfError(`${name}: refuses to load global '${printable(o.qualname)}' from the pickle${where}: only state dicts of tensors can be read; in Python, save model.state_dict() with torch.save`);
}

/** The first non-allow-listed object reachable from `v` (bounded depth, cycles skipped). */
function findOpaque(v: unknown, depth = 0, seen = new Set<unknown>()): PyOpaque | undefined {
  if (v instanceof PyOpaque) return v;
  if (depth > 16 || typeof v !== 'object' || v === null || seen.has(v)) return undefined;
  seen.add(v);
  const children = Array.isArray(v) ? v : v instanceof PyDict ? [...v.map.values()] : [];
  for (const c of children) {
    const o = findOpaque(c, depth + 1, seen);
    if (o) return o;
  }
  return undefined;
}

/** Finds the state dict in an unpickled checkpoint (see the file header for the rules). */
export function extractStateDict(root: unknown, name: string, opts: ExtractOptions = {}): StateDict {
  let sd: PyDict | undefined;
  let path = '';
  let parent: unknown = undefined;
  if (opts.key !== undefined) {
    let cur = root;
    for (const seg of opts.key.split('/')) {
      parent = cur;
      const k = cur instanceof PyDict ? (cur.map.has(seg) ? seg : /^\d+$/.test(seg) && cur.map.has(Number(seg)) ? Number(seg) : undefined)
        : Array.isArray(cur) && /^\d+$/.test(seg) && Number(seg) < cur.length ? Number(seg) : undefined;
      if (k === undefined) {
        const have = cur instanceof PyDict ? `keys ${list([...cur.map.keys()])}` : Array.isArray(cur) ? `${cur.length} items` : describe(cur);
        throw new DnfError(`${name}: has no '${printable(seg)}' at ${path || 'the top level'} (it has ${have}); check --key`);
      }
      cur = cur instanceof PyDict ? cur.map.get(k) : (cur as unknown[])[k as number];
      path += Array.isArray(parent) ? `[${k}]` : pyKey(k);
    }
    if (cur instanceof PyOpaque) throw refuse(name, cur, ` at ${path}`);
    if (!holdsTensors(cur)) throw new DnfError(`${name}: ${path} is ${describe(cur)}, not a state dict of tensors; check --key`);
    sd = cur;
  } else if (root instanceof PyDict) {
    const k = WRAPPER_KEYS.find((w) => holdsTensors(root.map.get(w)));
    if (k !== undefined) [sd, path, parent] = [root.map.get(k) as PyDict, pyKey(k), root];
    else if (holdsTensors(root)) sd = root;
  } else if (Array.isArray(root)) {
    const i = root.findIndex(holdsTensors);
    if (i >= 0) [sd, path, parent] = [root[i] as PyDict, `[${i}]`, root];
  }
  if (!sd) {
    const o = findOpaque(root);
    if (o) throw refuse(name, o, root === o ? ' (the whole file is such an object)' : '');
    const top = root instanceof PyDict ? `a dict with keys ${list([...root.map.keys()])}`
      : Array.isArray(root) ? `a list of ${root.length} items without a state dict` : describe(root);
    throw new DnfError(`${name}: no state dict of tensors found (the checkpoint holds ${top}); name the one to use with --key`);
  }

  const tensors = new Map<string, TorchTensorRef>();
  const dropped: string[] = [];
  for (const [k, v] of sd.map) {
    if (v instanceof PyOpaque) throw refuse(name, v, ` for '${shortRepr(k)}' in the state dict`);
    const keep = typeof k === 'string' && v instanceof TorchTensorRef && !/(^|\.)num_batches_tracked$/.test(k) &&
      (opts.keepIntegers || isFloatDtype(v.dtype));
    if (keep) tensors.set(k, v as TorchTensorRef);
    else dropped.push(keyName(k));
  }
  if (tensors.size === 0) throw new DnfError(`${name}: the state dict at ${path || 'the top level'} has no float tensors; use --keep-integers or check --key`);

  // DataParallel saves 'module.'-prefixed names: strip the prefix when every name has it.
  let strippedPrefix = '';
  if ([...tensors.keys()].every((k) => k.startsWith('module.') && k.length > 7)) {
    strippedPrefix = 'module.';
    const renamed = new Map([...tensors].map(([k, v]) => [k.slice(7), v] as const));
    tensors.clear();
    for (const [k, v] of renamed) tensors.set(k, v);
  }
  const ignored = parent instanceof PyDict ? [...parent.map.keys()].filter((k) => parent.map.get(k) !== sd).map(keyName)
    : Array.isArray(parent) ? parent.flatMap((v, i) => (v === sd ? [] : [`[${i}]`])) : [];
  return { tensors, dropped, path, ignored, strippedPrefix };
}

export interface ConvertOptions extends ExtractOptions {
  /** Keep F16/BF16/F64 tensors in their dtype; by default they are converted to F32. */
  keepDtype?: boolean;
  /** Keep the names of a diffusers UNet2DModel; by default they become the reference names. */
  keepNames?: boolean;
}

export interface ConvertedCheckpoint extends Omit<StateDict, 'tensors'> {
  format: TorchFormat | 'safetensors';
  /** Ready for encodeSafetensors / writeSafetensorsFile, in checkpoint order. */
  tensors: TensorToWrite[];
  /** Sum of the kept tensors' element counts. */
  parameters: number;
  /** Safetensors metadata: format 'pt', source file name, source format, state dict path, key layout. */
  metadata: Record<string, string>;
  /** 'diffusers' when the names were mapped from the diffusers UNet2DModel layout (diffusers-keys.ts). */
  renamedFrom?: 'diffusers';
}

/**
 * Reads a PyTorch checkpoint (or a safetensors file: a diffusers model may come as either), extracts
 * its state dict and loads every kept tensor (contiguous, LE). The names of a diffusers UNet2DModel
 * are mapped to the reference names unless opts.keepNames.
 */
export async function checkpointToTensors(src: ByteSource, opts: ConvertOptions = {}): Promise<ConvertedCheckpoint> {
  const conv = (await looksLikeSafetensors(src)) ? await safetensorsToTensors(src, opts) : await torchToTensors(src, opts);
  if (!opts.keepNames && isDiffusersUnet(conv.tensors.map((t) => t.name))) {
    conv.tensors = tensorsFromDiffusers(conv.tensors, src.name);
    conv.renamedFrom = 'diffusers';
    conv.metadata.key_layout = 'reference (mapped from diffusers UNet2DModel)';
  }
  return conv;
}

async function torchToTensors(src: ByteSource, opts: ConvertOptions): Promise<ConvertedCheckpoint> {
  const ckpt = await TorchCheckpoint.open(src);
  const { tensors: refs, ...rest } = extractStateDict(ckpt.root, src.name, opts);
  const tensors: TensorToWrite[] = [];
  let parameters = 0;
  let bytesOut = 0;
  for (const [name, t] of refs) {
    // Tensors may share storages, so a small file could name far more data than it holds: cap the
    // output (generously: f16 -> f32 doubles, tied weights repeat) before anything is allocated.
    bytesOut += t.numel * 4;
    if (bytesOut > 16 * src.size + 2 ** 26) {
      throw new DnfError(`${src.name}: its tensors would expand to more than 16 times the file's size; the file is damaged or hostile`);
    }
  }
  for (const [name, t] of refs) {
    tensors.push(tensorToWrite(name, t.dtype, t.shape, await ckpt.readBytes(t), opts));
    parameters += t.numel;
  }
  const metadata = baseMetadata(src, `torch-${ckpt.format}`, rest.path);
  return { ...rest, format: ckpt.format, tensors, parameters, metadata };
}

/** A safetensors file holds tensors at its top level: the same filters as a state dict apply. */
async function safetensorsToTensors(src: ByteSource, opts: ConvertOptions): Promise<ConvertedCheckpoint> {
  if (opts.key !== undefined) throw new DnfError(`${src.name}: is a safetensors file, whose tensors are all at the top level; drop --key`);
  const file = await SafetensorsFile.open(src);
  const tensors: TensorToWrite[] = [];
  const dropped: string[] = [];
  let parameters = 0;
  for (const name of file.names()) {
    const { dtype, shape } = file.info(name);
    if (/(^|\.)num_batches_tracked$/.test(name) || !(opts.keepIntegers || isFloatDtype(dtype))) {
      dropped.push(name);
      continue;
    }
    tensors.push(tensorToWrite(name, dtype, shape, await file.read(name), opts));
    parameters += numel(shape);
  }
  if (tensors.length === 0) throw new DnfError(`${src.name}: has no float tensors; use --keep-integers`);
  const metadata = baseMetadata(src, 'safetensors', '');
  return { format: 'safetensors', tensors, parameters, metadata, dropped, path: '', ignored: [], strippedPrefix: '' };
}

/** One tensor as written: floats become F32 unless opts.keepDtype. */
function tensorToWrite(name: string, dtype: Dtype, shape: readonly number[], bytes: Uint8Array, opts: ConvertOptions): TensorToWrite {
  const toF32 = !opts.keepDtype && isFloatDtype(dtype) && dtype !== 'F32';
  return { name, dtype: toF32 ? 'F32' : dtype, shape: [...shape], data: toF32 ? bytesToF32(dtype, bytes) : bytes };
}

function baseMetadata(src: ByteSource, sourceFormat: string, path: string): Record<string, string> {
  return {
    format: 'pt',
    source: src.name.split(/[\\/]/).pop() ?? src.name,
    source_format: sourceFormat,
    state_dict: path || '(top level)',
  };
}

/** An 8-byte little-endian header length, then a JSON object: a safetensors file (zip and pickle never start so). */
async function looksLikeSafetensors(src: ByteSource): Promise<boolean> {
  if (src.size < 10) return false;
  const head = await src.read(0, 9);
  const len = new DataView(head.buffer, head.byteOffset, 8).getBigUint64(0, true);
  return head[8] === 0x7b && len + 8n <= BigInt(src.size);
}

/** Whether a dtype holds floating-point values. */
export function isFloatDtype(d: Dtype): boolean {
  return d === 'F32' || d === 'F16' || d === 'BF16' || d === 'F64';
}

/** Little-endian elements of `dtype` converted to float32 (exact for F16/BF16; F64 and I64 round). */
export function bytesToF32(dtype: Dtype, bytes: Uint8Array): Float32Array {
  // Typed-array views need alignment: copy with the constructor (a Node Buffer's slice() is a view).
  const b = bytes.byteOffset % 8 === 0 ? bytes : new Uint8Array(bytes);
  const n = b.byteLength / DTYPE_SIZES[dtype];
  const out = new Float32Array(n);
  switch (dtype) {
    case 'F32': out.set(new Float32Array(b.buffer, b.byteOffset, n)); break;
    case 'F64': out.set(new Float64Array(b.buffer, b.byteOffset, n)); break;
    case 'F16': {
      const h = new Uint16Array(b.buffer, b.byteOffset, n);
      const bits = new Uint32Array(out.buffer);
      for (let i = 0; i < n; i++) bits[i] = f16BitsToF32Bits(h[i]);
      break;
    }
    case 'BF16': { // bfloat16 is the top half of a float32
      const h = new Uint16Array(b.buffer, b.byteOffset, n);
      const bits = new Uint32Array(out.buffer);
      for (let i = 0; i < n; i++) bits[i] = h[i] << 16;
      break;
    }
    case 'I64': { const v = new BigInt64Array(b.buffer, b.byteOffset, n); for (let i = 0; i < n; i++) out[i] = Number(v[i]); break; }
    case 'I32': out.set(new Int32Array(b.buffer, b.byteOffset, n)); break;
    case 'I16': out.set(new Int16Array(b.buffer, b.byteOffset, n)); break;
    case 'I8': out.set(new Int8Array(b.buffer, b.byteOffset, n)); break;
    case 'U8': case 'BOOL': out.set(b); break;
  }
  return out;
}
