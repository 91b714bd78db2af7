/**
 * PyTorch checkpoint writing (src/weights/torch-writer.ts, `dnf convert x.safetensors -o x.pth`).
 * No PyTorch here: files are read back with the project's own restricted reader
 * (torch-checkpoint.ts, zip.ts, pickle.ts), and the zip structure is checked field by field (CRC-32
 * against node:zlib's, offsets, 64-byte alignment, ZIP64 records). Exact bytes everywhere: no
 * tolerances, nothing is computed in floating point.
 *
 * That PyTorch loads these files was checked with tools/golden/check_pth.py (PyTorch 1.13,
 * torchvision 0.14): safetensors of torchvision's resnet50(num_classes=1) and resnet18(num_classes=1)
 * state dicts (after one training-mode forward, so running stats and num_batches_tracked are not
 * defaults) converted with `dnf convert`, then
 *   sd = torch.load(f, weights_only=True)['model']
 *   torchvision.models.resnet50(num_classes=1).load_state_dict(sd, strict=True)
 * gives OK for 320 tensors (53 num_batches_tracked, int64 0-d), every one equal to the safetensors
 * input bit for bit (resnet18: 122 tensors, 20 counters); also with --key state_dict and --key '',
 * for a ResNet18 written with every size and offset as a ZIP64 field (zip64From 0), and with
 * --keep-dtype for F16, BF16, F64, I32 and BOOL tensors (torch.equal to the originals).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 as zlibCrc32 } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { DnfError } from '../src/errors.js';
import { convertCheckpoint } from '../src/node/convert.js';
import { checkpointToTensors } from '../src/weights/convert.js';
import { PyDict, unpickle } from '../src/weights/pickle.js';
import { bytesSource, serializeSafetensors, type Dtype, type TensorToWrite } from '../src/weights/safetensors.js';
import { TorchCheckpoint, TorchTensorRef } from '../src/weights/torch-checkpoint.js';
import { crc32, encodeTorchCheckpoint, serializeTorchCheckpoint, stateDictObject, type PickleValue, type TorchWriteOptions } from '../src/weights/torch-writer.js';
import { ZipReader } from '../src/weights/zip.js';

const repo = join(import.meta.dirname, '..');
const bin = join(repo, 'bin', 'dnf.js');

/** Deterministic pseudo-random bytes (xorshift32). */
function noise(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; out[i] = s & 0xff; }
  return out;
}
const SIZES: Partial<Record<Dtype, number>> = { F32: 4, I64: 8, F16: 2, F64: 8, U8: 1 };
const tensor = (name: string, dtype: Dtype, shape: number[], seed = name.length): TensorToWrite =>
  ({ name, dtype, shape, data: noise(shape.reduce((a, b) => a * b, 1) * SIZES[dtype]!, seed) });

/** A ResNet-like state dict: conv and BatchNorm weights, an int64 0-d counter, odd cases. */
const SD: TensorToWrite[] = [
  tensor('conv1.weight', 'F32', [4, 3, 3, 3], 1),
  tensor('bn1.weight', 'F32', [4], 2),
  tensor('bn1.running_var', 'F32', [4], 3),
  { name: 'bn1.num_batches_tracked', dtype: 'I64', shape: [], data: new BigInt64Array([12345678901n]) },
  tensor('layer1.0.downsample.1.bias', 'F32', [4], 4),
  tensor('scalar', 'F32', [], 5),
  tensor('empty', 'F32', [0, 4], 6),
  tensor('empty.tail', 'F32', [3, 0], 7),
  tensor('ids', 'I64', [2, 3], 8),
  tensor('half', 'F16', [5], 9),
  tensor('fc.weight', 'F32', [1, 2048], 10),
];

const asBytes = (v: ArrayBufferView) => Buffer.from(v.buffer, v.byteOffset, v.byteLength);
/** Opens checkpoint bytes (a Node Buffer is copied: its slice() would be a view, not a copy). */
const open = (bytes: Uint8Array, name = 'out.pth') => TorchCheckpoint.open(bytesSource(name, new Uint8Array(bytes)));

/** Row-major strides with a size-0 dimension counting as 1, as torch's contiguous() gives them. */
function torchStrides(shape: number[]): number[] {
  const out: number[] = [];
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) { out[i] = s; s *= Math.max(shape[i], 1); }
  return out;
}

/** The checkpoint's state dict at `path` holds exactly `tensors`: dtype, shape, strides and bytes. */
async function expectStateDict(ckpt: TorchCheckpoint, path: string[], tensors: TensorToWrite[]) {
  let sd: unknown = ckpt.root;
  for (const k of path) {
    expect(sd).toBeInstanceOf(PyDict);
    expect((sd as PyDict).className).toBe('builtins.dict');
    expect([...(sd as PyDict).map.keys()]).toEqual([k]);
    sd = (sd as PyDict).map.get(k);
  }
  expect(sd).toBeInstanceOf(PyDict);
  expect((sd as PyDict).className).toBe('collections.OrderedDict');
  const map = (sd as PyDict).map;
  expect([...map.keys()]).toEqual(tensors.map((t) => t.name));
  for (const [i, t] of tensors.entries()) {
    const ref = map.get(t.name) as TorchTensorRef;
    expect(ref).toBeInstanceOf(TorchTensorRef);
    expect([t.name, ref.dtype, ref.shape, ref.strides, ref.storageOffset, ref.storage.key, ref.storage.dtype])
      .toEqual([t.name, t.dtype, t.shape, torchStrides([...t.shape]), 0, String(i), t.dtype]);
    expect(asBytes(await ckpt.readBytes(ref)).equals(asBytes(t.data)), t.name).toBe(true);
  }
}

/** Asserts that `f` throws a one-line DnfError matching `re`. */
function expectDnfError(f: () => unknown, re: RegExp) {
  let err: unknown;
  try { f(); } catch (e) { err = e; }
  expect(err).toBeInstanceOf(DnfError);
  expect((err as Error).message).toMatch(re);
  expect((err as Error).message).not.toContain('\n');
}

describe('torch.save zip checkpoints', () => {
  it("reads back as {'model': OrderedDict} with every tensor's dtype, shape, strides and bytes", async () => {
    const ckpt = await open(serializeTorchCheckpoint(stateDictObject(SD)));
    expect(ckpt.format).toBe('zip');
    await expectStateDict(ckpt, ['model'], SD);
  });

  it("nests under another key, under '/'-separated levels, or not at all (key '')", async () => {
    await expectStateDict(await open(serializeTorchCheckpoint(stateDictObject(SD, 'state_dict'))), ['state_dict'], SD);
    await expectStateDict(await open(serializeTorchCheckpoint(stateDictObject(SD, 'checkpoint/model'))), ['checkpoint', 'model'], SD);
    await expectStateDict(await open(serializeTorchCheckpoint(stateDictObject(SD, ''))), [], SD);
  });

  it('converts back to the same tensors with the checkpoint converter (convert.ts)', async () => {
    const bytes = serializeTorchCheckpoint(stateDictObject(SD));
    const conv = await checkpointToTensors(bytesSource('out.pth', bytes), { keepIntegers: true, keepDtype: true });
    expect(conv.path).toBe("['model']");
    expect(conv.dropped).toEqual(['bn1.num_batches_tracked']); // the converter's own rule
    const kept = SD.filter((t) => t.name !== 'bn1.num_batches_tracked');
    expect(conv.tensors.map((t) => [t.name, t.dtype, t.shape])).toEqual(kept.map((t) => [t.name, t.dtype, t.shape]));
    for (const [i, t] of conv.tensors.entries()) expect(asBytes(t.data).equals(asBytes(kept[i].data)), t.name).toBe(true);
  });

  it('round-trips a file of several MB', async () => {
    const big = [tensor('layer4.2.conv2.weight', 'F32', [512, 512, 3, 3], 11), tensor('layer4.2.bn2.weight', 'F32', [512], 12), ...SD];
    const enc = encodeTorchCheckpoint(stateDictObject(big));
    const bytes = serializeTorchCheckpoint(stateDictObject(big));
    expect(bytes.byteLength).toBe(enc.byteLength);
    expect(bytes.byteLength).toBeGreaterThan(9 * 2 ** 20);
    expect(enc.tensorCount).toBe(big.length);
    // The big tensor is passed through as a view, not copied.
    expect(enc.chunks.some((c) => c.buffer === (big[0].data as Uint8Array).buffer)).toBe(true);
    await expectStateDict(await open(bytes), ['model'], big);
  });
});

// ---------------------------------------------------------------------------------------------
// The zip container, field by field

interface CentralEntry { name: string; crc: number; size: number; offset: number; zip64Fields: number }

/** The central directory parsed independently of zip.ts (ZIP64 end record when present). */
function centralDirectory(f: Buffer): { entries: CentralEntry[]; zip64End: boolean; cdOffset: number } {
  const eocd = f.length - 22;
  expect(f.readUInt32LE(eocd)).toBe(0x06054b50);
  let count = f.readUInt16LE(eocd + 10);
  let cdOffset = f.readUInt32LE(eocd + 16);
  const zip64End = eocd >= 20 && f.readUInt32LE(eocd - 20) === 0x07064b50;
  if (zip64End) {
    const rec = Number(f.readBigUInt64LE(eocd - 20 + 8));
    expect(f.readUInt32LE(rec)).toBe(0x06064b50);
    expect(rec).toBe(eocd - 20 - 56);
    count = Number(f.readBigUInt64LE(rec + 32));
    cdOffset = Number(f.readBigUInt64LE(rec + 48));
  }
  const entries: CentralEntry[] = [];
  for (let p = cdOffset, i = 0; i < count; i++) {
    expect(f.readUInt32LE(p)).toBe(0x02014b50);
    const nameLen = f.readUInt16LE(p + 28);
    const extraLen = f.readUInt16LE(p + 30);
    let size = f.readUInt32LE(p + 24);
    let offset = f.readUInt32LE(p + 42);
    let zip64Fields = 0;
    if (extraLen) {
      expect(f.readUInt16LE(p + 46 + nameLen)).toBe(1); // the ZIP64 field, the only extra here
      let q = p + 46 + nameLen + 4;
      const next = () => { zip64Fields++; q += 8; return Number(f.readBigUInt64LE(q - 8)); };
      if (size === 0xffffffff) size = next();
      if (f.readUInt32LE(p + 20) === 0xffffffff) expect(next()).toBe(size);
      if (offset === 0xffffffff) offset = next();
      expect(q).toBe(p + 46 + nameLen + extraLen);
    }
    entries.push({ name: f.toString('utf8', p + 46, p + 46 + nameLen), crc: f.readUInt32LE(p + 16), size, offset, zip64Fields });
    p += 46 + nameLen + extraLen + f.readUInt16LE(p + 32);
  }
  return { entries, zip64End, cdOffset };
}

/** Checks every entry against its local header and the project's zip reader; returns the reader. */
async function expectSoundZip(bytes: Uint8Array, names: string[]): Promise<ReturnType<typeof centralDirectory>> {
  const f = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const cd = centralDirectory(f);
  expect(cd.entries.map((e) => e.name)).toEqual(names);
  const zip = await ZipReader.open(bytesSource('out.pth', bytes));
  expect([...zip.entries.keys()]).toEqual(names);
  let end = 0;
  for (const e of cd.entries) {
    const entry = zip.entries.get(e.name)!;
    expect([entry.method, entry.size, entry.compressedSize, entry.localHeaderOffset]).toEqual([0, e.size, e.size, e.offset]);
    expect(e.offset).toBe(end); // entries follow each other with no gaps
    expect(f.readUInt32LE(e.offset)).toBe(0x04034b50);
    expect(f.readUInt16LE(e.offset + 6) & 0x8).toBe(0); // sizes in the header, no data descriptor
    expect(f.readUInt32LE(e.offset + 14)).toBe(e.crc);
    const start = e.offset + 30 + f.readUInt16LE(e.offset + 26) + f.readUInt16LE(e.offset + 28);
    expect(start % 64, `${e.name} data at ${start}`).toBe(0);
    const data = await zip.read(entry);
    expect(asBytes(data).equals(f.subarray(start, start + e.size))).toBe(true);
    expect(e.crc).toBe(zlibCrc32(data));
    end = start + e.size;
  }
  expect(cd.cdOffset).toBe(end);
  return cd;
}

const ENTRY_NAMES = (n: number, archive = 'archive') =>
  [`${archive}/data.pkl`, `${archive}/byteorder`, ...Array.from({ length: n }, (_, i) => `${archive}/data/${i}`), `${archive}/version`];

describe('zip layout', () => {
  it('has CRC-32s, contiguous offsets and 64-byte aligned data, and the version and byteorder entries', async () => {
    const bytes = serializeTorchCheckpoint(stateDictObject(SD), { archive: 'resnet50' });
    const cd = await expectSoundZip(bytes, ENTRY_NAMES(SD.length, 'resnet50'));
    expect(cd.zip64End).toBe(false);
    expect(cd.entries.every((e) => e.zip64Fields === 0)).toBe(true);
    const zip = await ZipReader.open(bytesSource('out.pth', bytes));
    const text = async (n: string) => new TextDecoder().decode(await zip.read(zip.entries.get(`resnet50/${n}`)!));
    expect(await text('version')).toBe('3\n');
    expect(await text('byteorder')).toBe('little');
  });

  const zip64Cases: Array<[string, TorchWriteOptions, (e: CentralEntry) => number]> = [
    // Every size and offset at or above the limit: each entry carries all three ZIP64 fields.
    ['every field', { zip64From: 0 }, () => 3],
    // Only offsets from 2000 on and the larger data: the mix of fields a 5 GB file would have.
    ['some fields', { zip64From: 2000 }, (e) => (e.size >= 2000 ? 2 : 0) + (e.offset >= 2000 ? 1 : 0)],
  ];
  for (const [what, opts, fields] of zip64Cases) {
    it(`writes ZIP64 fields and end records where values reach the limit (${what})`, async () => {
      const sd = [...SD, tensor('wide', 'F32', [1000], 13)];
      const bytes = serializeTorchCheckpoint(stateDictObject(sd), opts);
      const cd = await expectSoundZip(bytes, ENTRY_NAMES(sd.length));
      expect(cd.zip64End).toBe(true);
      for (const e of cd.entries) expect(e.zip64Fields, e.name).toBe(fields(e));
      await expectStateDict(await open(bytes), ['model'], sd);
    });
  }

  it('computes the CRC-32 of zip (checked against node:zlib over lengths 0 to 300)', () => {
    const data = noise(300, 99);
    for (let n = 0; n <= 300; n++) expect(crc32(data.subarray(0, n))).toBe(zlibCrc32(data.subarray(0, n)));
  });
});

// ---------------------------------------------------------------------------------------------
// Pickled values

describe('pickled values', () => {
  /** The object torch.save would get, read back by the project's unpickler (no torch globals needed). */
  const roundTrip = (v: PickleValue) => {
    const zip = serializeTorchCheckpoint(v);
    return open(zip).then((c) => c.root);
  };

  it('writes ints of every width, floats, bools, None, str and tuples as Python has them', async () => {
    const d = new PyDict();
    const values: Array<[string, PickleValue]> = [
      ['small', 7], ['byte', 255], ['short', 65535], ['int', 65536], ['negative', -1], ['int32min', -(2 ** 31)],
      ['beyond32', 2 ** 31], ['safe', Number.MAX_SAFE_INTEGER], ['neg64', -(2 ** 40) - 3], ['big', 2n ** 70n], ['negbig', -(2n ** 63n)],
      ['float', 0.001], ['negzero', -0.5], ['inf', Infinity], ['true', true], ['false', false], ['none', null],
      ['text', 'résumé ✓'], ['empty', ''], ['t0', []], ['t1', [1]], ['t3', [1, 'a', null]], ['t5', [1, 2, 3, 4, [5, 6]]],
    ];
    for (const [k, v] of values) d.map.set(k, v);
    const back = await roundTrip(d) as PyDict;
    expect(back).toBeInstanceOf(PyDict);
    expect([...back.map]).toEqual(values);
  });

  it('batches SETITEMS by 1000 and memoizes repeated strings beyond 256 memo slots', async () => {
    const d = new PyDict('collections.OrderedDict');
    for (let i = 0; i < 2500; i++) d.map.set(`k${i}`, i % 3 === 0 ? 'same' : [`k${i}`, i]);
    const back = await roundTrip(d) as PyDict;
    expect(back.className).toBe('collections.OrderedDict');
    expect([...back.map]).toEqual([...d.map]);
  });

  it('is one protocol-2 pickle that the unpickler reads with only OrderedDict and the rebuild functions', async () => {
    const bytes = serializeTorchCheckpoint(stateDictObject(SD.slice(0, 2)));
    const zip = await ZipReader.open(bytesSource('out.pth', bytes));
    const pkl = await zip.read(zip.entries.get('archive/data.pkl')!);
    expect([pkl[0], pkl[1], pkl[pkl.length - 1]]).toEqual([0x80, 2, 0x2e]);
    const globals: string[] = [];
    unpickle(pkl, {
      name: 'data.pkl',
      strictGlobals: true,
      globals: new Map([
        ['torch._utils._rebuild_tensor_v2', { call: () => { globals.push('rebuild'); return null; } }],
        ['torch.FloatStorage', { value: 'F32' }],
      ]),
      persistentLoad: (pid) => {
        expect(pid).toEqual(['storage', 'F32', expect.stringMatching(/^[01]$/), 'cpu', expect.any(Number)]);
        return null;
      },
    });
    expect(globals).toEqual(['rebuild', 'rebuild']);
  });

  it('refuses what a state dict does not hold, naming where it is', () => {
    const at = (v: unknown) => { const d = new PyDict(); d.map.set('x', v); return d as PickleValue; };
    expectDnfError(() => serializeTorchCheckpoint(at(undefined)), /cannot pickle undefined at \['x'\]/);
    expectDnfError(() => serializeTorchCheckpoint(at(new Map())), /cannot pickle a Map at \['x'\]/);
    expectDnfError(() => serializeTorchCheckpoint(at([1, () => 0])), /cannot pickle a function at \['x'\]\[1\]/);
    expectDnfError(() => serializeTorchCheckpoint(at(new PyDict('builtins.set'))), /cannot pickle a builtins\.set at \['x'\]/);
    const intKey = new PyDict();
    intKey.map.set(1, 2);
    expectDnfError(() => serializeTorchCheckpoint(intKey as PickleValue), /a dict key at the top level is number, not a string/);
  });

  it('refuses tensors whose data do not match their dtype and shape, and bad keys and names', () => {
    const sd = (t: TensorToWrite) => stateDictObject([t]);
    expectDnfError(() => serializeTorchCheckpoint(sd({ name: 'w', dtype: 'F32', shape: [2, 3], data: new Float32Array(5) })),
      /the tensor at \['model'\]\['w'\] of dtype F32 and shape \[2,3\] needs 24 bytes but its data has 20/);
    expectDnfError(() => serializeTorchCheckpoint(sd({ name: 'w', dtype: 'Q8' as Dtype, shape: [2], data: new Uint8Array(2) })),
      /the tensor at \['model'\]\['w'\] \(shape \[2\]\) has unsupported dtype "Q8"/);
    expectDnfError(() => serializeTorchCheckpoint(sd({ name: 'w', dtype: 'F32', shape: [-1], data: new Uint8Array(0) })),
      /has shape \[-1\], not a list of non-negative integers/);
    expectDnfError(() => stateDictObject([SD[1], SD[1]]), /tensor name "bn1.weight" appears twice/);
    expectDnfError(() => stateDictObject(SD, 'a//b'), /key "a\/\/b" has an empty level/);
    expectDnfError(() => encodeTorchCheckpoint(stateDictObject(SD), { archive: 'a/b' }), /archive name "a\/b"/);
  });
});

// ---------------------------------------------------------------------------------------------
// dnf convert x.safetensors -o x.pth

describe('convertCheckpoint to .pth (Node)', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'dnf-pth-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));
  const input = join(tmp, 'trained.safetensors');
  writeFileSync(input, serializeSafetensors(SD.filter((t) => t.dtype !== 'F16'), { arch: 'resnet50' }));

  it('keeps every tensor of a safetensors input, num_batches_tracked as an int64 0-d tensor', async () => {
    const out = join(tmp, 'trained.pth');
    const s = await convertCheckpoint(input, out);
    expect([s.format, s.outputFormat, s.outputPath, s.dropped, s.tensorCount]).toEqual(['safetensors', 'torch zip', "['model']", [], SD.length - 1]);
    await expectStateDict(await open(readFileSync(out)), ['model'], SD.filter((t) => t.dtype !== 'F16'));
  });

  it('converts F16 to F32 unless keepDtype, as the safetensors output does', async () => {
    const half = join(tmp, 'half.safetensors');
    writeFileSync(half, serializeSafetensors([{ name: 'h', dtype: 'F16', shape: [3], data: new Uint16Array([0x3c00, 0xc000, 0x3555]) }]));
    await convertCheckpoint(half, join(tmp, 'h32.pth'), { outputKey: '' });
    const f32 = await open(readFileSync(join(tmp, 'h32.pth')));
    const ref = (f32.root as PyDict).map.get('h') as TorchTensorRef;
    expect(ref.dtype).toBe('F32');
    expect([...new Float32Array((await f32.readBytes(ref)).slice().buffer)]).toEqual([1, -2, Math.fround(0.333251953125)]);
    await convertCheckpoint(half, join(tmp, 'h16.pth'), { outputKey: '', keepDtype: true });
    expect(((await open(readFileSync(join(tmp, 'h16.pth')))).root as PyDict).map.get('h')).toHaveProperty('dtype', 'F16');
  });

  it('refuses an output key for a safetensors output', async () => {
    await expect(convertCheckpoint(input, join(tmp, 'x.safetensors'), { outputKey: 'model' })).rejects.toThrow(/applies to \.pth\/\.pt outputs only/);
  });
});

describe('dnf convert -o x.pth (built CLI)', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'dnf-pth-cli-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));
  const sd = [tensor('layer1.0.conv1.weight', 'F32', [64, 64, 3, 3], 14), ...SD.filter((t) => t.dtype !== 'F16')];
  const input = join(tmp, 'trained.safetensors');
  writeFileSync(input, serializeSafetensors(sd));
  const dnf = (args: string[]) => {
    if (!existsSync(join(repo, 'dist', 'weights', 'torch-writer.js'))) throw new Error('dist/ has no torch writer: run `npm run build` first');
    const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 60_000 });
    return { code: r.status, stdout: r.stdout.trim().split('\n').filter(Boolean), stderr: r.stderr.trim().split('\n').filter(Boolean) };
  };

  it.each([
    [[], ['model'], "state dict \\['model'\\]"],
    [['--key', 'state_dict'], ['state_dict'], "state dict \\['state_dict'\\]"],
    [['--key', ''], [], 'bare state dict'],
  ])('writes a checkpoint that reads back equal (args %j)', async (extra, path, says) => {
    const out = join(tmp, `out${path.length ? `-${path[0]}` : ''}.pt`);
    const r = dnf(['convert', input, '-o', out, ...extra]);
    expect(r.stderr).toEqual([]);
    expect(r.code).toBe(0);
    expect(r.stdout).toHaveLength(1);
    expect(r.stdout[0]).toMatch(new RegExp(`^converted .*trained\\.safetensors \\(safetensors\\) -> .*\\.pt \\(torch zip, ${says}\\): ${sd.length} tensors, [\\d,]+ parameters, [\\d.]+ KiB$`));
    await expectStateDict(await open(readFileSync(out)), path, sd);
  });

  it('fails with one line and exit code 2, leaving no file behind', () => {
    const before = readdirSync(tmp).sort();
    const truncated = join(tmp, 'truncated.safetensors');
    writeFileSync(truncated, readFileSync(input).subarray(0, 20_000)); // header intact, data cut short
    const cases: Array<[string[], RegExp]> = [
      [['convert', truncated, '-o', join(tmp, 'bad.pth')], /^dnf: .*truncated\.safetensors: not a valid safetensors file \(tensor .* beyond the end of the file/],
      [['convert', input, '-o', join(tmp, 'trained.safetensors', 'x.pth')], /^dnf: .*x\.pth: /],
      [['convert', input, '-o', join(tmp, 'out-model.pt')], /^dnf: .*out-model\.pt: already exists; pass --overwrite/],
    ];
    for (const [args, re] of cases) {
      const r = dnf(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toHaveLength(1);
      expect(r.stderr[0]).toMatch(re);
    }
    expect(readdirSync(tmp).sort()).toEqual([...before, 'truncated.safetensors'].sort());
  });
});
