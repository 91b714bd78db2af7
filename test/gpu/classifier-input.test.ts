/**
 * The classifier's input size and antialiasing from its safetensors metadata (src/classifier-metadata.ts,
 * what `dnf train` writes): parsing and its one-line errors, loadClassifier, and `dnf detect`
 * (runDetect --from-dnf, in-process on this file's GPU) classifying at the recorded size and antialiasing
 * (an explicit --antialias / --no-antialias wins, with a warning when it contradicts the record). The
 * classifier is the small Bottleneck ResNet of test/detect-setup.ts; the "DNFs" are patterned PNGs.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { classifyDnfImages, type Verdict } from '../../src/pipeline/classify.js';
import { classifierInput } from '../../src/classifier-metadata.js';
import { runDetect, type DetectOptions } from '../../src/cli/detect.js';
import { DnfError } from '../../src/errors.js';
import { decodeImageFile } from '../../src/image/decode-node.js';
import type { RgbImage } from '../../src/image/pixels.js';
import { loadClassifier } from '../../src/node/classifier.js';
import { openSafetensors, writeSafetensorsFile } from '../../src/node/files.js';
import type { TensorToWrite } from '../../src/weights/safetensors.js';
import { classifierPth, pattern } from '../detect-setup.js';
import { convertCheckpoint } from '../../src/node/convert.js';
import { testGpu } from './helpers.js';

let root: string;
let inDir: string;
let plain: string; // the converted classifier, no dnf.* metadata
let tensors: TensorToWrite[];
let baseMetadata: Record<string, string>;
let dnfs: RgbImage[];
const SIZES: Array<[number, number]> = [[96, 80], [40, 40], [130, 70]]; // larger than 64 mostly: antialiasing matters

/** The converted classifier rewritten with `extra` metadata, as `dnf train` would save it. */
async function classifierWith(name: string, extra: Record<string, string>): Promise<string> {
  const path = join(root, name);
  await writeSafetensorsFile(path, tensors, { ...baseMetadata, 'dnf.arch': 'custom', ...extra });
  return path;
}

async function detect(classifier: string, opts: Partial<DetectOptions> = {}) {
  let out = '';
  let err = '';
  const report = await runDetect([inDir], {
    classifier, fromDnf: true, threshold: 0.5, format: 'json', steps: 0, feature: 'first', antialias: false, ...opts,
  }, { gpu: await testGpu(), out: { write: (t: string) => (out += t) }, progress: { sink: { write: (t: string) => (err += t) } }, signal: new AbortController().signal });
  return { report, out, lines: err.trim().split('\n') };
}

/** classifyDnfImages on the converted classifier itself. */
async function reference(size: number, antialias: boolean): Promise<Verdict[]> {
  const { model } = await loadClassifier(await testGpu(), plain);
  try {
    return await classifyDnfImages(model, dnfs, { size, antialias });
  } finally {
    model.dispose();
  }
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'dnf-cls-input-'));
  inDir = join(root, 'in');
  await mkdir(inDir, { recursive: true });
  const files: string[] = [];
  for (const [i, [w, h]] of SIZES.entries()) {
    files.push(join(inDir, `${i}.png`));
    await pattern(w, h, 7 + 4 * i).png().toFile(files[i]);
  }
  dnfs = await Promise.all(files.map((f) => decodeImageFile(f)));
  plain = join(root, 'plain.safetensors');
  await convertCheckpoint(classifierPth, plain);
  const { file, close } = await openSafetensors(plain);
  try {
    baseMetadata = { ...file.metadata };
    tensors = [];
    for (const name of file.names()) {
      const { dtype, shape } = file.info(name);
      tensors.push({ name, dtype, shape: [...shape], data: await file.read(name) });
    }
  } finally {
    await close();
  }
}, 120_000);

afterAll(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

describe('classifierInput (metadata parsing)', () => {
  it('absent keys: 256 and null; valid ones are read', () => {
    expect(classifierInput({}, 'c.safetensors')).toEqual({ inputSize: 256, antialias: null });
    expect(classifierInput({ 'dnf.image_size': '64', 'dnf.antialias': 'true', 'dnf.arch': 'resnet18', 'dnf.training': '{}' }, 'c')).toEqual({ inputSize: 64, antialias: true });
    expect(classifierInput({ 'dnf.image_size': '4096', 'dnf.antialias': 'false' }, 'c')).toEqual({ inputSize: 4096, antialias: false });
    expect(classifierInput({ 'dnf.image_size': '1' }, 'c')).toEqual({ inputSize: 1, antialias: null });
  });

  it('a bad value is one line naming the file, the key and the value', () => {
    for (const v of ['0', 'abc', '', ' 64', '64.0', '-1', '4097', '1e3', '0x40', '99999999999']) {
      expect(() => classifierInput({ 'dnf.image_size': v }, 'dir/c.safetensors'), v).toThrow(DnfError);
      expect(() => classifierInput({ 'dnf.image_size': v }, 'dir/c.safetensors'), v)
        .toThrow(`dir/c.safetensors: its metadata dnf.image_size is ${JSON.stringify(v)}, not a whole number of pixels from 1 to 4096; fix the entry, or remove it for the default 256`);
    }
    for (const v of ['True', '1', 'yes', '']) {
      expect(() => classifierInput({ 'dnf.antialias': v }, 'c.safetensors'), v)
        .toThrow(`c.safetensors: its metadata dnf.antialias is ${JSON.stringify(v)}, not "true" or "false"; fix the entry, or remove it for the default resize`);
    }
    expect(() => classifierInput({ 'dnf.image_size': 'a\nb' }, 'c')).toThrow(/is "a\?b", not a whole number/); // control characters never reach the terminal
  });
});

describe('loadClassifier', () => {
  it('returns the metadata\'s input; 256 and null for a plain file and for a PyTorch checkpoint', async () => {
    const gpu = await testGpu();
    const cases: Array<[string, number, boolean | null, string]> = [
      [plain, 256, null, 'safetensors'],
      [classifierPth, 256, null, 'zip'],
      [await classifierWith('s64.safetensors', { 'dnf.image_size': '64', 'dnf.antialias': 'true' }), 64, true, 'safetensors'],
    ];
    for (const [path, inputSize, antialias, format] of cases) {
      const loaded = await loadClassifier(gpu, path);
      loaded.model.dispose();
      expect({ inputSize: loaded.inputSize, antialias: loaded.antialias, format: loaded.format }, path).toEqual({ inputSize, antialias, format });
    }
  });
});

describe('dnf detect with a classifier that records its input', { timeout: 600_000 }, () => {
  it('dnf.image_size "64": exactly classifyDnfImages at size 64 (which differs from 256), and says so', async () => {
    const at64 = await reference(64, false);
    const at256 = await reference(256, false);
    for (const [i, v] of at64.entries()) expect(v.logit, `image ${i}`).not.toBe(at256[i].logit);

    const r = await detect(await classifierWith('cls64.safetensors', { 'dnf.image_size': '64' }));
    expect(r.report.failed).toBe(0);
    expect(r.report.results.map((x) => x.logit)).toEqual(at64.map((v) => v.logit)); // toEqual on numbers: identical
    expect(r.report.results.map((x) => x.prob)).toEqual(at64.map((v) => v.prob));
    expect(r.lines[0]).toMatch(/^detect: 3 images; batch 16, \w+, ResNet \(bottleneck blocks 1,2,1,1, stem 10\) at 64x64 \(cls64\.safetensors\), inputs are DNFs$/);

    const before = await detect(plain); // no metadata: today's 256, and no size in the description
    expect(before.report.results.map((x) => x.logit)).toEqual(at256.map((v) => v.logit));
    expect(before.lines[0]).toMatch(/ResNet \(bottleneck blocks 1,2,1,1, stem 10\) \(plain\.safetensors\), inputs are DNFs$/);
  });

  it('without an explicit flag, dnf.antialias decides the classifier\'s resize; absent, the setting applies', async () => {
    const aa = await reference(64, true);
    const plainBicubic = await reference(64, false);
    expect(aa.map((v) => v.logit)).not.toEqual(plainBicubic.map((v) => v.logit));
    const withAa = await classifierWith('cls64-aa.safetensors', { 'dnf.image_size': '64', 'dnf.antialias': 'true' });
    expect((await detect(withAa, { antialias: false })).report.results.map((x) => x.logit)).toEqual(aa.map((v) => v.logit));
    const withoutAa = await classifierWith('cls64-noaa.safetensors', { 'dnf.image_size': '64', 'dnf.antialias': 'false' });
    expect((await detect(withoutAa, { antialias: true })).report.results.map((x) => x.logit)).toEqual(plainBicubic.map((v) => v.logit));
    const unset = await classifierWith('cls64-unset.safetensors', { 'dnf.image_size': '64' });
    expect((await detect(unset, { antialias: true })).report.results.map((x) => x.logit)).toEqual(aa.map((v) => v.logit));
  });

  it('an explicit --antialias / --no-antialias wins over dnf.antialias, with a one-line warning when they differ', async () => {
    const aa = await reference(64, true);
    const plainBicubic = await reference(64, false);
    const withAa = await classifierWith('cls64-aa.safetensors', { 'dnf.image_size': '64', 'dnf.antialias': 'true' });
    const off = await detect(withAa, { antialias: false, antialiasGiven: true });
    expect(off.report.results.map((x) => x.logit)).toEqual(plainBicubic.map((v) => v.logit));
    expect(off.lines).toContain(`detect: warning: ${withAa} was trained with dnf.antialias true; --no-antialias given, so its inputs are resized without antialiasing`);
    const withoutAa = await classifierWith('cls64-noaa.safetensors', { 'dnf.image_size': '64', 'dnf.antialias': 'false' });
    const on = await detect(withoutAa, { antialias: true, antialiasGiven: true });
    expect(on.report.results.map((x) => x.logit)).toEqual(aa.map((v) => v.logit));
    expect(on.lines).toContain(`detect: warning: ${withoutAa} was trained with dnf.antialias false; --antialias given, so its inputs are resized with antialiasing`);
    const agree = await detect(withAa, { antialias: true, antialiasGiven: true });
    expect(agree.report.results.map((x) => x.logit)).toEqual(aa.map((v) => v.logit));
    expect(agree.lines.filter((l) => l.includes('warning'))).toEqual([]);
  });

  it('a bad dnf.image_size stops detect with one line naming the file', async () => {
    for (const v of ['0', 'abc']) {
      const path = await classifierWith(`bad-${v}.safetensors`, { 'dnf.image_size': v });
      const err = await detect(path).then(() => null, (e: unknown) => e);
      expect(err, v).toBeInstanceOf(DnfError);
      const message = (err as DnfError).message;
      expect(message).toBe(`${path}: its metadata dnf.image_size is "${v}", not a whole number of pixels from 1 to 4096; fix the entry, or remove it for the default 256`);
      expect(message).not.toContain('\n');
      expect((err as DnfError).exitCode).toBe(2);
    }
  });
});
