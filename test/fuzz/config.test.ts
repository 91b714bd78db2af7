/**
 * Fuzzers of the config-like inputs (issue 14, item 5): UNet configs from a JSON file (read by
 * loadUnetConfig and compared with a weights header as resolveUnet does), from a weights file's
 * metadata, hostile weights headers against a valid config, ResNet keys, the training state of
 * last.safetensors and a classifier's metadata. Generators are structured: a real config (preset,
 * tiny, DDIM layout) with fields retyped, huge, negative, fractional, missing, unknown or nested
 * junk, and text-level damage on top. Every case must end in a valid result or a one-line DnfError
 * naming the file, within the time and heap bounds.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, it } from 'vitest';
import { classifierInput } from '../../src/classifier-metadata.js';
import { resnetConfigFromKeys, resnetLayout, resnetPreset } from '../../src/models/resnet-config.js';
import { parseUnetConfig, unetConfigFromMetadata, unetPreset, type UnetConfig } from '../../src/models/unet-config.js';
import { checkUnetWeights, unetLayout } from '../../src/models/unet-layout.js';
import { loadUnetConfig } from '../../src/node/unet-config.js';
import { parseTrainState } from '../../src/node/train/state.js';
import { checkState } from '../../src/train/resnet.js';
import { headerOnlyFile as headerOnly } from '../synthetic-weights.js';
import { sampleState } from '../train-state-sample.js';
import { fuzzReader, fuzzRuns } from './harness.js';

const dir = mkdtempSync(join(tmpdir(), 'dnf-fuzz-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// Time: a case takes well under 20 ms; the bound catches runaway work (the configs that led here
// allocated for 49 s), not the scheduling noise of a loaded machine. Heap: a case grows it by < 2 MiB.
const BOUNDS = { maxMs: 2000, maxHeapBytes: 48 * 2 ** 20 };
/** The key-by-key error lists up to 5 keys of 80 characters per kind (missing, mis-shaped, unused). */
const LISTING = { maxMessageLength: 1600 };

/** The tiny UNet of the goldens (its config and PyTorch layout). */
function goldenMetadata(): Record<string, string> {
  const bytes = readFileSync(join(import.meta.dirname, '..', 'fixtures', 'golden', 'unet.safetensors'));
  const n = Number(bytes.readBigUInt64LE(0));
  return JSON.parse(bytes.subarray(8, 8 + n).toString('utf8')).__metadata__;
}
const tiny = parseUnetConfig(JSON.parse(goldenMetadata().config), 'unet golden');

const tinyWeights = headerOnly(join(dir, 'tiny.safetensors'), unetLayout(tiny));

/** Values that break types and ranges: huge, negative, fractional, NaN-like, strings, junk. */
const hostile: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(0, -1, 1, 3, 32, 4096, 4097, 2 ** 31, 2 ** 32, 2 ** 53, 2 ** 53 + 2, -(2 ** 31), 1e308, -1e308, 5e-324, 0.5, 127.9, -0.0),
  fc.integer(),
  fc.integer({ min: 0, max: 8192 }),
  fc.double(),
  fc.constantFrom('128', 'NaN', 'Infinity', '', 'simple', '\u0000\n', 'x'.repeat(500)),
  fc.constantFrom(null, true, false, [], {}, [16], [1, 2], [1, 1, 2, 2, 4, 4], [[1]], { a: { b: [1] } }),
  fc.array(fc.integer({ min: -4, max: 300 }), { maxLength: 20 }),
  fc.array(fc.oneof(fc.integer(), fc.double(), fc.string()), { maxLength: 8 }),
  fc.anything({ maxDepth: 3 }),
);

const FIELDS = ['ch', 'out_ch', 'ch_mult', 'num_res_blocks', 'attn_resolutions', 'in_channels', 'resamp_with_conv', 'resolution', 'dropout'];
const fieldName = fc.oneof(fc.constantFrom(...FIELDS), fc.constantFrom('chmult', 'type', 'model', 'data', '__proto__', 'constructor'), fc.string({ maxLength: 12 }));
type Mutation = { kind: 'set'; field: string; value: unknown } | { kind: 'delete'; field: string };
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), field: fieldName, value: hostile }),
  fc.record({ kind: fc.constant('delete' as const), field: fieldName }),
);
const base: fc.Arbitrary<UnetConfig> = fc.constantFrom(tiny, unetPreset('lsun-bedroom-256'), unetPreset('cifar10-32'), { ...tiny, resamp_with_conv: false });

function mutate(target: Record<string, unknown>, ms: Mutation[]): void {
  for (const m of ms) {
    // Reflect: a property that cannot change (an array's length) stays as it is.
    if (m.kind === 'set') Reflect.defineProperty(target, m.field, { value: m.value, enumerable: true, writable: true, configurable: true });
    else Reflect.deleteProperty(target, m.field);
  }
}

/** A config's JSON text: flat or DDIM layout, mutated, sometimes damaged as text. */
const configText: fc.Arbitrary<string> = fc
  .record({
    config: base,
    ddim: fc.boolean(),
    mutations: fc.array(mutation, { maxLength: 4 }),
    outer: fc.array(mutation, { maxLength: 2 }),
    text: fc.oneof(
      { weight: 6, arbitrary: fc.constant(null) },
      fc.record({ cut: fc.nat(), insert: fc.string({ maxLength: 4 }) }),
    ),
    junk: fc.oneof({ weight: 8, arbitrary: fc.constant(null) }, fc.json({ maxDepth: 4 })),
  })
  .map(({ config, ddim, mutations, outer, text, junk }) => {
    if (junk !== null) return junk;
    const fields: Record<string, unknown> = JSON.parse(JSON.stringify(config));
    let json: Record<string, unknown> = fields;
    if (ddim) {
      const { resolution, ...model } = fields;
      json = { data: { image_size: resolution, channels: fields.in_channels }, model: { type: 'simple', var_type: 'fixedsmall', ...model }, diffusion: {} };
      mutate(json.model as Record<string, unknown>, mutations);
      mutate(json, outer);
    } else {
      mutate(json, mutations);
    }
    let s = JSON.stringify(json);
    if (text) {
      const at = text.cut % (s.length + 1);
      s = s.slice(0, at) + text.insert + s.slice(at + (text.cut % 3));
    }
    return s;
  });

describe('config fuzzers', () => {
  it('UNet config files: loadUnetConfig, then the comparison with the weights (the path of resolveUnet)', async () => {
    const weights = await tinyWeights;
    const path = join(dir, 'config.json');
    await fuzzReader('unet-config-file', configText, async (text) => {
      writeFileSync(path, text);
      const config = await loadUnetConfig(path);
      checkUnetWeights(config, weights, path);
      return config;
    }, { ...BOUNDS, runs: fuzzRuns(1500), fileName: dir });
  });

  it('UNet configs in a weights file\'s metadata (unet_config)', async () => {
    const weights = await tinyWeights;
    const recorded = fc.oneof(configText, fc.constantFrom('lsun-bedroom-256', 'cifar10-32', 'bedroom', ' {', '{"ch":'), fc.string({ maxLength: 30 }));
    await fuzzReader('unet-config-metadata', recorded, (text) => {
      const config = unetConfigFromMetadata({ unet_config: text }, weights.source.name);
      if (config) checkUnetWeights(config, weights, 'its metadata unet_config');
      return config;
    }, { ...BOUNDS, runs: fuzzRuns(800), fileName: weights.source.name });
  });

  it('hostile weights headers against a valid config (field by field, then key by key, before any allocation)', async () => {
    const layout = unetLayout(tiny);
    const dims = fc.oneof(fc.constantFrom(0, 1, 3, 32, 64, 2 ** 31, 2 ** 40), fc.integer({ min: 0, max: 4096 }));
    const header = fc.record({
      drop: fc.oneof(fc.constant([]), fc.array(fc.nat({ max: layout.length - 1 }), { maxLength: 4 })),
      reshape: fc.oneof(fc.constant([]), fc.array(fc.record({ at: fc.nat({ max: layout.length - 1 }), shape: fc.array(dims, { minLength: 1, maxLength: 5 }) }), { maxLength: 4 })),
      add: fc.oneof(fc.constant([]), fc.array(fc.record({ key: fc.oneof(fc.constantFrom('down.2.block.0.conv1.weight', 'down.0.block.7.conv1.weight', 'down.1.attn.0.q.weight', 'model_ema.decay'), fc.string({ maxLength: 20 })), shape: fc.array(dims, { maxLength: 4 }) }), { maxLength: 3 })),
      config: fc.oneof(fc.constant(tiny), base),
    });
    const name = join(dir, 'hostile.safetensors');
    await fuzzReader('unet-weights-header', header, async ({ drop, reshape, add, config }) => {
      const edited = layout.map(([k, s]): [string, number[]] => [k, [...s]]);
      for (const r of reshape) edited[r.at][1] = r.shape;
      const dropped = new Set(drop.map((i) => edited[i][0]));
      const keys = new Set(edited.map(([k]) => k));
      const final = [...edited.filter(([k]) => !dropped.has(k)), ...add.filter((a) => !keys.has(a.key) && a.key !== '__metadata__').map((a): [string, number[]] => [a.key, a.shape])];
      const unique = [...new Map(final).entries()];
      const file = await headerOnly(name, unique);
      checkUnetWeights(config, file, 'config.json');
      return file;
    }, { ...BOUNDS, ...LISTING, runs: fuzzRuns(800), fileName: name });
  });

  it('ResNet keys: the architecture read from hostile shapes, and the state check before allocation', async () => {
    const layout = resnetLayout(resnetPreset('resnet18'));
    const dims = fc.oneof(fc.constantFrom(0, 1, 3, 7, 64, 512, 2 ** 31, 2 ** 40), fc.integer({ min: 0, max: 10_000 }));
    const edits = fc.record({
      reshape: fc.oneof(fc.constant([]), fc.array(fc.record({ at: fc.nat({ max: layout.length - 1 }), shape: fc.array(dims, { maxLength: 5 }) }), { maxLength: 4 })),
      drop: fc.oneof(fc.constant([]), fc.array(fc.nat({ max: layout.length - 1 }), { maxLength: 3 })),
      blocks: fc.oneof(fc.constant(0), fc.nat({ max: 400 })),
    });
    const name = 'hostile-resnet.safetensors';
    await fuzzReader('resnet-keys', edits, ({ reshape, drop, blocks }) => {
      const edited = layout.map(([k, s]): [string, number[]] => [k, [...s]]);
      for (const r of reshape) edited[r.at][1] = r.shape;
      const dropped = new Set(drop.map((i) => edited[i][0]));
      const all = edited.filter(([k]) => !dropped.has(k));
      for (let j = 2; j < 2 + blocks; j++) all.push([`layer1.${j}.conv1.weight`, [64, 64, 3, 3]]);
      const shapes = new Map(all);
      const keys = { names: () => [...shapes.keys()], info: (n: string) => ({ shape: shapes.get(n)! }) };
      const config = resnetConfigFromKeys(keys, name);
      checkState(config, { name, shape: (k) => shapes.get(k) ?? null, read: async () => new Float32Array(0) });
      return config;
    }, { ...BOUNDS, runs: fuzzRuns(800), fileName: name });
  });

  it('the training state of last.safetensors (dnf.train_state)', async () => {
    const paths = ['config', 'config.train', 'schedule', 'schedule.stopper', 'epochLoss', 'best', 'history.0', 'config.betas', ''];
    const edits = fc.record({
      mutations: fc.array(fc.record({ path: fc.constantFrom(...paths), m: mutation }), { maxLength: 4 }),
      field: fc.array(fc.record({ key: fc.constantFrom('step', 'epoch', 'batch', 'logBytes', 'bad', 'history', 'finished', 'version'), value: hostile }), { maxLength: 3 }),
      junk: fc.oneof({ weight: 9, arbitrary: fc.constant(null) }, fc.json({ maxDepth: 3 })),
    });
    const name = 'run/last.safetensors';
    await fuzzReader('train-state', edits, ({ mutations, field, junk }) => {
      if (junk !== null) return parseTrainState(junk, name);
      const s = JSON.parse(JSON.stringify(sampleState())) as Record<string, unknown>;
      for (const { key, value } of field) s[key] = value;
      for (const { path, m } of mutations) {
        const target = path.split('.').filter(Boolean).reduce<unknown>((o, k) => (o && typeof o === 'object' ? (o as Record<string, unknown>)[k] : undefined), s);
        if (target && typeof target === 'object') mutate(target as Record<string, unknown>, [m]);
      }
      return parseTrainState(JSON.stringify(s), name);
    }, { ...BOUNDS, runs: fuzzRuns(800), fileName: name });
  });

  it("a classifier's metadata (dnf.image_size, dnf.antialias)", async () => {
    const value = fc.oneof(fc.constantFrom('64', '256', '4096', '4097', '0', '-1', '1e3', '64.0', ' 64', '00064', 'true', 'false', 'TRUE', '\n'), fc.string({ maxLength: 12 }));
    const md = fc.record({ 'dnf.image_size': value, 'dnf.antialias': value }, { requiredKeys: [] });
    await fuzzReader('classifier-metadata', md, (m) => classifierInput(m as Record<string, string>, 'classifier.safetensors'), { ...BOUNDS, runs: fuzzRuns(800), fileName: 'classifier.safetensors' });
  });
});
