/**
 * The DDPM UNet against PyTorch (tools/golden/unet.py: its own implementation of the reference
 * architecture, tiny config ch 32, ch_mult [1, 2], 1 res block, attention at 6x6, 12x12 input,
 * synthetic weights from test/synthetic-weights.ts, loaded through the state-dict layout PyTorch
 * wrote, so every key and shape is PyTorch's).
 *
 * Tolerance 1e-4 of max|eps|: the forward chains ~25 convolutions (sums of up to 128*9 products),
 * 14 GroupNorms and 3 attentions, each f32 with another summation order than torch's CPU kernels
 * (a few ulp per layer); GroupNorm's 1/std amplifies absolute errors where a group has a small
 * spread. Measured: <= 3.5e-6 absolute (2e-6 of max|eps| = 1.7) on both adapters, so 1e-4 leaves a
 * margin of ~50 for other GPUs' summation orders and fused multiply-adds.
 */
import { describe, expect, it } from 'vitest';
import { DdpmUnet, largestActivation, maxBatch } from '../../src/models/ddpm-unet.js';
import { parseUnetConfig, unetPreset } from '../../src/models/unet-config.js';
import { Tensor } from '../../src/tensor.js';
import { loadTinyUnet, synthesizedFile, type Layout } from '../synthetic-weights.js';
import { expectClose, loadGolden, testGpu } from './helpers.js';

const TOL = 1e-4;
const golden = loadGolden('unet');

async function tinyUnet(suffix: '' | '.avgpool' = '') {
  const gpu = await testGpu();
  const g = await golden;
  return { gpu, g, unet: await loadTinyUnet(gpu, g.metadata, suffix) };
}

// vitest projects do not inherit the root testTimeout: CPU adapters need longer than 5 s.
describe('DdpmUnet (tiny config)', { timeout: 120_000 }, () => {
  it.each([
    ['resamp_with_conv', ''],
    ['avg-pool resampling', '.avgpool'],
  ] as const)('matches PyTorch at t = 0 and t = [10, 500] (%s)', async (_name, suffix) => {
    const { gpu, g, unet } = await tinyUnet(suffix);
    const x = g.tensor(gpu, 'x');
    for (const [t, key] of [[[0, 0], 'eps_t0'], [[10, 500], 'eps_t10_500']] as const) {
      const eps = unet.forward(x, t);
      expect(eps.shape).toEqual(g.shape(key + suffix));
      // torch: model(x, torch.tensor(t))
      const d = expectClose(await eps.read(), g.get(key + suffix), TOL, key + suffix);
      console.log(`unet ${key}${suffix}: max|diff| ${d.maxAbs.toExponential(2)} (max|eps| ${d.scale.toFixed(3)})`);
      eps.dispose();
    }
    x.dispose();
    unet.dispose();
  });

  it('forwardBatched splits a batch larger than maxBatch and gives the per-image results', async () => {
    const { gpu, g, unet } = await tinyUnet();
    const per = largestActivation(unet.config) * 4;
    // A fake binding limit that fits one image only: batch 2 runs as two chunks.
    const limited = Object.create(unet, { maxBatch: { get: () => maxBatch(unet.config, { maxBinding: per + 4 }) } }) as DdpmUnet;
    expect(limited.maxBatch).toBe(1);
    const x = g.tensor(gpu, 'x');
    const whole = await unet.forward(x, [10, 500]).read();
    const chunked = limited.forwardBatched(x, [10, 500]);
    expect(chunked.shape).toEqual([2, 3, 12, 12]);
    // Same kernels on the same data: per-image results are identical, bit for bit.
    expect(await chunked.read()).toEqual(whole);
    x.dispose();
    chunked.dispose();
    unet.dispose();
  });

  it('refuses a checkpoint that does not fit, listing every problem, and frees what it uploaded', async () => {
    const gpu = await testGpu();
    const g = await golden;
    const layout = (JSON.parse(g.metadata.keys) as Layout)
      .filter(([key]) => key !== 'mid.attn_1.q.bias')
      .map(([key, shape]): Layout[number] => [key, key === 'up.1.block.0.nin_shortcut.weight' ? [64, 64, 1, 1] : shape]);
    layout.push(['model_ema.decay', [1]]);
    const config = parseUnetConfig(JSON.parse(g.metadata.config), 'unet golden');
    const before = gpu.pool.inUse;
    await expect(DdpmUnet.fromSafetensors(gpu, config, await synthesizedFile(layout, 'wrong.safetensors'))).rejects.toThrow(
      /^wrong\.safetensors: the checkpoint does not fit a DDPM UNet with ch 32, ch_mult \[1,2\], num_res_blocks 1, attn_resolutions \[6\]: 1 missing \(mid\.attn_1\.q\.bias \[64\]\); 1 mis-shaped \(up\.1\.block\.0\.nin_shortcut\.weight \[64,64,1,1\] should be \[64,128,1,1\]\); 1 unused \(model_ema\.decay\); check/,
    );
    expect(gpu.pool.inUse).toBe(before);
  });

  it('rejects inputs of the wrong size or timestep count', async () => {
    const { gpu, unet } = await tinyUnet();
    const x = Tensor.empty(gpu, [1, 3, 16, 16]);
    expect(() => unet.forward(x, [0])).toThrow(/input \[1,3,16,16\] is not \[1,3,12,12\]/);
    const y = Tensor.empty(gpu, [2, 3, 12, 12]);
    expect(() => unet.forward(y, [0])).toThrow(/1 timesteps for 2 images/);
    x.dispose();
    y.dispose();
    unet.dispose();
  });
});

describe('maxBatch', () => {
  it('lsun-bedroom-256: the largest activation is the 256-channel concat at 256x256 (64 MiB a image)', () => {
    const config = unetPreset('lsun-bedroom-256');
    expect(largestActivation(config)).toBe(256 * 256 * 256);
    expect(maxBatch(config, { maxBinding: 128 * 2 ** 20 })).toBe(2);
    expect(maxBatch(config, { maxBinding: 64 * 2 ** 20 - 4 })).toBe(0);
  });

  it('counts the attention score matrix where it dominates', () => {
    const config = { ...unetPreset('cifar10-32'), attn_resolutions: [32] };
    expect(largestActivation(config)).toBe(32 ** 4); // [L, L] with L = 1024 > 384 channels x 32 x 32
  });
});
