/**
 * The UNet config read off tensor shapes (src/models/unet-infer.ts) and chosen for weights
 * without one (src/pipeline/unet.ts): the golden tiny UNet (tools/golden/unet.py's PyTorch
 * layout, in its metadata), and the published lsun/cifar10 layouts (unetLayout of the presets,
 * which test/unet-layout.test.ts checks against the registry's parameter counts), as headers
 * alone: only the header is read, so the data is never materialised.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DnfError } from '../src/errors.js';
import { parseUnetConfig, unetPreset, type UnetConfig } from '../src/models/unet-config.js';
import { checkConfigFits, inferUnetConfig } from '../src/models/unet-infer.js';
import { unetLayout, type Layout } from '../src/models/unet-layout.js';
import { resnetLayout, resnetPreset } from '../src/models/resnet-config.js';
import { chooseUnetConfig, givenUnetConfig } from '../src/pipeline/unet.js';
import { headerOnlyFile as headerOnly } from './synthetic-weights.js';


const goldenMeta = (() => {
  const bytes = readFileSync(join(import.meta.dirname, 'fixtures', 'golden', 'unet.safetensors'));
  const n = Number(bytes.readBigUInt64LE(0));
  return JSON.parse(bytes.subarray(8, 8 + n).toString('utf8')).__metadata__ as Record<string, string>;
})();
const tiny = parseUnetConfig(JSON.parse(goldenMeta.config), 'unet golden');
const tinyLayout = JSON.parse(goldenMeta.keys) as Layout;

describe('inferUnetConfig', () => {
  it.each(['lsun-bedroom-256', 'cifar10-32'] as const)('reads the %s preset off its layout, resolution included (no guess)', async (preset) => {
    const inferred = inferUnetConfig(await headerOnly('p.safetensors', unetLayout(unetPreset(preset))));
    expect(inferred).toEqual({ config: unetPreset(preset), preset, resolutionFrom: `preset ${preset}`, resolutionGuessed: false });
  });

  it("reads the tiny golden's shape fields off PyTorch's layout; its resolution (12) is no shape's, so the attention level's 16 px gives 32", async () => {
    const inferred = inferUnetConfig(await headerOnly('tiny.safetensors', tinyLayout));
    expect(inferred.config).toEqual({ ...tiny, resolution: 32, attn_resolutions: [16] });
    expect(inferred.preset).toBeNull();
    expect(inferred.resolutionGuessed).toBe(true);
    expect(inferred.resolutionFrom).toBe('the attention level (DDPM attends at 16x16)');
    // and the same fields without resampling convs (tools/golden/unet.py's avg-pool variant)
    const avg = inferUnetConfig(await headerOnly('avg.safetensors', JSON.parse(goldenMeta['keys.avgpool']) as Layout));
    expect(avg.config).toEqual({ ...tiny, resolution: 32, attn_resolutions: [16], resamp_with_conv: false });
  });

  it('places a level-4 attention at 256 px for an lsun layout without resampling convs, and takes 256 when no level attends', async () => {
    const noConv: UnetConfig = { ...unetPreset('lsun-bedroom-256'), resamp_with_conv: false };
    delete noConv.dropout;
    expect(inferUnetConfig(await headerOnly('a.safetensors', unetLayout(noConv))).config).toEqual(noConv);
    const noAttn: UnetConfig = { ...tiny, attn_resolutions: [] };
    const inferred = inferUnetConfig(await headerOnly('b.safetensors', unetLayout(noAttn)));
    expect(inferred.config).toEqual({ ...noAttn, resolution: 256 });
    expect(inferred.resolutionFrom).toBe('the default');
  });

  it('refuses weights that are no DDPM UNet in one line naming the file', async () => {
    const resnet = await headerOnly('resnet.safetensors', resnetLayout(resnetPreset('resnet18')));
    expect(() => inferUnetConfig(resnet)).toThrow(DnfError);
    expect(() => inferUnetConfig(resnet)).toThrow(/^resnet\.safetensors: cannot read a UNet config from the tensor shapes \(no 4-d conv_in\.weight\); give its config \(--model-config, or createDetector's unetConfig\), or check that these are DDPM UNet weights$/);
  });
});

describe('chooseUnetConfig and checkConfigFits', () => {
  it('prefers the given config, then the recorded one, then the inferred one', async () => {
    const lsun = unetLayout(unetPreset('lsun-bedroom-256'));
    expect(chooseUnetConfig(await headerOnly('l.safetensors', lsun)).config).toEqual(unetPreset('lsun-bedroom-256'));
    expect(chooseUnetConfig(await headerOnly('l.safetensors', lsun)).note).toBeUndefined();
    const recorded = await headerOnly('t.safetensors', tinyLayout, { unet_config: JSON.stringify(tiny) });
    expect(chooseUnetConfig(recorded)).toEqual({ config: tiny, configName: 'its metadata unet_config' });
    const given = chooseUnetConfig(await headerOnly('t.safetensors', tinyLayout), { ...givenUnetConfig({ ...tiny, resolution: 24, attn_resolutions: [12] }) });
    expect(given.config.resolution).toBe(24);
  });

  it('names both configs in one line when the given one belongs to other weights', async () => {
    const file = await headerOnly('u.safetensors', tinyLayout);
    const run = () => checkConfigFits(unetPreset('lsun-bedroom-256'), file, '--model-config lsun-bedroom-256', 'drop --model-config, or pass the matching config');
    expect(run).toThrow(DnfError);
    expect(run).toThrow(
      'u.safetensors: these weights are a UNet with ch 32, ch_mult [1,2], num_res_blocks 1, attention at level 1, in_channels 3, out_ch 3, resamp_with_conv true; --model-config lsun-bedroom-256 has ch 128, ch_mult [1,1,2,2,4,4], num_res_blocks 2, attention at level 4: drop --model-config, or pass the matching config',
    );
    expect(() => chooseUnetConfig(file, givenUnetConfig('cifar10-32'))).toThrow(/^u\.safetensors: these weights are a UNet with .*; unetConfig "cifar10-32" has ch 128, ch_mult \[1,2,2,2\], num_res_blocks 2: leave unetConfig out/);
    expect(() => givenUnetConfig('lsun')).toThrow('unetConfig "lsun" is no UNet preset (presets: lsun-bedroom-256, cifar10-32); give a preset name or a UnetConfig object');
  });
});
