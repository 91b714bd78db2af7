/**
 * Fuzzes the whole torch checkpoint path (readTorchCheckpoint, state dict extraction, every tensor
 * read) in both formats: legacy and zip checkpoints built opcode by opcode around generated state
 * dicts (tensors whose storages, dtypes, shapes, strides and offsets agree or not, shared storages,
 * wrapper dicts, extra objects, storage lists and element counts right or wrong, DEFLATE storages),
 * checkpoints from the project's writer, the PyTorch 1.13 fixtures, byte mutations of all of these,
 * and checkpoints whose pickle reaches a dangerous global, which must be refused as such.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { expect, it } from 'vitest';
import { checkpointToTensors } from '../../src/weights/convert.js';
import { DTYPE_SIZES, bytesSource } from '../../src/weights/safetensors.js';
import { serializeTorchCheckpoint, stateDictObject } from '../../src/weights/torch-writer.js';
// @ts-expect-error: a plain .mjs tool, without type declarations
import { OP, Pickle, legacyCheckpoint, zipCheckpoint } from '../../tools/hostile/writers.mjs';
import { mutate, mutationsArb, nameArb, stateDictArb } from './arbitraries.js';
import { fuzzReader, fuzzRuns } from './harness.js';
import { exploitArb } from './pickle-streams.js';

const FILE = 'fuzz.pt';
const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'checkpoints');
const STORAGE_TYPES: Record<string, number> = { FloatStorage: 4, HalfStorage: 2, DoubleStorage: 8, LongStorage: 8, ByteStorage: 1, BFloat16Storage: 2, BoolStorage: 1, IntStorage: 4 };

interface TensorSpec { name: string; storage: number; type: string; numel: number; shape: number[]; stride: number[] | null; offset: number }
const tensorSpecArb: fc.Arbitrary<TensorSpec> = fc.record({
  name: nameArb,
  storage: fc.integer({ min: 0, max: 3 }),
  type: fc.constantFrom(...Object.keys(STORAGE_TYPES), 'FloatStorage', 'FloatStorage', 'UntypedStorage'),
  // -1: just what the shape and offset need (a consistent tensor)
  numel: fc.oneof({ weight: 8, arbitrary: fc.constant(-1) }, { weight: 3, arbitrary: fc.integer({ min: 0, max: 24 }) }, { weight: 1, arbitrary: fc.constantFrom(2 ** 31, 2 ** 53 - 1) }),
  shape: fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 3 }),
  stride: fc.option(fc.array(fc.integer({ min: 0, max: 12 }), { maxLength: 3 }), { freq: 6 }),
  offset: fc.oneof({ weight: 6, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 30 }) }),
});

interface CheckpointSpec {
  tensors: TensorSpec[]; wrapper: string | null; extras: number; asList: boolean; ordered: boolean;
  countLie: number; listLie: 'right' | 'missing' | 'extra' | 'twice'; deflate: boolean;
}
const specArb: fc.Arbitrary<CheckpointSpec> = fc.record({
  tensors: fc.array(tensorSpecArb, { minLength: 1, maxLength: 5 }),
  wrapper: fc.option(fc.constantFrom('state_dict', 'model', 'ema', 'net'), { freq: 2 }),
  extras: fc.integer({ min: 0, max: 3 }),
  asList: fc.boolean(),
  ordered: fc.boolean(),
  countLie: fc.oneof({ weight: 8, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: -2, max: 2 }) }),
  listLie: fc.oneof({ weight: 8, arbitrary: fc.constant('right' as const) }, { weight: 1, arbitrary: fc.constantFrom('missing' as const, 'extra' as const, 'twice' as const) }),
  deflate: fc.boolean(),
});

/** The object pickle of a spec and its storages (each sized by the largest numel that names it). */
function build(spec: CheckpointSpec) {
  const numel = new Map<number, { numel: number; type: string }>();
  const tensors = spec.tensors.map((t) => {
    // Strides as long as the shape, except now and then (a malformed tensor).
    const stride = t.stride && (t.stride.length === 3 ? t.stride : t.shape.map((_, i) => t.stride![i] ?? 1));
    const span = t.shape.some((d) => d === 0) ? 0 : stride ? t.shape.reduce((s, d, i) => s + (d - 1) * (stride[i] ?? 1), 1) : t.shape.reduce((a, b) => a * b, 1);
    return { ...t, stride, numel: t.numel >= 0 ? t.numel : t.offset + span };
  });
  spec = { ...spec, tensors };
  for (const t of spec.tensors) {
    const prev = numel.get(t.storage);
    if (!prev || prev.numel < t.numel) numel.set(t.storage, { numel: Math.min(t.numel, 1 << 12), type: prev?.type ?? t.type });
  }
  const p = new Pickle().proto(2);
  const sd = () => p.dict((q: typeof p) => {
    for (const t of spec.tensors) {
      q.str(t.name);
      const s = numel.get(t.storage)!;
      q.tensor({ key: String(t.storage), type: s.type, numel: t.numel, shape: t.shape, stride: t.stride ?? undefined, offset: t.offset });
    }
  }, spec.ordered);
  const extras = (q: typeof p) => {
    for (let i = 0; i < spec.extras; i++) {
      q.str(['optimizer', 'step', 'args'][i]);
      if (i === 0) q.op(OP.EMPTY_DICT); else if (i === 1) q.int(1234); else q.global('argparse', 'Namespace').op(OP.EMPTY_TUPLE).op(OP.REDUCE);
    }
  };
  if (spec.asList) {
    p.op(OP.EMPTY_LIST).mark(); sd(); p.int(7); p.op(OP.APPENDS);
  } else if (spec.wrapper) {
    p.dict((q: typeof p) => { q.str(spec.wrapper!); sd(); extras(q); });
  } else sd();
  const object = p.stop().toBytes();
  const storages = [...numel].map(([key, s]) => {
    const es = STORAGE_TYPES[s.type] ?? 1;
    const bytes = new Uint8Array(s.numel * es).map((_, i) => (i * 7 + key) & 255);
    return { key: String(key), bytes, numel: s.numel + spec.countLie, elementSize: es, method: spec.deflate ? 8 : 0 };
  });
  return { object, storages };
}

const legacyArb = fc.tuple(specArb, fc.option(mutationsArb(3), { freq: 3 })).map(([spec, muts]) => {
  const { object, storages } = build(spec);
  let listed = storages.map((s) => s.key);
  if (spec.listLie === 'missing') listed = listed.slice(1);
  if (spec.listLie === 'extra') listed = [...listed, '99'];
  if (spec.listLie === 'twice') listed = [...listed, ...listed.slice(0, 1)];
  const keys = new Pickle().proto(2).op(OP.EMPTY_LIST).mark();
  for (const k of listed) keys.str(k);
  const file = legacyCheckpoint(object, storages, { keys: keys.op(OP.APPENDS).stop().toBytes() }) as Uint8Array;
  return muts ? mutate(file, muts) : file;
});

const zipArb = fc.tuple(specArb, fc.option(mutationsArb(3), { freq: 3 })).map(([spec, muts]) => {
  const { object, storages } = build(spec);
  const file = (zipCheckpoint(object, storages.map((s) => ({ ...s, size: spec.countLie ? s.bytes.length + spec.countLie * 4 : undefined })), { method: spec.deflate ? 8 : 0 }) as { bytes: Uint8Array }).bytes;
  return muts ? mutate(file, muts) : file;
});

const writerArb = fc.tuple(stateDictArb(5), fc.constantFrom('model', '', 'checkpoint/model'), fc.option(mutationsArb(3), { freq: 2 }))
  .map(([tensors, key, muts]) => {
    const file = serializeTorchCheckpoint(stateDictObject(tensors, key));
    return muts ? mutate(file, muts) : file;
  });

const fixtures = ['sd.zip.pt', 'sd.legacy.pt', 'sd.zip64.pt', 'sd.deflate.pt', 'wrapped.legacy.pt', 'list.legacy.ckpt', 'numpy-in-sd.zip.pt']
  .map((f) => new Uint8Array(readFileSync(join(FIXTURES, f))));
const fixtureArb = fc.tuple(fc.constantFrom(...fixtures), mutationsArb(4)).map(([b, m]) => mutate(b, m));

/** An exploit stream as the object pickle of a legacy file, or as data.pkl of a zip. */
const exploitFileArb = fc.tuple(exploitArb, fc.boolean()).map(([pkl, zip]) =>
  zip ? (zipCheckpoint(pkl, []) as { bytes: Uint8Array }).bytes : legacyCheckpoint(pkl, []) as Uint8Array);

interface Case { bytes: Uint8Array; exploit: boolean; keepIntegers: boolean }

it('torch checkpoints: legacy and zip, built, written, real and mutated, give tensors or a one-line DnfError', async () => {
  const arb: fc.Arbitrary<Case> = fc.oneof(
    ...[legacyArb, zipArb, writerArb, fixtureArb].map((bytes) => ({ weight: 3, arbitrary: fc.record({ bytes, exploit: fc.constant(false), keepIntegers: fc.boolean() }) })),
    { weight: 1, arbitrary: fc.record({ bytes: exploitFileArb, exploit: fc.constant(true), keepIntegers: fc.boolean() }) },
  );
  const read = async (c: Case) => {
    try {
      return await checkpointToTensors(bytesSource(FILE, c.bytes), { keepIntegers: c.keepIntegers });
    } catch (e) {
      if (c.exploit && !/refuses to load global/.test((e as Error).message)) throw new Error(`an exploit was not refused as such: ${(e as Error).message}`);
      throw e;
    }
  };
  await fuzzReader('torch-checkpoint', arb, read, {
    runs: fuzzRuns(2000), fileName: FILE, maxMs: 1500, maxHeapBytes: 128 * 2 ** 20,
    validate: (result, c) => {
      if (c.exploit) throw new Error('an exploit was read without a refusal');
      const conv = result as Awaited<ReturnType<typeof checkpointToTensors>>;
      for (const t of conv.tensors) {
        const n = t.shape.reduce((a, b) => a * b, 1);
        if (t.data.byteLength !== n * DTYPE_SIZES[t.dtype]) throw new Error(`${t.name}: ${t.data.byteLength} bytes for shape [${t.shape}] of ${t.dtype}`);
      }
    },
  });
  expect(existsSync('/tmp/dnf-fuzz-pwned')).toBe(false);
});
