/** UNet config parsing and validation (src/models/unet-config.ts, src/node/unet-config.ts). */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DnfError } from '../src/errors.js';
import { levelResolutions, parseUnetConfig, unetPreset, UNET_PRESETS } from '../src/models/unet-config.js';
import { loadUnetConfig } from '../src/node/unet-config.js';

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
  });

  it.each([
    [[], 'expected a JSON object'],
    [{ ...lsun, chmult: [1] }, 'unknown field "chmult" (known: ch, out_ch, ch_mult,'],
    [{ ...lsun, ch: undefined }, 'missing "ch"'],
    [{ ...lsun, ch: 48 }, '"ch" must be a multiple of 32 (GroupNorm uses 32 groups), got 48'],
    [{ ...lsun, ch: 12.5 }, '"ch" must be an integer >= 32, got 12.5'],
    [{ ...lsun, ch_mult: [] }, '"ch_mult" must be a non-empty list of integers >= 1, got []'],
    [{ ...lsun, num_res_blocks: 0 }, '"num_res_blocks" must be an integer >= 1, got 0'],
    [{ ...lsun, attn_resolutions: '16' }, '"attn_resolutions" must be a list of integers >= 1, got "16"'],
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
  });
});
