/**
 * Fuzzes the safetensors reader (SafetensorsFile.open, then every tensor read as bytes and as
 * float32) with structured headers (JSON objects whose dtypes, shapes, offsets and metadata are
 * right, nearly right or wrong, with declared header lengths that may lie) and with byte mutations
 * of valid files.
 */
import fc from 'fast-check';
import { it } from 'vitest';
import { DTYPE_SIZES, SafetensorsFile, bytesSource, serializeSafetensors } from '../../src/weights/safetensors.js';
// @ts-expect-error: a plain .mjs tool, without type declarations
import { safetensorsFile } from '../../tools/hostile/writers.mjs';
import { DTYPES, mutate, mutationsArb, nameArb, stateDictArb } from './arbitraries.js';
import { fuzzReader, fuzzRuns } from './harness.js';

const FILE = 'fuzz.safetensors';

/** A dtype as written, or a wrong one. */
const dtypeField = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom(...DTYPES) },
  { weight: 1, arbitrary: fc.constantFrom('F8', 'f32', 'F32 ', 'U16', 'complex64', '', 'constructor', 'toString') },
  { weight: 1, arbitrary: fc.constantFrom(null, 4, true, ['F32'], { F32: 1 }) },
);
/** A dimension: usually small, sometimes anything JSON can hold. */
const dimField = fc.oneof(
  { weight: 8, arbitrary: fc.integer({ min: 0, max: 6 }) },
  { weight: 1, arbitrary: fc.constantFrom(-1, 1.5, 2 ** 53, 2 ** 60, 1e308, '3', null, [2]) },
);
const shapeField = fc.oneof(
  { weight: 8, arbitrary: fc.array(dimField, { maxLength: 4 }) },
  { weight: 1, arbitrary: fc.constantFrom(null, 3, 'x', {}, [[[[[1]]]]]) },
  { weight: 1, arbitrary: fc.integer({ min: 60, max: 5000 }).map((n) => new Array<number>(n).fill(1)) },
);

interface Entry { name: string; dtype: unknown; shape: unknown; offsets: 'right' | 'swap' | 'short' | 'long' | 'overlap' | 'huge' | 'three' | 'string' }
const entryArb: fc.Arbitrary<Entry> = fc.record({
  name: nameArb,
  dtype: dtypeField,
  shape: shapeField,
  offsets: fc.oneof(
    { weight: 10, arbitrary: fc.constant('right' as const) },
    { weight: 1, arbitrary: fc.constantFrom('swap' as const, 'short' as const, 'long' as const, 'overlap' as const, 'huge' as const, 'three' as const, 'string' as const) },
  ),
});

/** A header from entries (offsets computed, then spoiled as each entry says) and the data after it. */
function build(entries: Entry[], metadata: unknown, extra: number) {
  const header: Record<string, unknown> = {};
  if (metadata !== undefined) header.__metadata__ = metadata;
  let at = 0;
  let prev = 0;
  for (const e of entries) {
    const size = typeof e.dtype === 'string' && e.dtype in DTYPE_SIZES && Array.isArray(e.shape)
      ? e.shape.reduce((a: number, d) => a * (typeof d === 'number' && d >= 0 && d < 1e6 ? d : 1), 1) * DTYPE_SIZES[e.dtype as keyof typeof DTYPE_SIZES] : 4;
    const right = [at, at + size];
    const offs = {
      right, swap: [at + size, at], short: [at, at + size - 1], long: [at, at + size + 1], overlap: [prev, prev + size],
      huge: [2 ** 53 - 1, 2 ** 53 + size], three: [at, at + size, 0], string: [String(at), String(at + size)],
    }[e.offsets];
    header[e.name] = { dtype: e.dtype, shape: e.shape, data_offsets: offs };
    prev = at;
    at += Math.min(size, 1 << 16);
  }
  return { header, dataLength: Math.max(0, at + extra) };
}

const metadataArb = fc.oneof(
  { weight: 4, arbitrary: fc.constant(undefined) },
  { weight: 4, arbitrary: fc.dictionary(nameArb, fc.string({ maxLength: 20 }), { maxKeys: 4 }) },
  { weight: 1, arbitrary: fc.constantFrom(null, [], 'x', { a: 1 }, { a: { b: 'c' } }, { __proto__: 'x' }) },
);

/** How the JSON text and its declared length are written. */
const framingArb = fc.record({
  padding: fc.integer({ min: 0, max: 9 }),
  lengthDelta: fc.oneof({ weight: 8, arbitrary: fc.constant(0) }, { weight: 2, arbitrary: fc.integer({ min: -9, max: 9 }) },
    { weight: 1, arbitrary: fc.constantFrom(2 ** 27, 2 ** 40, 2 ** 63 - 1) }),
  cut: fc.oneof({ weight: 9, arbitrary: fc.constant(1) }, { weight: 1, arbitrary: fc.double({ min: 0, max: 1, noNaN: true }) }),
});

const structuredArb = fc.record({
  entries: fc.array(entryArb, { maxLength: 6 }),
  metadata: metadataArb,
  extra: fc.integer({ min: -8, max: 8 }),
  framing: framingArb,
  seed: fc.integer({ min: 0, max: 255 }),
}).map(({ entries, metadata, extra, framing, seed }) => {
  const { header, dataLength } = build(entries, metadata, extra);
  const text = JSON.stringify(header) + ' '.repeat(framing.padding);
  const cut = text.slice(0, Math.floor(framing.cut * text.length));
  const length = new TextEncoder().encode(cut).length + framing.lengthDelta;
  const data = new Uint8Array(dataLength).map((_, i) => (i * 31 + seed) & 255);
  return safetensorsFile(null, data, { headerText: cut, length: Math.max(0, length) }) as Uint8Array;
});

const mutatedArb = fc.tuple(stateDictArb(5), mutationsArb(4), fc.dictionary(nameArb, fc.string({ maxLength: 8 }), { maxKeys: 2 }))
  .map(([tensors, muts, metadata]) => mutate(serializeSafetensors(tensors, metadata), muts));

async function read(bytes: Uint8Array) {
  const file = await SafetensorsFile.open(bytesSource(FILE, bytes));
  let values = 0;
  for (const name of file.names()) {
    const info = file.info(name);
    const raw = await file.read(name);
    const f32 = await file.readF32(name);
    if (raw.byteLength !== info.byteLength || f32.length * DTYPE_SIZES[info.dtype] !== info.byteLength) throw new Error(`${name}: sizes disagree`);
    values += f32.length;
  }
  return values;
}

it('safetensors: structured headers and mutated files give a result or a one-line DnfError', async () => {
  await fuzzReader('safetensors', fc.oneof(structuredArb, mutatedArb), read, {
    runs: fuzzRuns(2500), fileName: FILE, maxMs: 1500, maxHeapBytes: 128 * 2 ** 20,
  });
});
