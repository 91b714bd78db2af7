/**
 * Fuzzes the ZIP reader (ZipReader.open, then every entry read whole and in part) with torch zip
 * checkpoints whose structures are changed field by field (local headers, central directory
 * entries, the end record: signatures, methods, sizes, name and extra lengths, offsets), with
 * stored and DEFLATE entries whose declared sizes may lie, with ZIP64 archives from the project's
 * writer, and with byte mutations of all of them.
 */
import fc from 'fast-check';
import { it } from 'vitest';
import { bytesSource } from '../../src/weights/safetensors.js';
import { serializeTorchCheckpoint, stateDictObject } from '../../src/weights/torch-writer.js';
import { ZipReader } from '../../src/weights/zip.js';
// @ts-expect-error: a plain .mjs tool, without type declarations
import { zipArchive } from '../../tools/hostile/writers.mjs';
import { INTERESTING, mutate, mutationsArb, stateDictArb, writeWord } from './arbitraries.js';
import { fuzzReader, fuzzRuns } from './harness.js';

const FILE = 'fuzz.zip';

/** Field offsets (from the header's start) and widths, as zipArchive lays them out. */
const LOCAL_FIELDS: Array<[number, 2 | 4]> = [[0, 4], [6, 2], [8, 2], [14, 4], [18, 4], [22, 4], [26, 2], [28, 2]];
const CENTRAL_FIELDS: Array<[number, 2 | 4]> = [[0, 4], [8, 2], [10, 2], [20, 4], [24, 4], [28, 2], [30, 2], [32, 2], [34, 2], [42, 4]];
const END_FIELDS: Array<[number, 2 | 4]> = [[0, 4], [4, 2], [6, 2], [8, 2], [10, 2], [12, 4], [16, 4], [20, 2]];

interface FieldEdit { where: 'local' | 'central' | 'end'; entry: number; field: number; value: number }
const fieldEditArb: fc.Arbitrary<FieldEdit> = fc.record({
  where: fc.constantFrom('local' as const, 'central' as const, 'end' as const),
  entry: fc.nat(),
  field: fc.nat(),
  value: fc.oneof(fc.constantFrom(...INTERESTING), fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 64 })),
});

/** A torch-like archive from zipArchive: storages stored or deflated, declared sizes true or not. */
const archiveArb = fc.record({
  tensors: stateDictArb(4),
  methods: fc.array(fc.constantFrom(0, 8, 8, 12), { minLength: 8, maxLength: 8 }),
  sizeLies: fc.array(fc.oneof({ weight: 30, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: -5, max: 5 }) },
    { weight: 1, arbitrary: fc.constantFrom(2 ** 31, 2 ** 32 - 1, 1 << 20) }), { minLength: 8, maxLength: 8 }),
  edits: fc.oneof(fc.constant([]), fc.array(fieldEditArb, { minLength: 1, maxLength: 3 })),
  mutations: fc.option(mutationsArb(3), { freq: 2 }),
}).map(({ tensors, methods, sizeLies, edits, mutations }) => {
  const enc = new TextEncoder();
  const files = [
    { name: 'archive/data.pkl', data: enc.encode('not a pickle, only bytes to store'), method: methods[0] === 12 ? 0 : methods[0] },
    { name: 'archive/byteorder', data: enc.encode('little') },
    ...tensors.map((t, i) => {
      const data = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
      const method = methods[(i + 1) % 8];
      const lie = sizeLies[i % 8];
      return { name: `archive/data/${i}`, data, method: method === 12 ? 8 : method, size: lie > 100 ? lie : Math.max(0, data.length + lie) };
    }),
  ];
  const { bytes, fields } = zipArchive(files) as { bytes: Uint8Array; fields: { entries: Array<{ local: number; central: number }>; end: number } };
  for (const e of edits) {
    const entry = fields.entries[e.entry % fields.entries.length];
    const [table, base] = e.where === 'local' ? [LOCAL_FIELDS, entry.local] : e.where === 'central' ? [CENTRAL_FIELDS, entry.central] : [END_FIELDS, fields.end];
    const [off, width] = table[e.field % table.length];
    writeWord(bytes, base + off, e.value, width);
  }
  return mutations ? mutate(bytes, mutations) : bytes;
});

/** Checkpoints from the project's writer, ZIP64 fields from a random threshold on, then mutated. */
const writerArb = fc.record({ tensors: stateDictArb(4), zip64From: fc.constantFrom(0, 1, 64, 0xffffffff), mutations: mutationsArb(4) })
  .map(({ tensors, zip64From, mutations }) => mutate(serializeTorchCheckpoint(stateDictObject(tensors), { zip64From }), mutations));

async function read(bytes: Uint8Array) {
  const zip = await ZipReader.open(bytesSource(FILE, bytes));
  let total = 0;
  for (const entry of zip.entries.values()) {
    const whole = await zip.read(entry);
    if (whole.length !== entry.size) throw new Error(`${entry.name}: read ${whole.length} of ${entry.size} bytes`);
    if (entry.size > 2) {
      const part = await zip.read(entry, 1, entry.size - 2);
      for (let i = 0; i < part.length; i++) if (part[i] !== whole[i + 1]) throw new Error(`${entry.name}: a partial read differs`);
    }
    total += whole.length;
  }
  return total;
}

it('zip: mutated archives give their entries or a one-line DnfError', async () => {
  await fuzzReader('zip', fc.oneof(archiveArb, writerArb), read, {
    runs: fuzzRuns(2000), fileName: FILE, maxMs: 1500, maxHeapBytes: 128 * 2 ** 20,
  });
});
