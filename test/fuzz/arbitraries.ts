/**
 * Generators shared by the fuzzers: byte mutations (set, insert, delete, truncate, an interesting
 * 16/32-bit value written over a field), names, and small state dicts. The format-specific
 * generators live beside their fuzzers.
 */
import fc from 'fast-check';
import { DTYPE_SIZES, type Dtype, type TensorToWrite } from '../../src/weights/safetensors.js';

export type Mutation =
  | { kind: 'set'; at: number; value: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'delete'; at: number; length: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'word'; at: number; value: number; width: 2 | 4 };

/** Values that break size and offset arithmetic when written over a field. */
export const INTERESTING = [0, 1, 2, 7, 8, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff];

/** Positions are fractions of the length, so that one mutation fits inputs of any size. */
const position = fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true });

export const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('set' as const), at: position, value: fc.integer({ min: 0, max: 255 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('insert' as const), at: position, bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('delete' as const), at: position, length: fc.integer({ min: 1, max: 16 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('truncate' as const), at: position }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('word' as const), at: position,
      value: fc.oneof(fc.constantFrom(...INTERESTING), fc.integer({ min: 0, max: 0xffffffff })), width: fc.constantFrom(2 as const, 4 as const),
    }),
  },
);

/** Applies mutations in order to a copy of `bytes`. */
export function mutate(bytes: Uint8Array, mutations: readonly Mutation[]): Uint8Array {
  let b = new Uint8Array(bytes);
  for (const m of mutations) {
    const at = Math.floor(m.at * b.length);
    switch (m.kind) {
      case 'set': if (b.length) b[at] = m.value; break;
      case 'insert': { const out = new Uint8Array(b.length + m.bytes.length); out.set(b.subarray(0, at)); out.set(m.bytes, at); out.set(b.subarray(at), at + m.bytes.length); b = out; break; }
      case 'delete': b = new Uint8Array([...b.subarray(0, at), ...b.subarray(at + m.length)]); break;
      case 'truncate': b = b.slice(0, at); break;
      case 'word': writeWord(b, at, m.value, m.width); break;
    }
  }
  return b;
}

/** Writes a little-endian 16- or 32-bit value at `at`, as far as it fits. */
export function writeWord(b: Uint8Array, at: number, value: number, width: 2 | 4): void {
  for (let i = 0; i < width && at + i < b.length; i++) b[at + i] = (value >>> (8 * i)) & 0xff;
}

/** Mutations of `base`: 1 to `max` of them. */
export const mutationsArb = (max = 4) => fc.array(mutationArb, { minLength: 1, maxLength: max });

/** Names as checkpoints have them, plus odd ones (empty, control characters, unicode, long). */
export const nameArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 6, arbitrary: fc.stringMatching(/^[a-z_]{1,6}(\.[a-z0-9_]{1,6}){0,4}$/) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 12 }) },
  { weight: 1, arbitrary: fc.constantFrom('', '__metadata__', '__proto__', 'constructor', 'module.', 'num_batches_tracked', 'a\nb', '"\\') },
  { weight: 1, arbitrary: fc.integer({ min: 200, max: 3000 }).map((n) => 'n'.repeat(n)) },
);

export const DTYPES = Object.keys(DTYPE_SIZES) as Dtype[];
export const dtypeArb = fc.constantFrom(...DTYPES);
export const shapeArb = fc.array(fc.integer({ min: 0, max: 5 }), { maxLength: 4 });

/** A small tensor with random bytes of the right length. */
export const tensorArb = (name: fc.Arbitrary<string> = nameArb): fc.Arbitrary<TensorToWrite> =>
  fc.record({ name, dtype: dtypeArb, shape: shapeArb }).chain(({ name: n, dtype, shape }) => {
    const bytes = shape.reduce((a, d) => a * d, 1) * DTYPE_SIZES[dtype];
    return fc.uint8Array({ minLength: bytes, maxLength: bytes }).map((data) => ({ name: n, dtype, shape, data }));
  });

/** 1 to `max` tensors with distinct names (usable as a state dict). */
export const stateDictArb = (max = 6) => fc.uniqueArray(tensorArb(), { minLength: 1, maxLength: max, selector: (t) => t.name })
  .map((ts) => ts.filter((t) => t.name !== '' && t.name !== '__metadata__'))
  .filter((ts) => ts.length > 0);
