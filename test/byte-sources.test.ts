/**
 * Bytes in memory in every shape they come in: Node Buffers (readFileSync, slices of Node's pool at
 * odd byte offsets), Uint8Array views at odd offsets, SharedArrayBuffer views. Whatever the
 * alignment, and although a Buffer's slice() is a view rather than a copy, every reader returns the
 * same numbers: safetensors (tensors at unaligned offsets, as `dnf convert --keep-dtype` writes
 * them) and torch checkpoints in both formats (fixtures from PyTorch 1.13, see torch-checkpoint.test.ts).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { bytesToF32, checkpointToTensors } from '../src/weights/convert.js';
import { SafetensorsFile, bytesSource, serializeSafetensors, type Dtype } from '../src/weights/safetensors.js';

const DIR = join(import.meta.dirname, 'fixtures', 'checkpoints');
const tmp = mkdtempSync(join(tmpdir(), 'dnf-sources-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** The same bytes as each kind of in-memory source holds them. */
function shapes(bytes: Uint8Array, file: string): Array<[string, Uint8Array]> {
  const path = join(tmp, file);
  writeFileSync(path, bytes);
  const odd = (n: number) => { // an ArrayBuffer view starting at byte n
    const u = new Uint8Array(new ArrayBuffer(bytes.length + n), n, bytes.length);
    u.set(bytes);
    return u;
  };
  const shared = new Uint8Array(new SharedArrayBuffer(bytes.length + 5), 5, bytes.length);
  shared.set(bytes);
  const pooled = Buffer.concat([Buffer.from([0xee]), Buffer.from(bytes)]).subarray(1); // a Buffer at an odd offset
  const unsafe = Buffer.allocUnsafe(bytes.length + 3).subarray(3);
  unsafe.set(bytes);
  const small = Buffer.from(bytes.subarray(0, Math.min(bytes.length, 64))); // from Node's shared pool
  expect(small.buffer.byteLength).toBeGreaterThan(small.length);
  return [
    ['Uint8Array', new Uint8Array(bytes)],
    ['readFileSync Buffer', readFileSync(path)],
    ['Buffer at byteOffset 1', pooled],
    ['allocUnsafe Buffer at byteOffset 3', unsafe],
    ['Uint8Array at byteOffset 1', odd(1)],
    ['Uint8Array at byteOffset 3', odd(3)],
    ['SharedArrayBuffer view at byteOffset 5', shared],
  ];
}

describe('safetensors from any in-memory bytes', () => {
  // F16 first, so that every tensor after it starts at an odd multiple of 2 bytes.
  const tensors: Array<{ name: string; dtype: Dtype; values: number[] }> = [
    { name: 'h', dtype: 'F16', values: [1, -2, 0.5] },
    { name: 'f', dtype: 'F32', values: [1.5, -2.25, 3, 1e-3, 7] },
    { name: 'd', dtype: 'F64', values: [0.1, -1e10] },
    { name: 'b', dtype: 'U8', values: [1] },
    { name: 'i', dtype: 'I64', values: [-5, 2 ** 40] },
    { name: 'g', dtype: 'BF16', values: [2, -0.5] },
    { name: 'j', dtype: 'I32', values: [-7, 9] },
  ];
  const data = (dtype: Dtype, v: number[]): ArrayBufferView => {
    switch (dtype) {
      case 'F32': return Float32Array.from(v);
      case 'F64': return Float64Array.from(v);
      case 'U8': return Uint8Array.from(v);
      case 'I32': return Int32Array.from(v);
      case 'I64': return BigInt64Array.from(v.map(BigInt));
      case 'F16': return Uint16Array.from(v.map((x) => ({ 1: 0x3c00, [-2]: 0xc000, 0.5: 0x3800 } as Record<number, number>)[x]));
      case 'BF16': return Uint16Array.from(v.map((x) => new Uint32Array(Float32Array.of(x).buffer)[0] >>> 16));
      default: throw new Error(dtype);
    }
  };
  const file = serializeSafetensors(tensors.map((t) => ({ name: t.name, dtype: t.dtype, shape: [t.values.length], data: data(t.dtype, t.values) })));

  it('places tensors at unaligned offsets (the case under test)', async () => {
    const f = await SafetensorsFile.open(bytesSource('x', file));
    expect(f.info('f').byteOffset % 4).not.toBe(0);
    expect(f.info('d').byteOffset % 8).not.toBe(0);
  });

  for (const [kind, bytes] of shapes(file, 'unaligned.safetensors')) {
    it(`reads every dtype exactly from a ${kind}`, async () => {
      const f = await SafetensorsFile.open(bytesSource('unaligned.safetensors', bytes));
      for (const t of tensors) {
        expect([...(await f.readF32(t.name))], `${t.name} (${t.dtype})`).toEqual(t.values.map((v) => Math.fround(v)));
        const raw = await f.read(t.name);
        expect([...bytesToF32(t.dtype, raw)], t.name).toEqual(t.values.map((v) => Math.fround(v)));
      }
      const conv = await checkpointToTensors(bytesSource('unaligned.safetensors', bytes), { keepIntegers: true });
      for (const t of conv.tensors) {
        const want = tensors.find((x) => x.name === t.name)!;
        const got = [...bytesToF32(t.dtype, new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength))];
        expect(got, t.name).toEqual(want.values.map((v) => Math.fround(v)));
      }
    });
  }
});

describe('torch checkpoints from any in-memory bytes', () => {
  const expectedBytes = readFileSync(join(DIR, 'expected.safetensors'));
  for (const fixture of ['sd.legacy.pt', 'sd.zip.pt', 'sd.deflate.pt', 'wrapped.legacy.pt', 'list.legacy.ckpt']) {
    for (const [kind, bytes] of shapes(new Uint8Array(readFileSync(join(DIR, fixture))), fixture)) {
      it(`reads ${fixture} from a ${kind}`, async () => {
        const expected = await SafetensorsFile.open(bytesSource('expected.safetensors', expectedBytes));
        for (const keepDtype of [false, true]) {
          const conv = await checkpointToTensors(bytesSource(fixture, bytes), { keepIntegers: true, keepDtype });
          expect(conv.tensors.length).toBeGreaterThan(10);
          for (const t of conv.tensors) {
            const got = bytesToF32(t.dtype, new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
            expect([...got], `${t.name} (keepDtype ${keepDtype})`).toEqual([...(await expected.readF32(t.name))]);
          }
        }
      });
    }
  }
});
