/**
 * A restricted unpickler for PyTorch checkpoints. It interprets the pickle opcodes that
 * `torch.save` emits (protocols 0-5, without extension registries or out-of-band buffers) and
 * NEVER executes anything: a global reference resolves only through a table the caller supplies.
 *
 * Safety policy for globals (the choice, and why):
 * - Allow-listed globals (the caller's table, plus collections.OrderedDict, _codecs.encode,
 *   builtins set/frozenset/bytearray built in here) are implemented in TypeScript.
 * - Globals that only an attack would name (os/posix/subprocess/sys/builtins.eval/exec/...) make
 *   the whole file fail at once, with a one-line DnfError: such a file is hostile, and saying so is
 *   more useful than failing later with "no state dict found".
 * - Any other global becomes an inert `PyOpaque` record {qualname, args, state}. It is never
 *   called, so it cannot run code; its only cost is memory, which is bounded by the pickle's size.
 *   This lets real training checkpoints load, which keep e.g. an argparse.Namespace under 'args' or
 *   numpy scalars beside the weights. The caller (torch-checkpoint.ts) refuses an opaque object
 *   wherever it would become part of the extracted weights.
 * A strict mode (`strictGlobals`) turns every non-allow-listed global into an error instead.
 *
 * Values: None -> null, bool, int -> number (bigint beyond 2^53), float -> number, str -> string,
 * bytes -> Uint8Array, list and tuple -> array, dict -> PyDict (a Map, keeps insertion order),
 * set -> PySet.
 */
import { DnfError } from '../errors.js';
import { clipText, integerText, oneLine, printable } from './printable.js';

export { printable } from './printable.js';

/** A Python dict (also OrderedDict); `attrs` keeps BUILD state such as a state dict's _metadata. */
export class PyDict {
  readonly map = new Map<unknown, unknown>();
  attrs: unknown = undefined;
  constructor(readonly className = 'builtins.dict') {}
}

export class PySet {
  constructor(readonly items: unknown[] = []) {}
}

/** An instance of, or call to, a global outside the allow-list: data only, never executed. */
export class PyOpaque {
  state: unknown = undefined;
  /** Items appended or set on it (list or dict subclasses). */
  readonly items: unknown[] = [];
  constructor(readonly qualname: string, readonly args: unknown[] | null) {}
}

/**
 * An allow-listed global: either a function implemented here, or a plain value (e.g. a dtype).
 * A function is charged (see WORK_PER_BYTE) for the sizes of its arguments before it runs, so it
 * may copy its arguments' top-level items, but must not walk deeper into them.
 */
export type GlobalDef = { call: (args: unknown[]) => unknown } | { value: unknown };

export interface UnpickleOptions {
  /** Shown in errors: the file name (and the archive entry). */
  name: string;
  /** Allow-listed globals by 'module.name', beyond the built-in ones. */
  globals?: ReadonlyMap<string, GlobalDef>;
  /** Resolves a persistent id (torch: its storages). Without it, persistent ids are refused. */
  persistentLoad?: (pid: unknown) => unknown;
  /** Refuse every global that is not allow-listed, instead of recording it as a PyOpaque. */
  strictGlobals?: boolean;
}

/** Thrown when the data ends before STOP; callers that read a stream in chunks retry with more. */
export class PickleTruncated extends DnfError {}

/** A callable allow-listed global on the stack (torch's _rebuild_from_type_v2 receives one). */
export class Callable {
  constructor(readonly qualname: string, readonly call: (args: unknown[]) => unknown) {}
}

/*
 * Caps. A state dict's pickle holds a few objects per tensor (a UNet has ~700 tensors, a ResNet50
 * ~320), is a few hundred KB to a few MB long, nests some 5 levels deep and has integers below 2^64;
 * each cap is far above that, and keeps the work and memory spent on a file proportional to its size.
 */
/** Stack + mark stack + memo entries, each: one per opcode at most, so bounded by the size anyway. */
const MAX_ITEMS = 1 << 24;
/** LONG1/LONG4 integers: real ones (sizes, counters, seeds) are < 16 bytes. */
const MAX_LONG_BYTES = 1 << 16;
/** All LONG1/LONG4 integers of one pickle together (a state dict's: a few KB at most). */
const MAX_LONG_TOTAL = 1 << 18;
/** Decimal integers (protocol 0): Python itself refuses longer ones (sys.int_info.default_max_str_digits). */
const MAX_DECIMAL_DIGITS = 4300;
/** Protocol 0 text arguments. */
const MAX_LINE = 1 << 20;
/** Nesting of containers: Python's pickler cannot write deeper than its recursion limit (1000). */
const MAX_DEPTH = 1000;
/**
 * The work budget, in units of about one pointer (8 bytes): every value pushed costs 1, a list or
 * tuple 4 more, a dict, set or object 16 more, an allow-listed call the sizes of its arguments (the
 * items it may copy), bytes and text made 1 per 8 bytes. A pickle may spend WORK_BASE +
 * WORK_PER_BYTE units per byte of its data. torch.save's pickles spend 0.6-0.8 per byte (measured:
 * ResNet50, a 700-tensor UNet with its optimizer state, zip and legacy), while a 1 MB file that
 * repeats set(L) over a memoised million-item list would otherwise copy a million items each time.
 */
const WORK_PER_BYTE = 8;
const WORK_BASE = 1 << 20;
const ARRAY_COST = 4;
const OBJECT_COST = 16;

/** Modules and builtins no checkpoint needs and every pickle exploit uses. */
const DANGEROUS_MODULES = /^(os|posix|nt|subprocess|_posixsubprocess|sys|shutil|socket|pty|runpy|importlib|imp|code|codeop|pickle|_pickle|marshal|ctypes|webbrowser|multiprocessing|asyncio|signal|threading|tempfile|pdb|bdb|timeit|commands|popen2|platform|glob|io|_io|zipimport|torch\.(hub|jit|ops|classes|_ops|distributed|package))(\.|$)/;
const DANGEROUS_BUILTINS = new Set(['eval', 'exec', 'execfile', 'compile', 'open', 'file', '__import__', 'getattr',
  'setattr', 'delattr', 'globals', 'locals', 'vars', 'input', 'breakpoint', 'apply', 'reload']);

const BUILTIN_GLOBALS = new Map<string, GlobalDef>([
  ['collections.OrderedDict', { call: (args) => dictFrom(args[0], 'collections.OrderedDict') }],
  ['builtins.dict', { call: (args) => dictFrom(args[0], 'builtins.dict') }],
  ['builtins.set', { call: (args) => new PySet(args[0] === undefined ? [] : [...asArray(args[0])]) }],
  ['builtins.frozenset', { call: (args) => new PySet(args[0] === undefined ? [] : [...asArray(args[0])]) }],
  // Protocol 2 pickles Python 3 bytes as _codecs.encode(latin-1 text, 'latin1').
  ['_codecs.encode', { call: (args) => latin1Bytes(args) }],
  ['builtins.bytearray', { call: (args) => (args.length === 0 ? new Uint8Array(0) : args[0] instanceof Uint8Array ? args[0] : latin1Bytes(args)) }],
  ['builtins.bytes', { call: (args) => (args.length === 0 ? new Uint8Array(0) : args[0] instanceof Uint8Array ? args[0] : latin1Bytes(args)) }],
]);

function asArray(v: unknown): unknown[] {
  if (Array.isArray(v)) return v;
  if (v instanceof PySet) return v.items;
  throw new Error(`expected a list, got ${describe(v)}`);
}

function dictFrom(pairs: unknown, className: string): PyDict {
  const d = new PyDict(className);
  if (pairs instanceof PyDict) for (const [k, v] of pairs.map) d.map.set(k, v);
  else if (pairs !== undefined) {
    for (const p of asArray(pairs)) {
      if (!Array.isArray(p) || p.length !== 2) throw new Error('expected (key, value) pairs');
      d.map.set(p[0], p[1]);
    }
  }
  return d;
}

function latin1Bytes(args: unknown[]): Uint8Array {
  const [text, enc] = args;
  if (typeof text !== 'string' || (enc !== undefined && !/^latin[-_]?1$/i.test(String(enc)))) {
    throw new Error(`unsupported _codecs.encode(${describe(text)}, ${describe(enc)})`);
  }
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c > 255) throw new Error('non-latin-1 character in bytes');
    out[i] = c;
  }
  return out;
}

/** A short description of a value for error messages (bounded: it never looks inside containers). */
export function describe(v: unknown): string {
  if (v === null) return 'None';
  if (Array.isArray(v)) return `a sequence of ${v.length}`;
  if (v instanceof PyDict) return `a dict of ${v.map.size}`;
  if (v instanceof PyOpaque) return `a '${printable(v.qualname)}' object`;
  if (v instanceof Uint8Array) return `${v.length} bytes`;
  if (typeof v === 'string') return JSON.stringify(clipText(v, 40));
  if (typeof v === 'number' || typeof v === 'bigint') return integerText(v);
  if (typeof v === 'object') return `a ${(v as object).constructor?.name ?? 'object'}`;
  return String(v);
}

/**
 * A dict key or other small value as Python would show it, bounded in length and depth (tuple keys
 * may nest without limit and reference themselves): 'name', 3, (1, 'a'), ...
 */
export function shortRepr(v: unknown, depth = 0): string {
  if (typeof v === 'string') return printable(v);
  if (typeof v === 'number' || typeof v === 'bigint') return integerText(v);
  if (v === null) return 'None';
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  if (Array.isArray(v)) {
    if (depth >= 3) return '(...)';
    const items = v.slice(0, 4).map((x) => (typeof x === 'string' ? `'${clipText(x, 30)}'` : shortRepr(x, depth + 1)));
    return `(${items.join(', ')}${v.length > 4 ? ', ...' : v.length === 1 ? ',' : ''})`;
  }
  return `<${describe(v)}>`;
}

/** Whether a global is refused outright because only a hostile file would name it. */
export function isDangerousGlobal(module: string, name: string): boolean {
  return DANGEROUS_MODULES.test(module) || ((module === 'builtins' || module === '__builtin__') && DANGEROUS_BUILTINS.has(name));
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Unpickles one pickle that starts at `start` in `data`. Returns its value and the offset just past
 * its STOP opcode (legacy torch files hold several pickles in a row).
 */
export function unpickle(data: Uint8Array, opts: UnpickleOptions, start = 0): { value: unknown; end: number } {
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  let pos = start;
  let stack: unknown[] = [];
  const marks: unknown[][] = [];
  const memo = new Map<number, unknown>();
  let at = pos; // offset of the current opcode, for messages
  let work = WORK_BASE + WORK_PER_BYTE * Math.max(0, data.length - start);
  let longTotal = 0; // bytes of LONG1/LONG4 integers so far
  /** Nesting depth of containers (absent: 1), kept where a container is built or filled. */
  const depths = new WeakMap<object, number>();

  const fail = (what: string): never => {
    throw new DnfError(`${opts.name}: cannot read the pickle at byte ${at} (${oneLine(what, 200)}); the file is damaged or not a PyTorch checkpoint, so re-download or re-save it`);
  };
  const charge = (units: number) => {
    work -= units;
    if (work < 0) {
      throw new DnfError(`${opts.name}: the pickle at byte ${at} builds far more data than its size explains (a hostile or damaged file); only state dicts of tensors can be read, so re-save it with torch.save`);
    }
  };
  const depthOf = (v: unknown): number => (typeof v === 'object' && v !== null ? depths.get(v) ?? 1 : 0);
  /** Records that `container` holds `items` (built now, or added to it). */
  const nest = <T extends object>(container: T, items: readonly unknown[]): T => {
    let d = depths.get(container) ?? 1;
    for (const v of items) if (typeof v === 'object' && v !== null) d = Math.max(d, depthOf(v) + 1);
    if (d > MAX_DEPTH) fail(`containers nested more than ${MAX_DEPTH} levels deep`);
    if (d > 1) depths.set(container, d);
    return container;
  };
  const container = <T extends object>(c: T, items: readonly unknown[] = []): T => {
    charge(Array.isArray(c) ? ARRAY_COST : OBJECT_COST);
    return nest(c, items);
  };
  const need = (n: number) => {
    if (pos + n > data.length) throw new PickleTruncated(`${opts.name}: the pickle ends early at byte ${data.length}; the file is truncated, so re-download it`);
  };
  const bytes = (n: number): Uint8Array => {
    if (!Number.isSafeInteger(n) || n < 0) fail(`bad length ${n}`);
    need(n);
    pos += n;
    return data.subarray(pos - n, pos);
  };
  const ownBytes = (b: Uint8Array): Uint8Array => { charge(b.length / 8); return new Uint8Array(b); }; // a copy, whatever `data` is
  const u8 = () => { need(1); return data[pos++]; };
  const u16 = () => { need(2); pos += 2; return dv.getUint16(pos - 2, true); };
  const u32 = () => { need(4); pos += 4; return dv.getUint32(pos - 4, true); };
  const u64 = () => {
    need(8); pos += 8;
    const v = dv.getBigUint64(pos - 8, true);
    return v > BigInt(Number.MAX_SAFE_INTEGER) ? fail('a length beyond 2^53') : Number(v);
  };
  const line = (): string => { // protocol 0 text argument, up to '\n'
    const nl = data.indexOf(0x0a, pos);
    if (nl < 0) need(data.length - pos + 1);
    if (nl - pos > MAX_LINE) fail(`a text argument longer than ${MAX_LINE} bytes`);
    const s = latin1(data.subarray(pos, nl));
    pos = nl + 1;
    return s;
  };
  const memoIndex = (s: string): number => {
    const i = parseIntText(s);
    return typeof i === 'number' && i >= 0 ? i : fail(`bad memo index ${JSON.stringify(clipText(s, 40))}`);
  };
  const text = (b: Uint8Array): string => {
    try { return utf8.decode(b); } catch { return fail('a string that is not valid UTF-8'); }
  };
  const push = (v: unknown) => { if (stack.length >= MAX_ITEMS) fail('stack too deep'); charge(1); stack.push(v); };
  const pop = (): unknown => (stack.length === 0 ? fail('stack underflow') : stack.pop());
  const top = (): unknown => (stack.length === 0 ? fail('stack underflow') : stack[stack.length - 1]);
  const popMark = (): unknown[] => {
    const items = stack;
    stack = marks.pop() ?? fail('no MARK to pop to');
    return items;
  };
  const put = (i: number) => {
    if (memo.size >= MAX_ITEMS && !memo.has(i)) fail('memo too large');
    memo.set(i, top());
  };
  const get = (i: number) => (memo.has(i) ? memo.get(i) : fail(`memo slot ${i} is empty`));

  const resolveGlobal = (module: string, name: string): unknown => {
    charge((module.length + name.length) / 8);
    const qualname = `${module}.${name}`;
    if (isDangerousGlobal(module, name) || (opts.strictGlobals && !opts.globals?.has(qualname) && !BUILTIN_GLOBALS.has(qualname))) {
      throw new DnfError(`${opts.name}: refuses to load global '${printable(qualname)}' from the pickle: only state dicts of tensors can be read; this file may be malicious, so do not load it with torch.load either`);
    }
    const def = opts.globals?.get(qualname) ?? BUILTIN_GLOBALS.get(qualname);
    if (!def) return container(new PyOpaque(qualname, null));
    return 'call' in def ? new Callable(qualname, def.call) : def.value;
  };

  /** REDUCE / NEWOBJ / INST / OBJ: call an allow-listed function, or record an opaque object. */
  const call = (f: unknown, args: unknown): unknown => {
    if (!Array.isArray(args)) fail(`call arguments are ${describe(args)}, not a tuple`);
    const a = args as unknown[];
    if (f instanceof Callable) {
      charge(ARRAY_COST + argumentSizes(a));
      let result: unknown;
      try {
        result = f.call(a);
      } catch (e) {
        if (e instanceof DnfError) throw e;
        return fail(`bad arguments to ${f.qualname}: ${oneLine(e)}`);
      }
      return typeof result === 'object' && result !== null && !depths.has(result) ? nest(result, a) : result;
    }
    if (f instanceof PyOpaque) return container(new PyOpaque(f.qualname, a), [a]);
    return fail(`cannot call ${describe(f)}`);
  };

  const setItems = (target: unknown, kv: unknown[]) => {
    if (kv.length % 2) fail('odd number of items for SETITEMS');
    if (target instanceof PyDict) for (let i = 0; i < kv.length; i += 2) target.map.set(kv[i], kv[i + 1]);
    else if (target instanceof PyOpaque) for (const v of kv) target.items.push(v);
    else fail(`cannot set items on ${describe(target)}`);
    nest(target as object, kv);
  };
  const appendItems = (target: unknown, items: unknown[]) => {
    if (Array.isArray(target)) pushAll(target, items);
    else if (target instanceof PySet) pushAll(target.items, items);
    else if (target instanceof PyOpaque) pushAll(target.items, items);
    else fail(`cannot append to ${describe(target)}`);
    nest(target as object, items);
  };

  for (;;) {
    at = pos;
    const op = u8();
    switch (op) {
      case 0x80: if (u8() > 5) fail('pickle protocol above 5'); break;  // PROTO
      case 0x95: u64(); break;                                         // FRAME: a length hint only
      case 0x2e: {                                                     // STOP
        if (marks.length || stack.length !== 1) fail('unbalanced stack at STOP');
        return { value: stack[0], end: pos };
      }
      // --- constants and numbers
      case 0x4e: push(null); break;                                    // NONE
      case 0x88: push(true); break;                                    // NEWTRUE
      case 0x89: push(false); break;                                   // NEWFALSE
      case 0x4b: push(u8()); break;                                    // BININT1
      case 0x4d: push(u16()); break;                                   // BININT2
      case 0x4a: push(u32() | 0); break;                               // BININT (signed)
      case 0x8a: case 0x8b: {                                          // LONG1, LONG4
        const n = op === 0x8a ? u8() : u32();
        if (n > MAX_LONG_BYTES) fail(`an integer of ${n} bytes, beyond the ${MAX_LONG_BYTES}-byte limit`);
        longTotal += n;
        if (longTotal > MAX_LONG_TOTAL) fail(`integers of more than ${MAX_LONG_TOTAL} bytes in all`);
        charge(n / 8);
        push(longLE(bytes(n)));
        break;
      }
      case 0x47: need(8); pos += 8; push(dv.getFloat64(pos - 8, false)); break; // BINFLOAT (big-endian)
      case 0x49: {                                                     // INT (text)
        const s = line();
        push(s === '01' ? true : s === '00' ? false : parseIntText(s) ?? fail(`bad INT ${JSON.stringify(clipText(s, 40))}`));
        break;
      }
      case 0x4c: push(parseIntText(line().replace(/L$/, '')) ?? fail('bad LONG')); break; // LONG (text)
      case 0x46: {                                                     // FLOAT (text)
        const f = Number(line());
        push(Number.isNaN(f) ? fail('bad FLOAT') : f);
        break;
      }
      // --- strings and bytes
      case 0x58: push(text(bytes(u32()))); break;                      // BINUNICODE
      case 0x8c: push(text(bytes(u8()))); break;                       // SHORT_BINUNICODE
      case 0x8d: push(text(bytes(u64()))); break;                      // BINUNICODE8
      case 0x42: push(ownBytes(bytes(u32()))); break;                  // BINBYTES
      case 0x43: push(ownBytes(bytes(u8()))); break;                   // SHORT_BINBYTES
      case 0x8e: case 0x96: push(ownBytes(bytes(u64()))); break;       // BINBYTES8, BYTEARRAY8
      // Python 2 str (legacy checkpoints): torch.load decodes them as UTF-8, latin-1 as a fallback.
      case 0x54: push(py2str(bytes(u32()))); break;                    // BINSTRING
      case 0x55: push(py2str(bytes(u8()))); break;                     // SHORT_BINSTRING
      case 0x53: push(unquote(line()) ?? fail('bad STRING')); break;   // STRING (text, quoted repr)
      case 0x56: push(rawUnicodeEscape(line()) ?? fail('bad UNICODE')); break; // UNICODE (text)
      // --- containers
      case 0x7d: push(container(new PyDict())); break;                 // EMPTY_DICT
      case 0x5d: push(container([])); break;                           // EMPTY_LIST
      case 0x29: push(container([])); break;                           // EMPTY_TUPLE
      case 0x8f: push(container(new PySet())); break;                  // EMPTY_SET
      case 0x28:                                                       // MARK
        if (marks.length >= MAX_ITEMS) fail('too many MARKs');
        charge(ARRAY_COST);
        marks.push(stack); stack = [];
        break;
      case 0x85: { const t = [pop()]; push(container(t, t)); break; } // TUPLE1
      case 0x86: { const b = pop(); const a = pop(); push(container([a, b], [a, b])); break; }            // TUPLE2
      case 0x87: { const c = pop(); const b = pop(); const a = pop(); push(container([a, b, c], [a, b, c])); break; } // TUPLE3
      case 0x74: case 0x6c: { const t = popMark(); push(container(t, t)); break; } // TUPLE, LIST
      case 0x91: { const items = popMark(); push(container(new PySet(items), items)); break; } // FROZENSET
      case 0x64: { const d = container(new PyDict()); setItems(d, popMark()); push(d); break; } // DICT
      case 0x61: { const v = pop(); appendItems(top(), [v]); break; }  // APPEND
      case 0x65: case 0x90: { const items = popMark(); appendItems(top(), items); break; } // APPENDS, ADDITEMS
      case 0x73: { const v = pop(); const k = pop(); setItems(top(), [k, v]); break; } // SETITEM
      case 0x75: { const kv = popMark(); setItems(top(), kv); break; } // SETITEMS
      case 0x30: pop(); break;                                         // POP
      case 0x31: popMark(); break;                                     // POP_MARK
      case 0x32: push(top()); break;                                   // DUP
      // --- memo
      case 0x71: put(u8()); break;                                     // BINPUT
      case 0x72: put(u32()); break;                                    // LONG_BINPUT
      case 0x70: put(memoIndex(line())); break;           // PUT (text)
      case 0x94: put(memo.size); break;                                // MEMOIZE
      case 0x68: push(get(u8())); break;                               // BINGET
      case 0x6a: push(get(u32())); break;                              // LONG_BINGET
      case 0x67: push(get(memoIndex(line()))); break;     // GET (text)
      // --- globals and objects (never executed, see the policy above)
      case 0x63: { const module = line(); push(resolveGlobal(module, line())); break; } // GLOBAL
      case 0x93: {                                                     // STACK_GLOBAL
        const name = pop(); const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') fail('STACK_GLOBAL needs two strings');
        push(resolveGlobal(module as string, name as string));
        break;
      }
      case 0x52: { const args = pop(); push(call(pop(), args)); break; } // REDUCE
      case 0x81: { const args = pop(); push(call(pop(), args)); break; } // NEWOBJ
      case 0x92: { pop(); const args = pop(); push(call(pop(), args)); break; } // NEWOBJ_EX (kwargs dropped)
      case 0x69: { const module = line(); const cls = resolveGlobal(module, line()); push(call(cls, popMark())); break; } // INST
      case 0x6f: { const items = popMark(); if (!items.length) fail('OBJ without a class'); push(call(items[0], items.slice(1))); break; } // OBJ
      case 0x62: {                                                     // BUILD: record state, run nothing
        const state = pop();
        const obj = top();
        if (obj instanceof PyDict) obj.attrs = state;
        else if (obj instanceof PyOpaque) obj.state = state;
        if (obj instanceof PyDict || obj instanceof PyOpaque) nest(obj, [state]);
        // Other objects (torch tensors and storages) take no BUILD state that matters here.
        break;
      }
      case 0x51: push(persistent(pop())); break;                       // BINPERSID
      case 0x50: push(persistent(line())); break;                      // PERSID (text)
      case 0x82: case 0x83: case 0x84:
        fail('a copyreg extension code, which a state dict does not use'); break;
      case 0x97: case 0x98:
        fail('an out-of-band buffer, which a state dict does not use'); break;
      default:
        fail(`unknown or unsupported opcode 0x${op.toString(16).padStart(2, '0')}`);
    }
  }

  function persistent(pid: unknown): unknown {
    if (!opts.persistentLoad) return fail('a persistent id, which plain pickles do not have');
    return opts.persistentLoad(pid);
  }
}

const HEX_BYTES = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
const SAFE_MIN = BigInt(Number.MIN_SAFE_INTEGER);
const SAFE_MAX = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * A little-endian two's-complement integer (LONG1/LONG4), as a number when it is exact. Parsed
 * through one hexadecimal string, in time linear in its length (shifting a BigInt in byte by byte
 * would be quadratic).
 */
function longLE(b: Uint8Array): number | bigint {
  const n = b.length;
  if (n === 0) return 0;
  if (n <= 6) { // exact as a number
    let v = 0;
    for (let i = n - 1; i >= 0; i--) v = v * 256 + b[i];
    return b[n - 1] & 0x80 ? v - 2 ** (8 * n) : v;
  }
  const hex = new Array<string>(n);
  for (let i = 0; i < n; i++) hex[i] = HEX_BYTES[b[n - 1 - i]];
  let v = BigInt(`0x${hex.join('')}`);
  if (b[n - 1] & 0x80) v -= 1n << BigInt(8 * n);
  return v >= SAFE_MIN && v <= SAFE_MAX ? Number(v) : v;
}

const DECIMAL = new RegExp(`^[-+]?\\d{1,${MAX_DECIMAL_DIGITS}}$`);

function parseIntText(s: string): number | bigint | undefined {
  const t = s.length > MAX_DECIMAL_DIGITS + 8 ? '' : s.trim();
  if (!DECIMAL.test(t)) return undefined;
  const v = BigInt(t);
  return v >= SAFE_MIN && v <= SAFE_MAX ? Number(v) : v;
}

/** Appends `items` to `target`, in chunks (spreading a huge array at once would overflow the stack). */
function pushAll(target: unknown[], items: unknown[]): void {
  const chunk = 8192;
  for (let i = 0; i < items.length; i += chunk) {
    if (items.length - i <= chunk && i === 0) { target.push(...items); return; }
    target.push(...items.slice(i, i + chunk));
  }
}

/** The units an allow-listed call may spend copying its arguments: their top-level sizes. */
function argumentSizes(args: readonly unknown[]): number {
  let n = args.length;
  for (const a of args) {
    if (Array.isArray(a)) n += a.length;
    else if (a instanceof PyDict) n += 2 * a.map.size;
    else if (a instanceof PySet) n += a.items.length;
    else if (typeof a === 'string' || a instanceof Uint8Array) n += a.length / 8;
  }
  return n;
}

function py2str(b: Uint8Array): string {
  try { return utf8.decode(b); } catch { return latin1(b); }
}

/** Bytes as latin-1 text (in chunks: String.fromCharCode takes a bounded number of arguments). */
function latin1(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i += 8192) s += String.fromCharCode(...b.subarray(i, i + 8192));
  return s;
}

/** Protocol 0 STRING: a Python repr in single or double quotes, with backslash escapes. */
function unquote(s: string): string | undefined {
  const q = s[0];
  if (s.length < 2 || (q !== "'" && q !== '"') || s[s.length - 1] !== q) return undefined;
  const esc: Record<string, string> = { n: '\n', t: '\t', r: '\r', '\\': '\\', "'": "'", '"': '"', '0': '\0' };
  return s.slice(1, -1).replace(/\\(x[0-9a-fA-F]{2}|.)/g, (_, e: string) =>
    e.length === 3 ? String.fromCharCode(parseInt(e.slice(1), 16)) : esc[e] ?? `\\${e}`);
}

/** Protocol 0 UNICODE: raw-unicode-escape, i.e. latin-1 text with \uXXXX and \UXXXXXXXX escapes. */
function rawUnicodeEscape(s: string): string | undefined {
  let bad = false;
  const out = s.replace(/\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})/g, (_, u: string | undefined, U: string | undefined) => {
    const cp = parseInt(u ?? U ?? '0', 16);
    if (cp > 0x10ffff) { bad = true; return ''; }
    return String.fromCodePoint(cp);
  });
  return bad ? undefined : out;
}
