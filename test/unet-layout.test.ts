/**
 * The UNet's state-dict layout and the comparison of a config with a checkpoint's header before
 * anything is allocated (src/models/unet-layout.ts, VarBuilder.check, resolveUnet in
 * src/cli/unet-options.ts, whose config choice is src/pipeline/unet.ts). The layouts quoted are PyTorch's: the 'unet' golden's metadata holds
 * `list((k, v.shape) for k, v in model.state_dict().items())` of tools/golden/unet.py's model.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveUnet } from '../src/cli/unet-options.js';
import { DnfError } from '../src/errors.js';
import type { Gpu } from '../src/gpu/gpu.js';
import { DdpmUnet } from '../src/models/ddpm-unet.js';
import { parseUnetConfig, unetPreset, type UnetConfig } from '../src/models/unet-config.js';
import { checkUnetFields, unetLayout, type Layout } from '../src/models/unet-layout.js';
import { WEIGHTS } from '../src/weights/registry.js';
import { serializeSafetensors, type TensorToWrite } from '../src/weights/safetensors.js';
import { VarBuilder } from '../src/weights/var-builder.js';
import { synthesizedFile } from './synthetic-weights.js';

/** The golden's metadata, read from its header alone. */
function goldenMetadata(): Record<string, string> {
  const bytes = readFileSync(join(import.meta.dirname, 'fixtures', 'golden', 'unet.safetensors'));
  const n = Number(bytes.readBigUInt64LE(0));
  return JSON.parse(bytes.subarray(8, 8 + n).toString('utf8')).__metadata__;
}
const metadata = goldenMetadata();
const tiny = parseUnetConfig(JSON.parse(metadata.config), 'unet golden');
const torchLayout = JSON.parse(metadata.keys) as Layout;
const sorted = (l: Layout) => [...l].sort(([a], [b]) => (a < b ? -1 : 1));
const count = (l: Layout) => l.reduce((n, [, s]) => n + s.reduce((a, b) => a * b, 1), 0);

describe('unetLayout', () => {
  it("lists PyTorch's keys and shapes, with and without resampling convs", () => {
    expect(sorted(unetLayout(tiny))).toEqual(sorted(torchLayout));
    expect(sorted(unetLayout({ ...tiny, resamp_with_conv: false }))).toEqual(sorted(JSON.parse(metadata['keys.avgpool'])));
  });

  it("counts the published checkpoints' parameters (the registry's numbers)", () => {
    for (const e of WEIGHTS) expect(count(unetLayout(unetPreset(e.config)))).toBe(e.parameters);
  });
});

describe('checkUnetFields', () => {
  const shapes = new Map(torchLayout);
  const shapeOf = (k: string) => shapes.get(k);
  const misfit = (config: Partial<UnetConfig>) => () => checkUnetFields({ ...tiny, ...config }, shapeOf, 'w.safetensors', 'my.json');

  it('accepts the config that belongs to the weights', () => {
    expect(misfit({})).not.toThrow();
  });

  it.each([
    [{ ch: 64 }, '"ch" is 64 there, but conv_in.weight is [32,3,3,3] (ch 32)'],
    [{ in_channels: 1 }, '"in_channels" is 1 there, but conv_in.weight is [32,3,3,3] (in_channels 3)'],
    [{ out_ch: 6 }, '"out_ch" is 6 there, but conv_out.weight is [3,32,3,3] (out_ch 3)'],
    [{ ch_mult: [1, 2, 2], resolution: 12 }, '"ch_mult" is [1,2,2] (3 levels) there, but the weights have 2 levels (down.0 to down.1)'],
    [{ ch_mult: [1, 4] }, '"ch_mult" is [1,4] there, but the weights\' levels are 32,64 channels wide (down.<i>.block.0.conv1.weight), ch_mult [1,2] for ch 32'],
    [{ num_res_blocks: 16 }, '"num_res_blocks" is 16 there, but the weights have 1 (down.0.block.0 to down.0.block.0)'],
    [{ resamp_with_conv: false }, '"resamp_with_conv" is false there, but the weights have down.0.downsample.conv.weight'],
    [{ attn_resolutions: [12] }, '"attn_resolutions" is [12] there, but the weights have attention at level 1 (down.<i>.attn), resolution [6] at 12 px'],
    [{ attn_resolutions: [] }, '"attn_resolutions" is [] there, but the weights have attention at level 1 (down.<i>.attn), resolution [6] at 12 px'],
  ])('names the field: %j', (config, message) => {
    expect(misfit(config)).toThrow(DnfError);
    expect(misfit(config)).toThrow(`w.safetensors: the UNet config (my.json) does not fit these weights: ${message}; check that the checkpoint and the model config belong together`);
  });
});

describe('DdpmUnet.load', () => {
  // A GPU that fails the test when touched: the checks run before anything is allocated.
  const noGpu = new Proxy({}, { get: (_, p) => { throw new Error(`the GPU was touched (${String(p)})`); } }) as Gpu;
  const load = async (config: UnetConfig, layout: Layout) => DdpmUnet.load(config, VarBuilder.fromSafetensors(noGpu, await synthesizedFile(layout, 'w.safetensors')), 'my.json');

  it('refuses a config that does not fit, naming the field, before touching the GPU', async () => {
    await expect(load({ ...tiny, num_res_blocks: 16 }, torchLayout)).rejects.toThrow(/^w\.safetensors: the UNet config \(my\.json\) does not fit these weights: "num_res_blocks" is 16 there/);
  });

  it('lists missing, mis-shaped and unused keys from the header alone', async () => {
    const layout = torchLayout.filter(([k]) => k !== 'mid.attn_1.q.bias').map(([k, s]): Layout[number] => [k, k === 'up.1.block.0.nin_shortcut.weight' ? [64, 64, 1, 1] : s]);
    layout.push(['model_ema.decay', [1]]);
    await expect(load(tiny, layout)).rejects.toThrow(
      'w.safetensors: the checkpoint does not fit a DDPM UNet with ch 32, ch_mult [1,2], num_res_blocks 1, attn_resolutions [6]: ' +
        '1 missing (mid.attn_1.q.bias [64]); 1 mis-shaped (up.1.block.0.nin_shortcut.weight [64,64,1,1] should be [64,128,1,1]); 1 unused (model_ema.decay); check',
    );
  });
});

describe('resolveUnet (the CLI path)', () => {
  const dir = mkdtemp(join(tmpdir(), 'dnf-unet-layout-'));
  afterAll(async () => rm(await dir, { recursive: true }));

  /** A weights file of the tiny UNet (zeros: only the header matters) and a config file. */
  async function setup(config: Record<string, unknown>, metadata?: Record<string, string>) {
    const tensors: TensorToWrite[] = torchLayout.map(([name, shape]) => ({ name, dtype: 'F32', shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)) }));
    const unet = join(await dir, 'tiny.safetensors');
    const modelConfig = join(await dir, 'config.json');
    await writeFile(unet, serializeSafetensors(tensors, metadata));
    await writeFile(modelConfig, JSON.stringify(config));
    return { unet, modelConfig, steps: 0, feature: 'first' as const, antialias: true };
  }

  /** The rejection of resolveUnet, its time and the heap it grew by. */
  async function refusal(opts: Parameters<typeof resolveUnet>[0]) {
    const heap = process.memoryUsage().heapUsed;
    const t0 = performance.now();
    const error = await resolveUnet(opts).then(() => null, (e: unknown) => e);
    return { error, ms: performance.now() - t0, heap: process.memoryUsage().heapUsed - heap };
  }

  it.each([
    ['num_res_blocks', 4096, '"num_res_blocks" must be an integer from 1 to 16, got 4096'],
    ['in_channels', 2147483648, '"in_channels" must be an integer from 1 to 4096, got 2147483648'],
  ])('refuses %s %d in one line within a second, allocating nothing big (found by fuzzing)', async (field, value, message) => {
    const opts = await setup({ ...tiny, [field]: value });
    const { error, ms, heap } = await refusal(opts);
    expect(error).toBeInstanceOf(DnfError);
    expect((error as Error).message).toBe(`${opts.modelConfig}: invalid UNet config: ${message}`);
    expect(ms).toBeLessThan(1000);
    expect(heap).toBeLessThan(64 * 2 ** 20);
  });

  it('refuses a config within the bounds that names other weights in one line, naming both configs', async () => {
    const opts = await setup({ ...tiny, num_res_blocks: 16, in_channels: 4096 });
    const { error, ms, heap } = await refusal(opts);
    expect((error as Error).message).toBe(
      `${opts.unet}: these weights are a UNet with ch 32, ch_mult [1,2], num_res_blocks 1, attention at level 1, in_channels 3, out_ch 3, resamp_with_conv true; --model-config ${opts.modelConfig} has num_res_blocks 16, in_channels 4096: drop --model-config, or pass the matching config`,
    );
    expect(ms).toBeLessThan(1000);
    expect(heap).toBeLessThan(64 * 2 ** 20);
  });

  it('checks the config recorded in the metadata; without one, reads it off the tensor shapes and says the resolution is a guess', async () => {
    const opts = await setup(tiny, { unet_config: JSON.stringify({ ...tiny, num_res_blocks: 2 }) });
    await expect(resolveUnet({ ...opts, modelConfig: undefined })).rejects.toThrow(`${opts.unet}: the UNet config (its metadata unet_config) does not fit these weights: "num_res_blocks" is 2 there`);
    const bare = await setup(tiny);
    // The tiny UNet attends at level 1; DDPM attends at 16x16, so the guess is 32 px (the golden's 12 cannot be read off shapes).
    expect(await resolveUnet({ ...bare, modelConfig: undefined })).toEqual({
      path: bare.unet,
      config: { ...tiny, resolution: 32, attn_resolutions: [16] },
      configName: 'the config read from the tensor shapes',
      note: `${bare.unet}: no UNet config recorded; its tensor shapes give ch 32, ch_mult [1,2], and resolution 32 is taken from the attention level (DDPM attends at 16x16): pass the model config if it was trained at another size`,
    });
    expect(await resolveUnet(bare)).toEqual({ path: bare.unet, config: tiny, configName: bare.modelConfig });
  });
});
