import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DnfError } from '../src/errors.js';
import { openFileSource, openSafetensors, writeFileAtomic, writeSafetensorsFile } from '../src/node/files.js';
import {
  bf16ToF32, bytesSource, encodeSafetensors, f16ToF32, SafetensorsFile, serializeSafetensors,
  type ByteSource, type TensorToWrite,
} from '../src/weights/safetensors.js';

const enc = new TextEncoder();
const u8 = (...b: number[]) => new Uint8Array(b);
const open = (bytes: Uint8Array, name = 'weights/test.safetensors') => SafetensorsFile.open(bytesSource(name, bytes));

/** A file from a raw header text and data bytes; `len` overrides the 8-byte header length. */
function rawFile(header: string, data: Uint8Array = new Uint8Array(0), len?: bigint): Uint8Array {
  const h = enc.encode(header);
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, len ?? BigInt(h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

/** Expects `p` to reject with a one-line DnfError naming the file and matching `re`. */
async function expectBad(p: Promise<unknown>, re: RegExp, file = 'weights/test.safetensors') {
  const e = await p.then(() => undefined, (err: unknown) => err);
  expect(e).toBeInstanceOf(DnfError);
  const msg = (e as DnfError).message;
  expect(msg.startsWith(`${file}: `)).toBe(true);
  expect(msg).not.toMatch(/\n/);
  expect(msg).toMatch(re);
}

describe('round trip', () => {
  const tensors: TensorToWrite[] = [
    { name: 'f32', dtype: 'F32', shape: [2, 3], data: new Float32Array([1, -2.5, 3e-8, 1e30, -0, 7]) },
    { name: 'f64', dtype: 'F64', shape: [3], data: new Float64Array([0.1, -1e300, 5]) },
    { name: 'scalar', dtype: 'F32', shape: [], data: new Float32Array([42]) },
    { name: 'empty', dtype: 'F32', shape: [4, 0, 2], data: new Float32Array(0) },
    { name: 'i64', dtype: 'I64', shape: [2], data: new BigInt64Array([-3n, 1n << 40n]) },
    { name: 'i32', dtype: 'I32', shape: [1, 2], data: new Int32Array([-7, 123456]) },
    { name: 'i16', dtype: 'I16', shape: [2], data: new Int16Array([-32768, 32767]) },
    { name: 'i8', dtype: 'I8', shape: [3], data: new Int8Array([-128, 0, 127]) },
    { name: 'u8', dtype: 'U8', shape: [4], data: u8(0, 128, 255, 1) }, // makes the next tensor misaligned
    { name: 'bool', dtype: 'BOOL', shape: [2], data: u8(1, 0) },
    { name: 'f16', dtype: 'F16', shape: [3], data: new Uint16Array([0x3c00, 0xc000, 0x3555]) },
    { name: 'bf16', dtype: 'BF16', shape: [2], data: new Uint16Array([0x3f80, 0xc040]) },
  ];

  it('reads back dtypes, shapes, bytes and floats', async () => {
    const bytes = serializeSafetensors(tensors, { format: 'pt', note: 'ünïcode' });
    const f = await open(bytes);
    expect(f.names()).toEqual(tensors.map((t) => t.name));
    expect(f.metadata).toEqual({ format: 'pt', note: 'ünïcode' });
    for (const t of tensors) {
      const info = f.info(t.name);
      expect(info.dtype).toBe(t.dtype);
      expect(info.shape).toEqual(t.shape);
      expect(await f.read(t.name)).toEqual(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
    }
    // Unaligned tensors exercise the copy path.
    expect([f.info('i64').byteOffset % 8, f.info('f16').byteOffset % 2, f.info('bf16').byteOffset % 2]).toEqual([4, 1, 1]);
    expect([...await f.readF32('f32')]).toEqual([...new Float32Array([1, -2.5, 3e-8, 1e30, -0, 7])]);
    expect([...await f.readF32('f64')]).toEqual([...new Float32Array([0.1, -1e300, 5])]);
    expect([...await f.readF32('scalar')]).toEqual([42]);
    expect((await f.readF32('empty')).length).toBe(0);
    expect([...await f.readF32('i64')]).toEqual([-3, 2 ** 40]);
    expect([...await f.readF32('i32')]).toEqual([-7, 123456]);
    expect([...await f.readF32('i16')]).toEqual([-32768, 32767]);
    expect([...await f.readF32('i8')]).toEqual([-128, 0, 127]);
    expect([...await f.readF32('u8')]).toEqual([0, 128, 255, 1]);
    expect([...await f.readF32('bool')]).toEqual([1, 0]);
    expect([...await f.readF32('f16')]).toEqual([1, -2, 0.333251953125]);
    expect([...await f.readF32('bf16')]).toEqual([1, -3]);
  });

  it('names a missing tensor without listing the others', async () => {
    const f = await open(serializeSafetensors(tensors));
    expect(f.has('nope')).toBe(false);
    expect(() => f.info('nope')).toThrow(DnfError);
    expect(() => f.info('nope')).toThrow(/^weights\/test\.safetensors: no tensor named "nope"/);
    await expectBad(f.read('nope'), /"nope"/);
  });

  it('keeps integer-like names in the given order and writes no metadata when empty', async () => {
    const bytes = serializeSafetensors([
      { name: 'b', dtype: 'U8', shape: [1], data: u8(1) },
      { name: '1', dtype: 'U8', shape: [1], data: u8(2) },
    ], {});
    expect(new TextDecoder().decode(bytes.subarray(8))).toMatch(/^\{"b":.*,"1":/);
    expect(new TextDecoder().decode(bytes)).not.toContain('__metadata__');
    const f = await open(bytes);
    expect(f.metadata).toEqual({});
    expect([...await f.read('1')]).toEqual([2]);
  });
});

describe('f16 / bf16 conversion', () => {
  it('is exact on known bit patterns', () => {
    const f16: Array<[number, number]> = [
      [0x0000, 0], [0x3c00, 1], [0xc000, -2], [0x3e00, 1.5], [0x7bff, 65504], [0x3555, 0.333251953125],
      [0x0400, 2 ** -14], [0x0001, 2 ** -24], [0x03ff, 1023 * 2 ** -24], [0x8001, -(2 ** -24)],
      [0x7c00, Infinity], [0xfc00, -Infinity],
    ];
    for (const [h, v] of f16) expect(f16ToF32(h)).toBe(v);
    expect(Object.is(f16ToF32(0x8000), -0)).toBe(true);
    expect(f16ToF32(0x7e00)).toBeNaN();
    const bf16: Array<[number, number]> = [
      [0x3f80, 1], [0xc040, -3], [0x4049, 3.140625], [0x7f80, Infinity], [0xff80, -Infinity],
      [0x0001, 2 ** -133], [0x7f7f, 3.3895313892515355e38],
    ];
    for (const [h, v] of bf16) expect(bf16ToF32(h)).toBe(v);
    expect(bf16ToF32(0x7fc0)).toBeNaN();
  });

  it('converts hand-written tensor bytes through readF32', async () => {
    const header = '{"h":{"dtype":"F16","shape":[4],"data_offsets":[0,8]},"b":{"dtype":"BF16","shape":[2],"data_offsets":[8,12]}}';
    const data = u8(0x00, 0x3c, 0x01, 0x00, 0xff, 0x7b, 0x00, 0xfc, 0x80, 0x3f, 0x49, 0x40);
    const f = await open(rawFile(header, data));
    expect([...await f.readF32('h')]).toEqual([1, 2 ** -24, 65504, -Infinity]);
    expect([...await f.readF32('b')]).toEqual([1, 3.140625]);
  });
});

describe('writer layout', () => {
  it('matches the reference (Python safetensors) bytes', () => {
    // safetensors.torch.save({"a": torch.tensor([1.0, 2.0])}): 54 bytes of JSON + 2 spaces = 56.
    const json = '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}  ';
    const expected = new Uint8Array([
      56, 0, 0, 0, 0, 0, 0, 0, ...enc.encode(json), 0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0x40,
    ]);
    expect(serializeSafetensors([{ name: 'a', dtype: 'F32', shape: [2], data: new Float32Array([1, 2]) }])).toEqual(expected);
  });

  it('puts metadata first and pads to a multiple of 8', () => {
    // save_file({"w": f16 [[1/3, 1]]}, metadata={"format": "pt"}): 87 bytes of JSON + 1 space = 88.
    const json = '{"__metadata__":{"format":"pt"},"w":{"dtype":"F16","shape":[1,2],"data_offsets":[0,4]}} ';
    const expected = new Uint8Array([88, 0, 0, 0, 0, 0, 0, 0, ...enc.encode(json), 0x55, 0x35, 0x00, 0x3c]);
    const e = encodeSafetensors([{ name: 'w', dtype: 'F16', shape: [1, 2], data: new Uint16Array([0x3555, 0x3c00]) }], { format: 'pt' });
    expect(e.byteLength).toBe(expected.length);
    expect(e.header.byteLength % 8).toBe(0);
    expect(new Uint8Array([...e.header, ...e.chunks.flatMap((c) => [...c])])).toEqual(expected);
  });

  it('rejects bad input', () => {
    const t = (over: Partial<TensorToWrite>): TensorToWrite => ({ name: 'x', dtype: 'F32', shape: [2], data: new Float32Array(2), ...over });
    expect(() => encodeSafetensors([t({ data: new Float32Array(3) })])).toThrow(/"x".*needs 8 bytes but its data has 12/);
    expect(() => encodeSafetensors([t({}), t({})])).toThrow(/appears twice/);
    expect(() => encodeSafetensors([t({ name: '' })])).toThrow(DnfError);
    expect(() => encodeSafetensors([t({ name: '__metadata__' })])).toThrow(/reserved/);
    expect(() => encodeSafetensors([t({ dtype: 'F8' as never })])).toThrow(/unsupported dtype/);
    expect(() => encodeSafetensors([t({ shape: [-2] })])).toThrow(/shape/);
    expect(() => encodeSafetensors([t({})], { n: 3 as never })).toThrow(/metadata value "n"/);
  });
});

describe('malformed files', () => {
  const good = '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}';
  const data8 = new Uint8Array(8);
  const cases: Array<[string, Uint8Array, RegExp]> = [
    ['fewer than 8 bytes', u8(1, 2, 3), /only 3 bytes/],
    ['empty file', u8(), /only 0 bytes/],
    ['header length beyond the file', rawFile(good, data8, 1000n), /header length 1000 bytes exceeds the file size/],
    ['huge header length', rawFile(good, data8, 1n << 60n), /header length 1152921504606846976 bytes exceeds the 100 MiB limit/],
    ['header not JSON', rawFile('{"a": nope}'), /not valid UTF-8 JSON/],
    ['header not UTF-8', (() => { const f = rawFile('{"a":1}'); f[10] = 0xff; return f; })(), /not valid UTF-8 JSON/],
    ['header an array', rawFile('[1,2]'), /an array, not a JSON object/],
    ['header a number', rawFile('3'), /number, not a JSON object/],
    ['entry not an object', rawFile('{"a":3}'), /tensor "a" is not a JSON object/],
    ['unknown dtype', rawFile('{"a":{"dtype":"F8_E4M3","shape":[2],"data_offsets":[0,2]}}', u8(0, 0)), /unsupported dtype "F8_E4M3"/],
    ['missing dtype', rawFile('{"a":{"shape":[2],"data_offsets":[0,8]}}', data8), /unsupported dtype undefined/],
    ['bad shape', rawFile('{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}', data8), /shape \[-2\]/],
    ['fractional shape', rawFile('{"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,8]}}', data8), /shape \[1.5\]/],
    ['shape * dtype != range', rawFile('{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}', data8), /needs 12 bytes but data_offsets \[0,8\] hold 8/],
    ['truncated file', rawFile('{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}', data8), /beyond the end of the file.*truncated/],
    ['overlapping ranges', rawFile('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', data8), /"a" \[0,8\) and "b" \[4,8\) overlap/],
    ['negative offset', rawFile('{"a":{"dtype":"U8","shape":[2],"data_offsets":[-2,0]}}', data8), /data_offsets \[-2,0\]/],
    ['non-integer offset', rawFile('{"a":{"dtype":"U8","shape":[1],"data_offsets":[0.5,1.5]}}', data8), /data_offsets \[0.5,1.5\]/],
    ['reversed offsets', rawFile('{"a":{"dtype":"U8","shape":[0],"data_offsets":[4,2]}}', data8), /data_offsets \[4,2\]/],
    ['offsets not a pair', rawFile('{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,1,2]}}', data8), /data_offsets \[0,1,2\]/],
    ['metadata non-string', rawFile('{"__metadata__":{"epoch":3}}'), /metadata value "epoch" is 3, not a string/],
    ['metadata not an object', rawFile('{"__metadata__":"x"}'), /"__metadata__" is not a JSON object/],
    ['name with a newline', rawFile('{"a\\nb":{"dtype":"F8","shape":[],"data_offsets":[0,0]}}'), /"a\\nb"/],
  ];
  for (const [what, bytes, re] of cases) {
    it(`rejects: ${what}`, () => expectBad(open(bytes), re));
  }

  it('accepts an empty tensor sharing an offset with another and trailing spaces', async () => {
    const f = await open(rawFile('{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"e":{"dtype":"F32","shape":[0],"data_offsets":[1,1]}}   ', u8(5, 6)));
    expect(f.names()).toEqual(['a', 'e']);
    expect((await f.read('e')).length).toBe(0);
  });
});

/** Wraps a ByteSource, counting bytes read. */
function counting(src: ByteSource) {
  const c = { bytes: 0, reads: [] as Array<[number, number]> };
  const wrapped: ByteSource = {
    name: src.name, size: src.size,
    read: (o, l) => { c.bytes += l; c.reads.push([o, l]); return src.read(o, l); },
  };
  return { c, wrapped };
}

describe('lazy reading', () => {
  it('reads only the header and the requested tensor', async () => {
    const big = new Float32Array(100_000).fill(1);
    const bytes = serializeSafetensors([
      { name: 'big', dtype: 'F32', shape: [big.length], data: big },
      { name: 'small', dtype: 'F32', shape: [2], data: new Float32Array([3, 4]) },
    ]);
    const { c, wrapped } = counting(bytesSource('w.safetensors', bytes));
    const f = await SafetensorsFile.open(wrapped);
    const headerBytes = c.bytes;
    expect(headerBytes).toBeLessThan(200);
    expect([...await f.readF32('small')]).toEqual([3, 4]);
    expect(c.bytes - headerBytes).toBe(8);
    expect(c.reads.at(-1)).toEqual([f.info('small').byteOffset, 8]);
  });
});

describe('node files', () => {
  let dir: string;
  beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'dnf-st-')); });
  afterAll(async () => { await rm(dir, { recursive: true, force: true }); });

  it('writes atomically and reads back through a file handle', async () => {
    const path = join(dir, 'sub', 'deeper', 'w.safetensors');
    const data = new Float32Array(5000).map((_, i) => i / 7);
    await writeSafetensorsFile(path, [
      { name: 'x', dtype: 'F32', shape: [50, 100], data },
      { name: 'y', dtype: 'BF16', shape: [1], data: new Uint16Array([0x4049]) },
    ], { source: 'test' });
    expect(await readdir(join(dir, 'sub', 'deeper'))).toEqual(['w.safetensors']);
    const { file, close } = await openSafetensors(path);
    try {
      expect(file.metadata).toEqual({ source: 'test' });
      expect(await file.readF32('x')).toEqual(data);
      expect([...await file.readF32('y')]).toEqual([3.140625]);
    } finally {
      await close();
    }
  });

  it('leaves neither a temp file nor a partial target when the source throws mid-way', async () => {
    const path = join(dir, 'atomic', 'out.bin');
    await writeFileAtomic(path, [u8(1, 2, 3)]);
    async function* failing() {
      yield u8(9, 9, 9, 9);
      throw new Error('boom');
    }
    await expect(writeFileAtomic(path, failing())).rejects.toThrow('boom');
    expect(await readdir(join(dir, 'atomic'))).toEqual(['out.bin']);
    expect([...await readFile(path)]).toEqual([1, 2, 3]); // the old file is intact
    await expect(writeFileAtomic(join(dir, 'atomic', 'new.bin'), failing())).rejects.toThrow('boom');
    expect(await readdir(join(dir, 'atomic'))).toEqual(['out.bin']);
  });

  it('reports missing and malformed files in one line', async () => {
    const missing = join(dir, 'missing.safetensors');
    await expectBad(openFileSource(missing), /no such file; check the path/, missing);
    await expectBad(openSafetensors(missing), /no such file/, missing);
    await expectBad(openFileSource(dir), /is a folder/, dir);
    const bad = join(dir, 'bad.safetensors');
    await writeFile(bad, rawFile('{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}', new Uint8Array(8)));
    await expectBad(openSafetensors(bad), /truncated/, bad);
    await expectBad(writeSafetensorsFile(join(dir, 'x.safetensors'), [{ name: 'x', dtype: 'U8', shape: [2], data: u8(1) }]), /needs 2 bytes/, join(dir, 'x.safetensors'));
  });
});
