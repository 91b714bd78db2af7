/**
 * PyTorch checkpoint reading and conversion. Fixtures come from tools/golden/make_checkpoints.py
 * (PyTorch 1.13): the same state dict saved in the zip and legacy formats, wrapped as training
 * scripts save it, with 'module.' prefixes, as a DDIM-style list, re-packed as ZIP64 and DEFLATE;
 * expected.safetensors holds what the reader must produce (floats as F32, converted by PyTorch).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DnfError } from '../src/errors.js';
import { convertCheckpoint, formatSummary } from '../src/node/convert.js';
import { openSafetensors } from '../src/node/files.js';
import { bytesToF32, checkpointToTensors, isFloatDtype } from '../src/weights/convert.js';
import { PyDict, unpickle } from '../src/weights/pickle.js';
import { SafetensorsFile, bytesSource, type TensorToWrite } from '../src/weights/safetensors.js';

const DIR = join(import.meta.dirname, 'fixtures', 'checkpoints');
const load = (file: string) => new Uint8Array(readFileSync(join(DIR, file)));
const src = (file: string, bytes = load(file)) => bytesSource(file, bytes);
const hex = (s: string) => Uint8Array.from(s.match(/../g)!.map((h) => parseInt(h, 16)));

const expected = await SafetensorsFile.open(src('expected.safetensors'));
const FLOATS = expected.names().filter((n) => isFloatDtype(expected.info(n).dtype));
const INTS = expected.names().filter((n) => !isFloatDtype(expected.info(n).dtype) && !n.endsWith('num_batches_tracked'));

/** Every tensor matches expected.safetensors byte for byte (F32 values, or the integer dtype). */
async function expectMatches(tensors: TensorToWrite[], names: string[]) {
  expect(tensors.map((t) => t.name)).toEqual(names);
  for (const t of tensors) {
    const info = expected.info(t.name);
    expect([t.name, t.dtype, t.shape]).toEqual([t.name, info.dtype, info.shape]);
    const got = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    expect(Buffer.from(got).equals(Buffer.from(await expected.read(t.name))), t.name).toBe(true);
  }
}

/** Asserts that the promise rejects with a one-line DnfError matching `re`. */
async function expectDnfError(p: Promise<unknown>, re: RegExp) {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(DnfError);
  const msg = (err as Error).message;
  expect(msg).toMatch(re);
  expect(msg).not.toContain('\n');
}

describe('PyTorch checkpoints', () => {
  const cases: Array<[string, 'zip' | 'legacy', string, string[]]> = [
    ['sd.zip.pt', 'zip', '', []],
    ['sd.legacy.pt', 'legacy', '', []],
    ['sd.zip64.pt', 'zip', '', []],
    ['sd.deflate.pt', 'zip', '', []],
    ['module.zip.pt', 'zip', '', []],
    ['module.legacy.pt', 'legacy', '', []],
    ['wrapped.zip.pt', 'zip', "['model']", ['optimizer', 'total_steps', 'args']],
    ['wrapped.legacy.pt', 'legacy', "['model']", ['optimizer', 'total_steps', 'args']],
    ['list.legacy.ckpt', 'legacy', '[0]', ['[1]', '[2]', '[3]']],
  ];
  for (const [file, format, path, ignored] of cases) {
    it(`reads ${file}`, async () => {
      const c = await checkpointToTensors(src(file));
      expect([c.format, c.path, c.ignored, c.strippedPrefix]).toEqual([format, path, ignored, file.startsWith('module') ? 'module.' : '']);
      await expectMatches(c.tensors, FLOATS);
      const prefix = file.startsWith('module') ? 'module.' : '';
      expect(c.dropped).toEqual(['1.num_batches_tracked', ...INTS].map((n) => prefix + n));
      expect(c.parameters).toBe(c.tensors.reduce((s, t) => s + t.shape.reduce((a, b) => a * b, 1), 0));
      expect(c.metadata).toEqual({ format: 'pt', source: file, source_format: `torch-${format}`, state_dict: path || '(top level)' });

      const all = await checkpointToTensors(src(file), { keepIntegers: true });
      await expectMatches(all.tensors, expected.names().filter((n) => !n.endsWith('num_batches_tracked')));
    });
  }

  it('keeps float16/bfloat16/float64 when asked, with the same values', async () => {
    const c = await checkpointToTensors(src('sd.legacy.pt'), { keepDtype: true });
    const byName = new Map(c.tensors.map((t) => [t.name, t]));
    expect(['extra.half', 'extra.bf16', 'extra.double'].map((n) => byName.get(n)!.dtype)).toEqual(['F16', 'BF16', 'F64']);
    for (const n of ['extra.half', 'extra.bf16', 'extra.double']) {
      const t = byName.get(n)!;
      expect([...bytesToF32(t.dtype, t.data as Uint8Array)]).toEqual([...(await expected.readF32(n))]);
    }
  });

  it('picks the state dict named by key, and explains a wrong key', async () => {
    const c = await checkpointToTensors(src('list.legacy.ckpt'), { key: '0' });
    expect(c.path).toBe('[0]');
    await expectDnfError(checkpointToTensors(src('wrapped.zip.pt'), { key: 'ema' }), /has no 'ema' at the top level \(it has keys model, optimizer, total_steps, args\)/);
    await expectDnfError(checkpointToTensors(src('wrapped.zip.pt'), { key: 'total_steps' }), /\['total_steps'\] is 5, not a state dict/);
  });

  it('refuses pickles that would run code, without running it', async () => {
    for (const file of ['malicious.pkl', 'malicious.zip.pt']) {
      await expectDnfError(checkpointToTensors(src(file)), /refuses to load global 'posix\.system' from the pickle: only state dicts of tensors can be read/);
    }
    expect(existsSync('/tmp/dnf-pickle-pwned')).toBe(false);
  });

  it('refuses an unknown object inside the state dict, but not beside it', async () => {
    await expectDnfError(checkpointToTensors(src('numpy-in-sd.zip.pt')), /refuses to load global 'numpy\.core\.multiarray\._reconstruct' .* for 'x' in the state dict/);
    // wrapped.*.pt keeps an argparse.Namespace under 'args': ignored (tested above).
  });

  it('gives one-line errors for every truncation of a zip or legacy checkpoint', async () => {
    for (const file of ['sd.zip.pt', 'sd.legacy.pt', 'sd.zip64.pt', 'sd.deflate.pt']) {
      const bytes = load(file);
      for (let n = 0; n < bytes.length; n += 61) {
        await expectDnfError(checkpointToTensors(src(file, bytes.subarray(0, n))), /truncated|damaged|not a|empty|ends/);
      }
    }
    const legacy = load('sd.legacy.pt');
    await expectDnfError(checkpointToTensors(src('x.pt', legacy.subarray(0, legacy.length - 10))), /ends inside the data of storage '\d+'; it is truncated/);
    await expectDnfError(checkpointToTensors(src('x.pt', legacy.subarray(0, 300))), /the pickle ends early .* truncated/);
    const zip = load('sd.zip.pt');
    await expectDnfError(checkpointToTensors(src('x.pt', zip.subarray(0, zip.length - 30))), /not a readable ZIP archive/);
  });

  it('never crashes on corrupted bytes: it reads the file or throws a DnfError', async () => {
    let seed = 1;
    const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
    for (const file of ['sd.zip.pt', 'sd.legacy.pt', 'wrapped.legacy.pt']) {
      const good = load(file);
      for (let i = 0; i < 150; i++) {
        const bad = good.slice();
        for (let j = 0; j < 3; j++) bad[Math.floor(rand() * bad.length)] = Math.floor(rand() * 256);
        const err = await checkpointToTensors(src(file, bad)).then(() => undefined, (e: unknown) => e);
        if (err !== undefined) expect(err, String(err)).toBeInstanceOf(DnfError);
      }
    }
  });

  it('explains files that are not checkpoints', async () => {
    const text = new TextEncoder().encode('just some text\n');
    await expectDnfError(checkpointToTensors(bytesSource('notes.txt', text)), /notes\.txt: is not a PyTorch checkpoint/);
    await expectDnfError(checkpointToTensors(bytesSource('empty.pt', new Uint8Array(0))), /empty/);
    const plainPickle = hex('80027d71002858010000006171014b01752e'); // {'a': 1}
    await expectDnfError(checkpointToTensors(bytesSource('p.pkl', plainPickle)), /is a pickle but not a PyTorch checkpoint/);
  });

  it('reads a safetensors file as a state dict (dropping integer tensors, as for a checkpoint)', async () => {
    const conv = await checkpointToTensors(src('expected.safetensors'));
    expect(conv.format).toBe('safetensors');
    expect(conv.metadata.source_format).toBe('safetensors');
    await expectMatches(conv.tensors, FLOATS);
  });
});

describe('restricted unpickler', () => {
  const expectValue = (v: unknown) => {
    const d = v as PyDict;
    expect(d).toBeInstanceOf(PyDict);
    expect(d.map.get('a')).toEqual([1, 2.5, 'x', null, true]);
    expect(d.map.get('b')).toEqual([-7, 2n ** 70n]);
    expect(d.map.get('c')).toEqual(new Uint8Array([0, 255]));
  };
  // pickle.dumps({'a': [1, 2.5, 'x', None, True], 'b': (-7, 2**70), 'c': b'\x00\xff'}, protocol=p)
  it('reads protocols 0, 1, 2 and 5 (OrderedDict, FRAME, MEMOIZE, STACK_GLOBAL)', () => {
    for (const h of [
      '286470300a56610a70310a286c70320a49310a6146322e350a6156780a70330a614e614930310a617356620a70340a28492d370a4c313138303539313632303731373431313330333432344c0a7470350a7356630a70360a635f636f646563730a656e636f64650a70370a28565c7530303030ff0a70380a566c6174696e310a70390a747031300a527031310a732e',
      '7d71002858010000006171015d7102284b0147400400000000000058010000007871034e4930310a655801000000627104284af9ffffff4c313138303539313632303731373431313330333432344c0a7471055801000000637106635f636f646563730a656e636f64650a710728580300000000c3bf710858060000006c6174696e31710974710a52710b752e',
      '80027d71002858010000006171015d7102284b0147400400000000000058010000007871034e886558010000006271044af9ffffff8a090000000000000000408671055801000000637106635f636f646563730a656e636f64650a7107580300000000c3bf710858060000006c6174696e31710986710a52710b752e',
      '8005955c000000000000008c0b636f6c6c656374696f6e73948c0b4f72646572656444696374949394295294288c0161945d94284b014740040000000000008c0178944e88658c0162944af9ffffff8a0900000000000000004086948c016394430200ff94752e',
    ]) expectValue(unpickle(hex(h), { name: 't.pkl' }).value);
  });

  it('records unknown globals as inert data, refuses dangerous ones, and strict mode refuses all', () => {
    // cargparse\nNamespace\n)R. = argparse.Namespace()
    const ns = hex('80026361726770617273650a4e616d6573706163650a29522e');
    expect(unpickle(ns, { name: 't.pkl' }).value).toMatchObject({ qualname: 'argparse.Namespace', args: [] });
    expect(() => unpickle(ns, { name: 't.pkl', strictGlobals: true })).toThrow(/refuses to load global 'argparse\.Namespace'/);
    // cbuiltins\neval\n(X\x02\x00\x00\x001+tR.
    const ev = hex('8002636275696c74696e730a6576616c0a285802000000312b74522e');
    expect(() => unpickle(ev, { name: 't.pkl' })).toThrow(/refuses to load global 'builtins\.eval'/);
  });

  it('reads LONG4 integers of any sign and size exactly, in linear time', () => {
    // LONG4 of n bytes, little-endian two's complement, as pickle writes int(...) beyond 255 bytes.
    const long4 = (v: bigint, n: number) => {
      const b = new Uint8Array(n);
      let x = BigInt.asUintN(8 * n, v);
      for (let i = 0; i < n; i++, x >>= 8n) b[i] = Number(x & 0xffn);
      return Uint8Array.from([0x80, 2, 0x8b, n & 255, (n >> 8) & 255, 0, 0, ...b, 0x2e]);
    };
    for (const [v, n] of [[3n ** 600n, 120], [-(3n ** 600n), 120], [-1n, 300], [2n ** 40n, 7], [-(2n ** 50n), 7], [2n ** 2000n - 1n, 300]] as const) {
      const got = unpickle(long4(v, n), { name: 't.pkl' }).value;
      expect(typeof got === 'number' ? BigInt(got) : got).toBe(v);
    }
    const t0 = performance.now();
    expect(typeof unpickle(long4(7n ** 20000n, 65000), { name: 't.pkl' }).value).toBe('bigint');
    expect(performance.now() - t0).toBeLessThan(500);
  });

  it('refuses protocol 0 text that JavaScript cannot represent, with DnfErrors', () => {
    // V\U7fffffff\n. (a code point beyond U+10FFFF), and an INT of 5000 digits (Python refuses > 4300)
    expect(() => unpickle(new TextEncoder().encode('V\\U7fffffff\n.'), { name: 't.pkl' })).toThrow(/t\.pkl: .*bad UNICODE/);
    expect(() => unpickle(new TextEncoder().encode(`I${'9'.repeat(5000)}\n.`), { name: 't.pkl' })).toThrow(/t\.pkl: .*bad INT "9{40}\.\.\."/);
    expect(unpickle(new TextEncoder().encode(`I${'9'.repeat(4300)}\n.`), { name: 't.pkl' }).value).toBe(10n ** 4300n - 1n);
  });

  it('rejects malformed pickles with DnfErrors', () => {
    for (const h of ['52', '2874', '6805', '8006', 'ff', '80024b01', '8002284b012e', '8002580000ffff']) {
      expect(() => unpickle(hex(h), { name: 't.pkl' }), h).toThrow(DnfError);
    }
  });
});

describe('convertCheckpoint (Node)', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'dnf-convert-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('writes safetensors that read back equal, and refuses to overwrite without --overwrite', async () => {
    const out = join(tmp, 'model.safetensors');
    const s = await convertCheckpoint(join(DIR, 'wrapped.legacy.pt'), out);
    expect(formatSummary(s)).toMatch(/\(torch legacy, state dict \['model'\]\) -> .*model\.safetensors: 18 tensors, 344 parameters, [\d.]+ KiB; dropped 5 \(1\.num_batches_tracked, extra\.int32, extra\.int64, \.\.\.\); ignored optimizer, total_steps, args$/);
    const { file, close } = await openSafetensors(out);
    try {
      expect(file.metadata).toEqual({ format: 'pt', source: 'wrapped.legacy.pt', source_format: 'torch-legacy', state_dict: "['model']" });
      expect(file.names()).toEqual(FLOATS);
      for (const n of FLOATS) expect(Buffer.from(await file.read(n)).equals(Buffer.from(await expected.read(n)))).toBe(true);
    } finally {
      await close();
    }
    await expectDnfError(convertCheckpoint(join(DIR, 'sd.zip.pt'), out), /already exists; pass --overwrite/);
    await convertCheckpoint(join(DIR, 'sd.zip.pt'), out, { overwrite: true });
    await expectDnfError(convertCheckpoint(join(DIR, 'missing.pt'), join(tmp, 'x.safetensors')), /missing\.pt: no such file/);
  });
});

describe('dnf convert (CLI)', () => {
  it('registers a command that converts and prints one line', async () => {
    const { Command } = await import('commander');
    const { register } = await import('../src/cli/convert.js');
    const tmp = mkdtempSync(join(tmpdir(), 'dnf-cli-'));
    const lines: string[] = [];
    const log = console.log;
    console.log = (...a: unknown[]) => { lines.push(a.join(' ')); };
    try {
      const program = new Command('dnf').exitOverride();
      register(program);
      const out = join(tmp, 'out.safetensors');
      await program.parseAsync(['convert', join(DIR, 'module.zip.pt'), '-o', out, '--keep-integers'], { from: 'user' });
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^converted .*module\.zip\.pt \(torch zip\) -> .*out\.safetensors: 22 tensors, .*; stripped 'module\.'; dropped 1 \(module\.1\.num_batches_tracked\)$/);
      await expectDnfError(program.parseAsync(['convert', join(DIR, 'module.zip.pt'), '-o', out], { from: 'user' }), /already exists/);
    } finally {
      console.log = log;
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});
