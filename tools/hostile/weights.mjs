// Hostile weights files: small files that once cost far more than their size to read (heap
// exhaustion, minutes of CPU, stack overflows, 2 GiB allocations, 50 KB error lines). Each is built
// from the opcode and container writers in writers.mjs, around a real state dict layout (a tensor
// saved the way torch.save saves it), and test/hostile-weights.test.ts checks that the readers refuse
// it quickly, in bounded memory, with a one-line DnfError naming the file.
//
//   node tools/hostile/weights.mjs <folder>     writes every file into <folder>
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { OP, Pickle, concat, deflatedZeros, legacyCheckpoint, pickle, safetensorsFile, zipCheckpoint } from './writers.mjs';

const floats = (values) => new Uint8Array(Float32Array.from(values).buffer);
const STORAGE = { key: '0', bytes: floats([1, 2, 3, 4]), numel: 4 };
const tensor = (p) => p.tensor({ key: '0', numel: 4, shape: [4] });

/** {'state_dict': {'w': tensor}, 'extra': <what `extra` pushes>} as a legacy checkpoint. */
function legacyWith(extra) {
  const object = pickle((p) => p.dict((q) => {
    q.str('state_dict').dict((r) => { r.str('w'); tensor(r); }, true);
    q.str('extra'); extra(q);
  }));
  return legacyCheckpoint(object, [STORAGE]);
}

/** A list of `n` items pushed by `item`, memoised in slot `slot`. */
function bigList(p, n, item, slot) {
  p.op(OP.EMPTY_LIST).put(slot).mark();
  for (let i = 0; i < n; i++) item(p);
  return p.op(OP.APPENDS);
}

/** Each hostile file: its name, bytes, and what the refusal says. */
export function hostileFiles() {
  return [
    {
      // A million Nones in one list, then builtins.set(L) again and again: each call copies L.
      name: 'set-over-huge-list.legacy.pt',
      bytes: legacyWith((p) => {
        p.mark();
        bigList(p, 1_000_000, (q) => q.none(), 1).op(OP.POP);
        p.global('builtins', 'set').put(2).op(OP.POP);
        for (let i = 0; i < 10_000; i++) p.get(2).get(1).op(OP.TUPLE1).op(OP.REDUCE).op(OP.POP);
        p.get(1).op(OP.TUPLE);
      }),
      expect: /builds far more data than its size explains/,
    },
    {
      // 500,000 references to one (key, value) pair, then OrderedDict(L) again and again.
      name: 'ordereddict-over-huge-list.legacy.pt',
      bytes: legacyWith((p) => {
        p.mark();
        p.str('k').none().op(OP.TUPLE2).put(3).op(OP.POP);
        bigList(p, 500_000, (q) => q.get(3), 1).op(OP.POP);
        p.global('collections', 'OrderedDict').put(2).op(OP.POP);
        for (let i = 0; i < 10_000; i++) p.get(2).get(1).op(OP.TUPLE1).op(OP.REDUCE).op(OP.POP);
        p.get(1).op(OP.TUPLE);
      }),
      expect: /builds far more data than its size explains/,
    },
    {
      // Sixteen integers of 64 KB each (parsing them byte by byte into a BigInt is quadratic).
      name: 'many-long4.legacy.pt',
      bytes: legacyWith((p) => p.tuple((q) => {
        for (let i = 0; i < 16; i++) q.long4(new Uint8Array(65536).fill(0x5a + i));
      })),
      expect: /integers of more than \d+ bytes in all/,
    },
    {
      // A 157,000-digit integer where the legacy protocol version should be (its decimal text
      // would be the whole error line).
      name: 'huge-int-version.legacy.pt',
      bytes: legacyCheckpoint(pickle((p) => p.dict((q) => { q.str('w'); tensor(q); })), [STORAGE],
        { version: pickle((p) => p.long4(new Uint8Array(65216).fill(0x77))) }),
      expect: /unsupported protocol version an integer of \d+ bits/,
    },
    {
      // The same number as protocol 0 text (LONG opcode, 157,000 decimal digits).
      name: 'huge-decimal-int.legacy.pt',
      bytes: legacyWith((p) => p.line(OP.LONG, `${'7'.repeat(157_000)}L`)),
      expect: /bad LONG/,
    },
    {
      // A state dict key nested 10,000 tuples deep: ((((('w',),),),),...).
      name: 'deep-tuple-key.legacy.pt',
      bytes: legacyCheckpoint(pickle((p) => p.dict((q) => {
        q.str('w');
        for (let i = 0; i < 10_000; i++) q.op(OP.TUPLE1);
        tensor(q);
      })), [STORAGE]),
      expect: /nested more than 1000 levels deep/,
    },
    {
      // Lists nested 100,000 deep, built top-down (each list appended into after it was nested),
      // so that no depth is known while unpickling: whatever reads the object must stay bounded.
      name: 'deep-list-topdown.legacy.pt',
      bytes: legacyCheckpoint(pickle((p) => {
        p.op(OP.EMPTY_DICT).op(OP.EMPTY_LIST).put(1).op(OP.TUPLE1).none().op(OP.SETITEM); // {(A,): None}
        for (let i = 0; i < 100_000; i++) { // the deepest list so far gets a new, empty one
          p.get(1 + (i % 2)).op(OP.EMPTY_LIST).put(2 - (i % 2)).op(OP.APPEND).op(OP.POP);
        }
      }), []),
      expect: /no state dict of tensors found \(the checkpoint holds a dict with keys \(+\.\.\.\)/,
    },
    {
      // A zip checkpoint whose storage entry (deflated, 2.1 MB) declares 2 GiB for a 16-byte tensor.
      name: 'zip-entry-2gib.pt',
      bytes: zipCheckpoint(pickle((p) => p.dict((q) => { q.str('w'); tensor(q); }, true)), [{
        ...STORAGE, method: 8, size: 2 ** 31, compressed: noise(2_100_000),
      }]).bytes,
      expect: /storage '0' declares 2147483648 bytes in the archive for 16 bytes of data/,
    },
    {
      // The same, with a storage that claims 2 GiB too and a tensor at its very end.
      name: 'zip-storage-2gib.pt',
      bytes: zipCheckpoint(pickle((p) => p.dict((q) => {
        q.str('w').tensor({ key: '0', numel: 2 ** 29, shape: [4], offset: 2 ** 29 - 4 });
      }, true)), [{ ...STORAGE, method: 8, size: 2 ** 31, compressed: noise(2_100_000) }]).bytes,
      expect: /would inflate its compressed entries to more than \d+ MiB, far more than a checkpoint of \d+ bytes holds/,
    },
    {
      // A safetensors tensor with a 50 KB name and an unknown dtype: the name is the error line.
      name: 'long-name.safetensors',
      bytes: safetensorsFile({ ['w'.repeat(50_000)]: { dtype: 'F8', shape: [4], data_offsets: [0, 16] } }, floats([1, 2, 3, 4])),
      expect: /tensor "w{60}\.\.\." has unsupported dtype "F8"/,
    },
    {
      // A state dict key of 50 KB whose value is an object that cannot be read.
      name: 'long-key.zip.pt',
      bytes: zipCheckpoint(pickle((p) => p.dict((q) => {
        q.str('w'); tensor(q);
        q.str('x'.repeat(50_000)).global('numpy', 'ndarray').op(OP.EMPTY_TUPLE).op(OP.REDUCE);
      }, true)), [STORAGE]).bytes,
      expect: /refuses to load global 'numpy\.ndarray' .* for 'x{100}\.\.\.' in the state dict/,
    },
    {
      // A storage key of 50 KB that is not in the archive.
      name: 'long-storage-key.zip.pt',
      bytes: zipCheckpoint(pickle((p) => p.dict((q) => {
        q.str('w').tensor({ key: 'k'.repeat(50_000), numel: 4, shape: [4] });
      }, true)), [STORAGE]).bytes,
      expect: /storage 'k{100}\.\.\.' is missing from the archive/,
    },
  ];
}

/**
 * Not hostile, but large behind a small file: a 130 KB zip checkpoint whose deflated storage holds
 * 128 MiB of zeros, with a 4-float tensor at its start. Reading it inflates a few KB, not 128 MiB.
 */
export function deflatedStorageFile() {
  const mib = 128;
  return {
    name: 'deflated-128mib-storage.pt',
    bytes: zipCheckpoint(pickle((p) => p.dict((q) => { q.str('w').tensor({ key: '0', numel: mib * 2 ** 18, shape: [4] }); }, true)), [{
      key: '0', bytes: new Uint8Array(0), method: 8, size: mib * 2 ** 20, compressed: deflatedZeros(mib),
    }]).bytes,
  };
}

/** Deterministic incompressible bytes (xorshift32). */
function noise(n, seed = 1) {
  const out = new Uint8Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s ^= s << 13; s ^= s >>> 17; s ^= s << 5;
    out[i] = s & 255;
  }
  return out;
}

export { concat };

if (import.meta.url === `file://${process.argv[1]}`) {
  const dir = process.argv[2];
  if (!dir) {
    console.error('usage: node tools/hostile/weights.mjs <folder>');
    process.exit(2);
  }
  mkdirSync(dir, { recursive: true });
  for (const f of [...hostileFiles(), deflatedStorageFile()]) {
    writeFileSync(join(dir, f.name), f.bytes);
    console.log(`${f.name}: ${f.bytes.length} bytes`);
  }
}
