/**
 * Generators of pickle opcode streams: sequences of real opcodes with arguments (numbers of every
 * width, strings and bytes with right or wrong lengths, memo traffic, MARKs, containers, globals
 * from a pool of allowed, unknown and dangerous names, calls and BUILDs, protocol 0 text), and
 * streams built to reach a dangerous global (os.system, builtins.eval, ...) in the ways exploits do.
 */
import fc from 'fast-check';
// @ts-expect-error: a plain .mjs tool, without type declarations
import { OP, Pickle } from '../../tools/hostile/writers.mjs';

type Writer = { raw(...b: Array<number | Uint8Array>): Writer; op(c: number): Writer; int(v: number | bigint): Writer; str(s: string): Writer; bytes(b: Uint8Array): Writer;
  long4(b: Uint8Array): Writer; float(f: number): Writer; line(code: number, text: string): Writer; global(m: string, n: string): Writer; put(i: number): Writer; get(i: number): Writer;
  mark(): Writer; none(): Writer; bool(b: boolean): Writer; proto(p?: number): Writer; stop(): Writer; tensor(t: object): Writer; toBytes(): Uint8Array };
export type Step = (p: Writer) => void;

/** Globals a checkpoint may name, with the module and name split as GLOBAL writes them. */
export const SAFE_GLOBALS: Array<[string, string]> = [
  ['collections', 'OrderedDict'], ['builtins', 'set'], ['builtins', 'frozenset'], ['builtins', 'bytearray'], ['builtins', 'bytes'],
  ['_codecs', 'encode'], ['builtins', 'dict'], ['torch._utils', '_rebuild_tensor_v2'], ['torch._utils', '_rebuild_parameter'],
  ['torch', 'FloatStorage'], ['torch', 'HalfStorage'], ['torch', 'float16'], ['torch._tensor', '_rebuild_from_type_v2'],
  ['torch', 'Size'], ['argparse', 'Namespace'], ['numpy.core.multiarray', '_reconstruct'], ['numpy', 'dtype'],
];
/** Globals only an exploit names: refused outright, never called. */
export const DANGEROUS_GLOBALS: Array<[string, string]> = [
  ['os', 'system'], ['posix', 'system'], ['nt', 'system'], ['subprocess', 'Popen'], ['subprocess', 'check_output'],
  ['builtins', 'eval'], ['builtins', 'exec'], ['__builtin__', 'eval'], ['builtins', 'getattr'], ['builtins', '__import__'],
  ['builtins', 'compile'], ['builtins', 'open'], ['runpy', '_run_code'], ['pty', 'spawn'], ['socket', 'socket'],
  ['importlib', 'import_module'], ['pickle', 'loads'], ['marshal', 'loads'], ['ctypes', 'CDLL'], ['shutil', 'rmtree'],
  ['torch.hub', 'load'], ['torch.jit', 'load'], ['sys', 'modules'], ['io', 'open'], ['webbrowser', 'open'],
];

const u8 = fc.integer({ min: 0, max: 255 });
const smallText = fc.string({ maxLength: 8 });
const memoSlot = fc.oneof({ weight: 6, arbitrary: fc.integer({ min: 0, max: 7 }) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 2 ** 32 - 1 }) });
const opName = (pool: Array<[string, string]>) => fc.constantFrom(...pool);
const anyGlobal = fc.oneof({ weight: 5, arbitrary: opName(SAFE_GLOBALS) }, { weight: 1, arbitrary: opName(DANGEROUS_GLOBALS) },
  { weight: 1, arbitrary: fc.tuple(smallText, smallText) });
const u32le = (n: number) => Uint8Array.of(n & 255, (n >>> 8) & 255, (n >>> 16) & 255, (n >>> 24) & 255);

/** One step: an opcode with its arguments (lengths right, or sometimes wrong). */
export const stepArb: fc.Arbitrary<Step> = fc.oneof(
  // constants and numbers
  fc.constantFrom<Step>((p) => p.none(), (p) => p.bool(true), (p) => p.bool(false)),
  fc.oneof(fc.integer(), fc.integer({ min: 0, max: 300 })).map((v): Step => (p) => p.int(v)),
  fc.bigInt({ min: -(2n ** 200n), max: 2n ** 200n }).map((v): Step => (p) => p.int(v)),
  fc.uint8Array({ maxLength: 40 }).map((b): Step => (p) => p.long4(b)),
  fc.tuple(fc.integer({ min: 0, max: 2 ** 32 - 1 }), fc.uint8Array({ maxLength: 8 })).map(([n, b]): Step => (p) => p.raw(OP.LONG4, u32le(n), b)),
  fc.double().map((f): Step => (p) => p.float(f)),
  // strings and bytes, with true lengths or a lying length prefix
  smallText.map((s): Step => (p) => p.str(s)),
  fc.uint8Array({ maxLength: 12 }).map((b): Step => (p) => p.bytes(b)),
  fc.tuple(fc.constantFrom(OP.BINUNICODE, OP.BINBYTES, OP.BINSTRING), fc.integer({ min: 0, max: 2 ** 32 - 1 }), fc.uint8Array({ maxLength: 6 }))
    .map(([code, n, b]): Step => (p) => p.raw(code, u32le(n), b)),
  fc.tuple(fc.constantFrom(OP.SHORT_BINUNICODE, OP.SHORT_BINBYTES, OP.SHORT_BINSTRING), u8, fc.uint8Array({ maxLength: 6 }))
    .map(([code, n, b]): Step => (p) => p.raw(code, n, b)),
  fc.tuple(fc.constantFrom(OP.BINUNICODE8, OP.BINBYTES8, OP.BYTEARRAY8, OP.FRAME), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }))
    .map(([code, n]): Step => (p) => { const b = new Uint8Array(8); new DataView(b.buffer).setBigUint64(0, n, true); p.raw(code, b); }),
  // protocol 0 text arguments
  fc.tuple(fc.constantFrom(OP.INT, OP.LONG, OP.FLOAT, OP.STRING, OP.UNICODE, OP.PUT, OP.GET, OP.PERSID),
    fc.oneof(fc.constantFrom('01', '00', '7', '-3', '99999999999999999999L', "'a'", '"b\\n"', '\\u0041', '\\U0010ffff', '\\U7fffffff', 'nan', '1e400', '0x10'),
      fc.string({ unit: 'grapheme-ascii', maxLength: 10 })))
    .map(([code, text]): Step => (p) => p.line(code, text)),
  // containers and the stack
  fc.constantFrom<Step>(...[OP.MARK, OP.MARK, OP.EMPTY_LIST, OP.EMPTY_DICT, OP.EMPTY_TUPLE, OP.EMPTY_SET, OP.TUPLE, OP.TUPLE1, OP.TUPLE2,
    OP.TUPLE3, OP.LIST, OP.DICT, OP.FROZENSET, OP.APPEND, OP.APPENDS, OP.SETITEM, OP.SETITEMS, OP.ADDITEMS, OP.POP, OP.POP_MARK,
    OP.DUP, OP.MEMOIZE, OP.REDUCE, OP.BUILD, OP.NEWOBJ, OP.NEWOBJ_EX, OP.OBJ, OP.BINPERSID, OP.STACK_GLOBAL].map((c) => (p: Writer) => p.op(c))),
  memoSlot.map((i): Step => (p) => p.put(i)),
  memoSlot.map((i): Step => (p) => p.get(i)),
  // globals, as GLOBAL, STACK_GLOBAL or INST
  anyGlobal.map(([m, n]): Step => (p) => p.global(m, n)),
  anyGlobal.map(([m, n]): Step => (p) => p.str(m).str(n).op(OP.STACK_GLOBAL)),
  anyGlobal.map(([m, n]): Step => (p) => p.raw(OP.INST, new TextEncoder().encode(`${m}\n${n}\n`))),
  // a whole tensor, as torch pickles one (persistent id included)
  fc.record({ numel: fc.integer({ min: 0, max: 64 }), shape: fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 3 }), offset: fc.integer({ min: 0, max: 8 }) })
    .map((t): Step => (p) => p.tensor({ key: '0', ...t })),
  // rare and unsupported opcodes, and any byte at all
  fc.tuple(fc.constantFrom(OP.EXT1, OP.EXT2, OP.EXT4, OP.NEXT_BUFFER, OP.READONLY_BUFFER, OP.PROTO, OP.STOP), u8).map(([c, b]): Step => (p) => p.raw(c, b)),
  u8.map((b): Step => (p) => p.raw(b)),
);

/** A stream: PROTO (usually), the steps, STOP (usually). */
export const streamArb: fc.Arbitrary<Uint8Array> = fc.record({
  proto: fc.option(fc.integer({ min: 0, max: 6 }), { freq: 5 }),
  steps: fc.array(stepArb, { maxLength: 60 }),
  stop: fc.boolean(),
}).map(({ proto, steps, stop }) => {
  const p = new Pickle() as Writer;
  if (proto !== null) p.proto(proto);
  for (const s of steps) s(p);
  if (stop) p.stop();
  return p.toBytes();
});

/**
 * Streams that reach a dangerous global the ways exploits do: GLOBAL / STACK_GLOBAL / INST then a
 * call (REDUCE, NEWOBJ, OBJ, BUILD), behind benign values or inside containers. The reader must
 * refuse every one of them.
 */
export const exploitArb: fc.Arbitrary<Uint8Array> = fc.record({
  target: opName(DANGEROUS_GLOBALS),
  how: fc.constantFrom('global-reduce', 'stack-global-reduce', 'inst', 'obj', 'newobj', 'build', 'in-dict', 'memo'),
  before: fc.array(fc.constantFrom<Step>((p) => p.none(), (p) => p.int(5), (p) => p.str('x'), (p) => p.op(OP.EMPTY_DICT)), { maxLength: 3 }),
  arg: fc.constantFrom('touch /tmp/dnf-fuzz-pwned', 'import os; os.system("id")', ''),
}).map(({ target: [m, n], how, before, arg }) => {
  const p = new Pickle().proto(2) as Writer;
  p.mark();
  for (const b of before) b(p);
  p.op(OP.POP_MARK);
  const args = () => { p.mark(); p.str(arg); p.op(OP.TUPLE); };
  switch (how) {
    case 'global-reduce': p.global(m, n); args(); p.op(OP.REDUCE); break;
    case 'stack-global-reduce': p.str(m).str(n).op(OP.STACK_GLOBAL); args(); p.op(OP.REDUCE); break;
    case 'inst': p.mark().str(arg).raw(OP.INST, new TextEncoder().encode(`${m}\n${n}\n`)); break;
    case 'obj': p.mark().global(m, n).str(arg).op(OP.OBJ); break;
    case 'newobj': p.global(m, n); args(); p.op(OP.NEWOBJ); break;
    case 'build': p.global('argparse', 'Namespace').op(OP.EMPTY_TUPLE).op(OP.REDUCE).global(m, n).op(OP.BUILD); break;
    case 'in-dict': p.op(OP.EMPTY_DICT).str('state_dict').global(m, n); args(); p.op(OP.REDUCE).op(OP.SETITEM); break;
    case 'memo': p.global(m, n).put(0).op(OP.POP).get(0); args(); p.op(OP.REDUCE); break;
  }
  return p.stop().toBytes();
});

/** A value tree, written with the opcodes torch.save would use for it. */
type Tree = { t: 'leaf'; step: Step } | { t: 'list' | 'tuple' | 'set' | 'frozenset'; items: Tree[] } | { t: 'dict' | 'odict'; items: Array<[Tree, Tree]> }
  | { t: 'call'; global: [string, string]; args: Tree[] } | { t: 'memo'; slot: number; value: Tree } | { t: 'get'; slot: number };

const leafArb: fc.Arbitrary<Tree> = fc.oneof(
  fc.constantFrom<Step>((p) => p.none(), (p) => p.bool(true), (p) => p.int(3), (p) => p.int(2n ** 70n), (p) => p.float(0.5), (p) => p.str('weight'), (p) => p.bytes(Uint8Array.of(1, 2))),
  fc.record({ numel: fc.integer({ min: 0, max: 16 }), shape: fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 3 }) }).map((t): Step => (p) => p.tensor({ key: '0', ...t })),
).map((step) => ({ t: 'leaf' as const, step }));

const treeArb: fc.Arbitrary<Tree> = fc.letrec<{ tree: Tree }>((tie) => ({
  tree: fc.oneof({ depthSize: 'small', withCrossShrink: true },
    leafArb,
    fc.record({ t: fc.constantFrom('list' as const, 'tuple' as const, 'set' as const, 'frozenset' as const), items: fc.array(tie('tree'), { maxLength: 4 }) }),
    fc.record({ t: fc.constantFrom('dict' as const, 'odict' as const), items: fc.array(fc.tuple(tie('tree'), tie('tree')), { maxLength: 4 }) }),
    fc.record({ t: fc.constant('call' as const), global: anyGlobal, args: fc.array(tie('tree'), { maxLength: 3 }) }),
    fc.record({ t: fc.constant('memo' as const), slot: fc.integer({ min: 0, max: 3 }), value: tie('tree') }),
    fc.record({ t: fc.constant('get' as const), slot: fc.integer({ min: 0, max: 3 }) }),
  ),
})).tree;

function emit(p: Writer, tree: Tree): void {
  switch (tree.t) {
    case 'leaf': tree.step(p); break;
    case 'list': p.op(OP.EMPTY_LIST).mark(); tree.items.forEach((x) => emit(p, x)); p.op(OP.APPENDS); break;
    case 'tuple': p.mark(); tree.items.forEach((x) => emit(p, x)); p.op(OP.TUPLE); break;
    case 'set': p.op(OP.EMPTY_SET).mark(); tree.items.forEach((x) => emit(p, x)); p.op(OP.ADDITEMS); break;
    case 'frozenset': p.mark(); tree.items.forEach((x) => emit(p, x)); p.op(OP.FROZENSET); break;
    case 'dict': case 'odict':
      if (tree.t === 'odict') p.global('collections', 'OrderedDict').op(OP.EMPTY_TUPLE).op(OP.REDUCE); else p.op(OP.EMPTY_DICT);
      p.mark(); tree.items.forEach(([k, v]) => { emit(p, k); emit(p, v); }); p.op(OP.SETITEMS); break;
    case 'call': p.global(...tree.global).mark(); tree.args.forEach((x) => emit(p, x)); p.op(OP.TUPLE).op(OP.REDUCE); break;
    case 'memo': emit(p, tree.value); p.put(tree.slot); break;
    case 'get': p.get(tree.slot); break;
  }
}

/** Well-formed pickles of value trees, sometimes with a random step spliced in. */
export const treeStreamArb: fc.Arbitrary<Uint8Array> = fc.record({
  tree: treeArb,
  splice: fc.option(fc.tuple(fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }), stepArb), { freq: 3 }),
}).map(({ tree, splice }) => {
  const p = new Pickle().proto(2) as Writer;
  emit(p, tree);
  const bytes = p.stop().toBytes();
  if (!splice) return bytes;
  const extra = new Pickle() as Writer;
  splice[1](extra);
  const at = Math.floor(splice[0] * bytes.length);
  const e = extra.toBytes();
  const out = new Uint8Array(bytes.length + e.length);
  out.set(bytes.subarray(0, at)); out.set(e, at); out.set(bytes.subarray(at), at + e.length);
  return out;
});
