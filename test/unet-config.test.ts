/** UNet config parsing and validation (src/models/unet-config.ts, src/node/unet-config.ts). */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DnfError } from '../src/errors.js';
import { levelResolutions, MAX_CONFIG_BYTES, parseUnetConfig, unetConfigFromMetadata, unetPreset, UNET_LIMITS, UNET_PRESETS } from '../src/models/unet-config.js';
import { loadUnetConfig } from '../src/node/unet-config.js';
import { defaultBatch, maxBatch } from '../src/models/ddpm-unet.js';

const lsun = unetPreset('lsun-bedroom-256');

describe('parseUnetConfig', () => {
  it('accepts every preset as flat JSON', () => {
    for (const name of Object.keys(UNET_PRESETS) as Array<keyof typeof UNET_PRESETS>) {
      const preset = unetPreset(name);
      expect(parseUnetConfig(JSON.parse(JSON.stringify(preset)), name)).toEqual(preset);
    }
    expect(levelResolutions(lsun)).toEqual([256, 128, 64, 32, 16, 8]);
  });

  it("reads the DDIM repository's layout (model section + data.image_size), ignoring training settings", () => {
    const ddim = {
      data: { dataset: 'LSUN', category: 'bedroom', image_size: 256, channels: 3 },
      model: {
        type: 'simple', in_channels: 3, out_ch: 3, ch: 128, ch_mult: [1, 1, 2, 2, 4, 4], num_res_blocks: 2,
        attn_resolutions: [16], dropout: 0.0, var_type: 'fixedsmall', ema_rate: 0.999, ema: true, resamp_with_conv: true,
      },
      diffusion: { beta_schedule: 'linear', beta_start: 0.0001, beta_end: 0.02, num_diffusion_timesteps: 1000 },
    };
    expect(parseUnetConfig(ddim, 'bedroom.json')).toEqual(lsun);
    expect(() => parseUnetConfig({ ...ddim, model: { ...ddim.model, type: 'bayesian' } }, 'b.json')).toThrow(/b.json: .*model type "bayesian" is not supported/);
    expect(() => parseUnetConfig({ model: ddim.model }, 'c.json')).toThrow(/missing "data.image_size"/);
    // Unknown keys are refused in the model section and at the top; sizes and channels must agree.
    const refuse = (json: unknown, message: string) => expect(() => parseUnetConfig(json, 'd.json')).toThrow(`d.json: invalid UNet config: ${message}`);
    refuse({ ...ddim, model: { ...ddim.model, num_res_block: 2 } }, 'unknown field "model.num_res_block" (known: ch, out_ch,');
    refuse({ ...ddim, runner: {} }, 'unknown section "runner" (known: data, model, diffusion, training, sampling, optim)');
    refuse({ ...ddim, data: [] }, '"data" must be an object');
    refuse({ ...ddim, model: { ...ddim.model, resolution: 128 } }, '"model.resolution" 128 and "data.image_size" 256 differ');
    refuse({ ...ddim, data: { ...ddim.data, channels: 1 } }, '"data.channels" 1 and "model.in_channels" 3 differ');
    refuse({ ...ddim, model: { ...ddim.model, num_res_blocks: 99 } }, '"model.num_res_blocks" must be an integer from 1 to 16, got 99');
    refuse({ ...ddim, data: { image_size: 257 } }, '"data.image_size" 257 must be divisible by 32');
  });

  it.each([
    [[], 'expected a JSON object'],
    [{ ...lsun, chmult: [1] }, 'unknown field "chmult" (known: ch, out_ch, ch_mult,'],
    [{ ...lsun, ch: undefined }, 'missing "ch"'],
    [{ ...lsun, ch: 48 }, '"ch" must be a multiple of 32 (GroupNorm uses 32 groups), got 48'],
    [{ ...lsun, ch: 12.5 }, '"ch" must be an integer from 32 to 4096, got 12.5'],
    [{ ...lsun, ch_mult: [] }, '"ch_mult" must be a list of 1 to 12 integers from 1 to 128, got []'],
    [{ ...lsun, num_res_blocks: 0 }, '"num_res_blocks" must be an integer from 1 to 16, got 0'],
    [{ ...lsun, attn_resolutions: '16' }, '"attn_resolutions" must be a list of up to 12 integers from 1 to 4096, got "16"'],
    // The bounds (UNET_LIMITS): far above any published config, found by fuzzing.
    [{ ...lsun, num_res_blocks: 4096 }, '"num_res_blocks" must be an integer from 1 to 16, got 4096'],
    [{ ...lsun, in_channels: 2147483648 }, '"in_channels" must be an integer from 1 to 4096, got 2147483648'],
    [{ ...lsun, out_ch: -3 }, '"out_ch" must be an integer from 1 to 4096, got -3'],
    [{ ...lsun, ch: 8192 }, '"ch" must be an integer from 32 to 4096, got 8192'],
    [{ ...lsun, ch: 1e300 }, '"ch" must be an integer from 32 to 4096, got 1e+300'],
    [{ ...lsun, ch: '128' }, '"ch" must be an integer from 32 to 4096, got "128"'],
    [{ ...lsun, ch: null }, '"ch" must be an integer from 32 to 4096, got null'],
    [{ ...lsun, ch_mult: [1, 2, 64] }, '"ch_mult" entry 64 makes a level 8192 channels wide (ch 128), more than 4096'],
    [{ ...lsun, ch_mult: Array(13).fill(1) }, '"ch_mult" must be a list of 1 to 12 integers from 1 to 128, got [1,1,1,1,1,1,1,1,1,1,1,1,1]'],
    [{ ...lsun, ch_mult: [1, [2]] }, '"ch_mult" must be a list of 1 to 12 integers from 1 to 128, got [1,[2]]'],
    [{ ...lsun, resolution: 8192 }, '"resolution" must be an integer from 1 to 4096, got 8192'],
    [{ ...lsun, ch_mult: [1, 1, 1, 1, 1, 1, 1, 1, 1, 1], resolution: 256 }, '"resolution" 256 must be divisible by 512 (halved 9 times for 10 levels)'],
    [{ ...lsun, dropout: 'none' }, '"dropout" must be a number in [0, 1), got "none"'],
    [{ ...lsun, ch: 'x'.repeat(1000) }, `"ch" must be an integer from 32 to 4096, got "${'x'.repeat(39)}...`],
    [{ ...lsun, attn_resolutions: [16, 20] }, '"attn_resolutions" [20] match no level (levels at 256, 128, 64, 32, 16, 8)'],
    [{ ...lsun, resamp_with_conv: 'yes' }, '"resamp_with_conv" must be true or false, got "yes"'],
    [{ ...lsun, resolution: 200 }, '"resolution" 200 must be divisible by 32 (halved 5 times for 6 levels)'],
    [{ ...lsun, dropout: 1 }, '"dropout" must be a number in [0, 1), got 1'],
  ])('refuses %j', (json, message) => {
    const call = () => parseUnetConfig(json, 'my.json');
    expect(call).toThrow(DnfError);
    expect(call).toThrow(`my.json: invalid UNet config: ${message}`);
  });
});

describe('the bounds', () => {
  it('are far above every preset', () => {
    for (const name of Object.keys(UNET_PRESETS) as Array<keyof typeof UNET_PRESETS>) {
      const p = unetPreset(name);
      expect(Math.max(p.ch, ...p.ch_mult.map((m) => p.ch * m), p.in_channels, p.out_ch) * 4).toBeLessThanOrEqual(UNET_LIMITS.channels);
      expect(p.num_res_blocks * 4).toBeLessThanOrEqual(UNET_LIMITS.numResBlocks);
      expect(p.ch_mult.length * 2).toBeLessThanOrEqual(UNET_LIMITS.levels);
      expect(p.resolution * 8).toBeLessThanOrEqual(UNET_LIMITS.resolution);
    }
  });
});

describe('unetConfigFromMetadata', () => {
  it('reads a preset name or a JSON config, and names the file in one line otherwise', () => {
    expect(unetConfigFromMetadata({}, 'w.safetensors')).toBeNull();
    expect(unetConfigFromMetadata({ unet_config: 'cifar10-32' }, 'w.safetensors')).toEqual(unetPreset('cifar10-32'));
    expect(unetConfigFromMetadata({ unet_config: JSON.stringify(lsun) }, 'w.safetensors')).toEqual(lsun);
    expect(() => unetConfigFromMetadata({ unet_config: 'bedroom\nx' }, 'w.safetensors')).toThrow(
      'w.safetensors: its metadata names an unknown UNet config "bedroom?x" (presets: lsun-bedroom-256, cifar10-32); pass --model-config',
    );
    expect(() => unetConfigFromMetadata({ unet_config: JSON.stringify({ ...lsun, num_res_blocks: 4096 }) }, 'w.safetensors')).toThrow(
      'w.safetensors (metadata unet_config): invalid UNet config: "num_res_blocks" must be an integer from 1 to 16, got 4096',
    );
    expect(() => unetConfigFromMetadata({ unet_config: '{"ch": ' }, 'w.safetensors')).toThrow(/^w\.safetensors \(metadata unet_config\): not valid JSON \(/);
  });
});

describe('loadUnetConfig', () => {
  const dir = mkdtemp(join(tmpdir(), 'dnf-unet-config-'));
  afterAll(async () => rm(await dir, { recursive: true }));

  it('takes a preset name or a JSON file', async () => {
    expect(await loadUnetConfig('cifar10-32')).toEqual(unetPreset('cifar10-32'));
    const path = join(await dir, 'tiny.json');
    const tiny = { ch: 32, out_ch: 3, ch_mult: [1, 2], num_res_blocks: 1, attn_resolutions: [], in_channels: 3, resamp_with_conv: false, resolution: 8 };
    await writeFile(path, JSON.stringify(tiny));
    expect(await loadUnetConfig(path)).toEqual(tiny);
  });

  it('names the file and the fix when it cannot', async () => {
    const missing = join(await dir, 'nope.json');
    await expect(loadUnetConfig(missing)).rejects.toThrow(`${missing}: no such file; give a UNet preset (lsun-bedroom-256, cifar10-32) or the path of a JSON config file`);
    const bad = join(await dir, 'bad.json');
    await writeFile(bad, '{ch: 1');
    await expect(loadUnetConfig(bad)).rejects.toThrow(new RegExp(`^${bad}: not valid JSON \\(.*\\); fix the file or use a preset$`));
    // Reading stops one byte past the limit, whatever the file is.
    const big = join(await dir, 'big.json');
    await writeFile(big, `{"ch": 128${' '.repeat(MAX_CONFIG_BYTES)}}`);
    await expect(loadUnetConfig(big)).rejects.toThrow(`${big}: more than 1048576 bytes, too long for a UNet config; give a UNet preset`);
    await expect(loadUnetConfig('/dev/zero')).rejects.toThrow('/dev/zero: more than 1048576 bytes');
  });
});

describe('defaultBatch', () => {
  const MiB = 1 << 20;
  it('fits one binding, at most 16, and on a CPU adapter 512 MiB of activations', () => {
    // LSUN-bedroom-256: the largest activation is 256 x 256 x 256 floats (64 MiB).
    expect(maxBatch(lsun, { maxBinding: 128 * MiB })).toBe(2);
    expect(defaultBatch(lsun, { maxBinding: 128 * MiB, memoryIsHost: true })).toBe(1); // llvmpipe / a browser's 128 MiB
    expect(defaultBatch(lsun, { maxBinding: 1024 * MiB, memoryIsHost: true })).toBe(1); // SwiftShader: 16 before
    expect(defaultBatch(lsun, { maxBinding: 128 * MiB, memoryIsHost: false })).toBe(2);
    expect(defaultBatch(lsun, { maxBinding: 2048 * MiB, memoryIsHost: false })).toBe(16);
    const cifar = unetPreset('cifar10-32');
    expect(defaultBatch(cifar, { maxBinding: 128 * MiB, memoryIsHost: true })).toBe(16);
  });
});
