/**
 * Winograd F(4x4, 3x3) against float64 truth (tools/golden/conv2d_winograd.py): `out` is
 * `F.conv2d(x, weight, bias, padding=1)` (then F.silu / + residual / F.relu) in float64, `torch32`
 * the same in PyTorch's float32.
 * Tolerance 2e-5 of the output scale. Measured (llvmpipe / SwiftShader, errors relative to
 * max|out|, printed by the first test): ours 3.9e-6 / 4.5e-6 on unet128 (128 input channels),
 * 2.9e-7 .. 2.9e-6 on the others; the direct kernel (conv2d.wgsl) 8e-8 .. 6.6e-7 and PyTorch's
 * float32 1.1e-7 .. 1.8e-6 on the same cases. The transforms' coefficients (B^T up to 5, A^T up
 * to 8, G's 1/6 and 1/24) make the transformed terms larger than the outputs they cancel into,
 * so their rounding weighs more: about 7x the direct kernel's error, 2.5x PyTorch's at 128 channels.
 * F(6x6, 3x3) (its coefficients reach 32 and 1/90): tolerance 4e-5; measured 4.9e-7 .. 6.3e-6 on
 * both adapters, 1.4x .. 2x F(4x4, 3x3)'s on the same cases.
 */
import { describe, expect, it } from 'vitest';
import { conv2d, prepareConv2d, type Conv2dOptions } from '../../src/kernels/conv2d.js';
import { conv2dWinograd, keepWinogradWeights, winogradChunkTiles, winogradLanes, winogradPays, winogradTile, winogradTilesPerLane, winogradWeights } from '../../src/kernels/conv2d-winograd.js';
import { add } from '../../src/kernels/elementwise.js';
import { groupNorm, groupNormStats } from '../../src/kernels/group-norm.js';
import { Conv2d } from '../../src/nn/conv2d.js';
import { randomValues } from '../../src/selftest.js';
import { Tensor } from '../../src/tensor.js';
import { bytesSource, SafetensorsFile, serializeSafetensors } from '../../src/weights/safetensors.js';
import { VarBuilder } from '../../src/weights/var-builder.js';
import { diff, expectClose, loadGolden, testGpu } from './helpers.js';

const golden = loadGolden('conv2d_winograd');
const TOL = 2e-5;
const TOL6 = 4e-5;
const COMPILE_MS = 60_000;

const cases: Array<[string, Conv2dOptions]> = [
  ['odd', {}],
  ['small', { act: 'swish' }],
  ['nobias_relu', { act: 'relu' }],
  ['wide', {}],
  ['unet128', { act: 'swish' }],
];

async function setup(name: string) {
  const gpu = await testGpu();
  const g = await golden;
  const w = prepareConv2d(gpu, g.get(`${name}.weight`), g.shape(`${name}.weight`), g.has(`${name}.bias`) ? g.get(`${name}.bias`) : null, name);
  const x = g.tensor(gpu, `${name}.x`);
  const residual = g.has(`${name}.residual`) ? g.tensor(gpu, `${name}.residual`) : undefined;
  return { gpu, g, w, x, residual };
}

describe('conv2d by Winograd F(4x4, 3x3)', () => {
  it.each(cases)(
    '%s: within 2e-5 of float64 truth, whatever the chunking',
    async (name, opts) => {
      const { g, w, x, residual } = await setup(name);
      const u = winogradWeights(w);
      const want = g.get(`${name}.out`);
      const got = await conv2dWinograd(x, w, u, { ...opts, residual }).read();
      const d = expectClose(got, want, TOL, name);
      const direct = diff(await conv2d(x, w, { ...opts, residual }).read(), want);
      const torch = diff(g.get(`${name}.torch32`), want);
      console.log(`${name}: winograd ${(d.maxAbs / d.scale).toExponential(2)}, direct ${(direct.maxAbs / d.scale).toExponential(2)}, torch f32 ${(torch.maxAbs / d.scale).toExponential(2)} of max|out| ${d.scale.toFixed(3)}`);
      // Chunks of 64 tiles (the smallest), every register tile and the product's lanes over the
      // output channels (winogradLanes' choice for few tiles) give the same bits as one chunk.
      const chunked = await conv2dWinograd(x, w, u, { ...opts, residual }, { chunkBytes: 1 }).read();
      expect(Buffer.from(chunked.buffer).equals(Buffer.from(got.buffer))).toBe(true);
      for (const tilesPerLane of [8, 16, 32, 64]) {
        const tiled = await conv2dWinograd(x, w, u, { ...opts, residual }, { tilesPerLane }).read();
        expect(Buffer.from(tiled.buffer).equals(Buffer.from(got.buffer)), `${tilesPerLane} tiles per invocation`).toBe(true);
      }
      // U and V from storage and from texel mirrors (the adapter's default is one of them).
      for (const reads of ['storage', 'texels'] as const) {
        const other = await conv2dWinograd(x, w, u, { ...opts, residual }, { reads }).read();
        expect(Buffer.from(other.buffer).equals(Buffer.from(got.buffer)), `reads ${reads}`).toBe(true);
      }
      // x and M read by the transforms from storage and from r32float mirrors (src/gpu/lane-reads.ts), chunked and not.
      for (const [laneReads, chunkBytes] of [['storage', undefined], ['texels', undefined], ['texels', 1]] as const) {
        const other = await conv2dWinograd(x, w, u, { ...opts, residual }, { laneReads, chunkBytes }).read();
        expect(Buffer.from(other.buffer).equals(Buffer.from(got.buffer)), `x and M from ${laneReads}, chunk bytes ${chunkBytes}`).toBe(true);
      }
      for (const [chunkBytes, reads] of [[undefined, undefined], [1, undefined], [undefined, 'storage'], [undefined, 'texels']] as const) {
        const byChannel = await conv2dWinograd(x, w, u, { ...opts, residual }, { lanes: 'channels', chunkBytes, reads }).read();
        expect(Buffer.from(byChannel.buffer).equals(Buffer.from(got.buffer)), `lanes over the channels, chunk bytes ${chunkBytes}, reads ${reads}`).toBe(true);
      }
      // F(6x6, 3x3): its own rounding, the same invariance to chunks and lanes.
      const u6 = winogradWeights(w, 6);
      const got6 = await conv2dWinograd(x, w, u6, { ...opts, residual }).read();
      const d6 = expectClose(got6, want, TOL6, `${name} F(6x6, 3x3)`);
      console.log(`${name}: F(6x6, 3x3) ${(d6.maxAbs / d6.scale).toExponential(2)} of max|out|`);
      for (const tuning of [{ chunkBytes: 1 }, { lanes: 'channels' as const }, { tilesPerLane: 8 }, { reads: 'storage' as const }, { reads: 'texels' as const }, { laneReads: 'storage' as const }, { laneReads: 'texels' as const, chunkBytes: 1 }, { vec4Stores: true }, { vec4Stores: false }, { vec4Stores: true, laneReads: 'texels' as const, chunkBytes: 1 }, { vec4Stores: true, lanes: 'channels' as const }]) {
        const other = await conv2dWinograd(x, w, u6, { ...opts, residual }, tuning).read();
        expect(Buffer.from(other.buffer).equals(Buffer.from(got6.buffer)), `F(6x6, 3x3) with ${JSON.stringify(tuning)}`).toBe(true);
      }
      u6.dispose();
      u.dispose();
      w.dispose();
    },
    3 * COMPILE_MS,
  );

  it('gives each image the same bits alone as in a batch', async () => {
    const { gpu, g, w, x } = await setup('odd');
    const u = winogradWeights(w);
    const both = await conv2dWinograd(x, w, u).read();
    const [, c, h, wd] = x.shape;
    const plane = c * h * wd;
    const outPlane = w.cout * h * wd;
    for (let i = 0; i < 2; i++) {
      const xi = Tensor.from(gpu, g.get('odd.x').slice(i * plane, (i + 1) * plane), [1, c, h, wd]);
      const alone = await conv2dWinograd(xi, w, u).read();
      expect(Buffer.from(alone.buffer).equals(Buffer.from(both.buffer, i * outPlane * 4, outPlane * 4))).toBe(true);
      xi.dispose();
    }
    u.dispose();
    w.dispose();
  }, COMPILE_MS);

  it('normalises as it reads (the bits of groupNorm then the conv), and adds a residual per image and channel (the bits of add)', async () => {
    const { gpu, w, x } = await setup('unet128');
    const u = winogradWeights(w);
    const u6 = winogradWeights(w, 6);
    const gamma = Tensor.from(gpu, randomValues(128, 11), [128]);
    const beta = Tensor.from(gpu, randomValues(128, 12), [128]);
    const proj = Tensor.from(gpu, randomValues(32, 13), [1, 32, 1, 1]);
    const bits = async (t: Tensor) => Buffer.from((await t.read()).buffer);
    for (const swish of [false, true]) {
      const normed = groupNorm(x, gamma, beta, { swish });
      const want = await bits(add(conv2dWinograd(normed, w, u), proj));
      const stats = groupNormStats(x, gamma, beta);
      const got = await bits(conv2dWinograd(x, w, u, { norm: { stats, swish }, residual: proj }));
      expect(got.equals(want)).toBe(true);
      for (const tuning of [{ laneReads: 'storage' as const }, { laneReads: 'texels' as const }]) {
        expect((await bits(conv2dWinograd(x, w, u, { norm: { stats, swish }, residual: proj }, tuning))).equals(want), JSON.stringify(tuning)).toBe(true);
      }
      // F(6x6, 3x3), its input transform writing V a vec4 of four tiles at a time and one value at a time.
      const want6 = await bits(add(conv2dWinograd(normed, w, u6), proj));
      for (const vec4Stores of [true, false]) {
        expect((await bits(conv2dWinograd(x, w, u6, { norm: { stats, swish }, residual: proj }, { vec4Stores }))).equals(want6), `F(6x6), vec4 stores ${vec4Stores}`).toBe(true);
      }
      stats.dispose();
      normed.dispose();
    }
    const stats = groupNormStats(x, gamma, beta);
    expect(() => conv2dWinograd(x, w, u, { residual: Tensor.from(gpu, new Float32Array(32), [32, 1, 1, 1]) })).toThrow(/residual/);
    expect(() => conv2dWinograd(x, w, u, { norm: { stats: Tensor.from(gpu, new Float32Array(8), [2, 4]), swish: false } })).toThrow(/statistics/);
    stats.dispose();
    u.dispose();
    u6.dispose();
    w.dispose();
  }, COMPILE_MS);

  it('is what nn/Conv2d runs on CPU adapters for maps of 32x32 and more with 32 channels and more, and smaller maps with 256; the direct kernel elsewhere', async () => {
    const gpu = await testGpu();
    const g = await golden;
    // The test adapters are CPU adapters (PV 4).
    expect(winogradPays(gpu, 32, 32, 128, 128)).toBe(true);
    expect(winogradPays(gpu, 16, 64, 128, 128)).toBe(false);
    expect(winogradPays(gpu, 64, 64, 32, 32)).toBe(true);
    expect(winogradPays(gpu, 64, 64, 16, 128)).toBe(false); // few channels: the transforms dominate
    expect(winogradPays(gpu, 256, 256, 128, 3)).toBe(false); // the UNet's conv_out
    expect(winogradPays(gpu, 16, 16, 512, 512)).toBe(true); // the LSUN UNet's 16x16 and 8x8 levels
    expect(winogradPays(gpu, 8, 8, 1024, 512)).toBe(true);
    expect(winogradPays(gpu, 4, 4, 256, 256)).toBe(true);
    expect(winogradPays(gpu, 16, 16, 128, 128)).toBe(false); // small maps need many channels
    expect(winogradPays(gpu, 2, 2, 512, 512)).toBe(false);
    // GpuOptions.conv3x3 (env DNF_CONV3X3) overrides the choice either way.
    const choosing = (conv3x3: string) => Object.create(gpu, { conv3x3: { value: conv3x3 } }) as typeof gpu;
    expect(winogradPays(choosing('direct'), 256, 256, 128, 128)).toBe(false);
    expect(winogradPays(choosing('winograd'), 8, 8, 3, 128)).toBe(true);
    const weight = { name: 'weight', dtype: 'F32' as const, shape: g.shape('unet128.weight'), data: g.get('unet128.weight') };
    const bias = { name: 'bias', dtype: 'F32' as const, shape: g.shape('unet128.bias'), data: g.get('unet128.bias') };
    const file = await SafetensorsFile.open(bytesSource('w.safetensors', serializeSafetensors([weight, bias])));
    const layer = await Conv2d.load(VarBuilder.fromSafetensors(gpu, file), 128, 32, 3);
    const w = layer.weights;
    const u = winogradWeights(w);
    const u6 = winogradWeights(w, 6);
    const bits = (a: Float32Array) => Buffer.from(a.buffer);
    expect([256, 64, 63, 32, 8].map((side) => winogradTile(side, side))).toEqual([6, 6, 4, 4, 4]);
    for (const side of [64, 32, 8]) {
      const x = Tensor.from(gpu, randomValues(128 * side * side, side), [1, 128, side, side]);
      const viaLayer = bits(await layer.forward(x).read());
      const wino = bits(await conv2dWinograd(x, w, u).read());
      const wino6 = bits(await conv2dWinograd(x, w, u6).read());
      const direct = bits(await conv2d(x, w).read());
      expect(viaLayer.equals(side >= 64 ? wino6 : side >= 32 ? wino : direct), `${side}x${side}`).toBe(true);
      expect(wino.equals(direct) || wino6.equals(wino)).toBe(false); // the three are told apart by their rounding
      x.dispose();
    }
    u6.dispose();
    // A residual per image and channel is added where a full one is, before relu.
    const x = Tensor.from(gpu, randomValues(128 * 32 * 32, 5), [1, 128, 32, 32]);
    const r = randomValues(32, 6);
    const perImage = Tensor.from(gpu, r, [1, 32, 1, 1]);
    const full = Tensor.from(gpu, Float32Array.from({ length: 32 * 32 * 32 }, (_, i) => r[Math.floor(i / 1024)]), [1, 32, 32, 32]);
    const byImage = bits(await layer.forward(x, { act: 'relu', residual: perImage }).read());
    expect(byImage.equals(bits(await layer.forward(x, { act: 'relu', residual: full }).read()))).toBe(true);
    [x, perImage, full].forEach((t) => t.dispose());
    u.dispose();
    layer.dispose();
  }, COMPILE_MS);

  it('keeps U as the GEMMs read it (CPU adapters: its texel mirror alone), with the bits of U in a buffer', async () => {
    const gpu = await testGpu();
    const [cin, cout, side] = [64, 32, 32];
    const w = prepareConv2d(gpu, randomValues(cout * cin * 9, 21).map((v) => v / Math.sqrt(cin * 9)), [cout, cin, 3, 3], randomValues(cout, 22));
    const x = Tensor.from(gpu, randomValues(cin * side * side, 23), [1, cin, side, side]);
    const bits = async (t: Tensor) => Buffer.from((await t.read()).buffer);
    for (const tile of [4, 6] as const) {
      const u = winogradWeights(w, tile);
      const kept = keepWinogradWeights(w, tile);
      expect(kept.storage).toBeNull(); // both test adapters read U from texels
      expect(kept.texels).not.toBeNull();
      for (const lanes of ['tiles', 'channels'] as const) {
        expect((await bits(conv2dWinograd(x, w, kept, {}, { lanes }))).equals(await bits(conv2dWinograd(x, w, u, {}, { lanes }))), `F(${tile}x${tile}), lanes over the ${lanes}`).toBe(true);
      }
      expect(() => conv2dWinograd(x, w, kept, {}, { reads: 'storage' })).toThrow(/kept as a texel mirror only/);
      const inBuffer = keepWinogradWeights(w, tile, 'storage');
      expect(inBuffer.texels).toBeNull();
      expect((await bits(conv2dWinograd(x, w, inBuffer))).equals(await bits(conv2dWinograd(x, w, u, {}, { reads: 'storage' })))).toBe(true);
      [kept, inBuffer, u].forEach((k) => k.dispose());
    }
    x.dispose();
    w.dispose();
  }, COMPILE_MS);

  it('chunks tiles (multiples of 64) within 32 MiB and the binding limit, picks the register tile; refuses strides and paddings it does not serve', async () => {
    const gpu = await testGpu();
    expect(winogradChunkTiles(gpu, 128, 128, 4096)).toBe(1792); // 32 MiB / (36 * 4 * 128 B), down to 64
    expect(winogradChunkTiles(gpu, 8, 16, 5)).toBe(64);
    // The largest register tile that keeps 8 invocations busy: 256x256 (chunks of 1792), 128x128, 64x64, 32x32 maps.
    expect([1792, 1024, 256, 64, 5].map((t) => winogradTilesPerLane(t))).toEqual([64, 64, 32, 8, 8]);
    // Fewer than 8 invocations' worth of tiles (16x16 and smaller maps at batch 1): lanes over the channels.
    expect([1792, 64, 57, 56, 16, 1].map(winogradLanes)).toEqual(['tiles', 'tiles', 'tiles', 'channels', 'channels', 'channels']);
    expect(winogradChunkTiles(gpu, 256, 128, 100)).toBe(128);
    expect(winogradChunkTiles(gpu, 128, 128, 4096, undefined, 6)).toBe(1024); // F(6x6, 3x3): 64 values per tile and channel
    const { w, x } = await setup('odd');
    const u = winogradWeights(w);
    expect(() => conv2dWinograd(x, w, u, { stride: 2 })).toThrow(/stride 1/);
    expect(() => conv2dWinograd(x, w, u, { padding: 0 })).toThrow(/stride 1/);
    expect(() => conv2dWinograd(x, w, u, {}, { tilesPerLane: 12 })).toThrow(/tilesPerLane/);
    expect(() => winogradWeights(w, 5 as 4)).toThrow(/output tiles of 4 or 6/);
    const other = prepareConv2d(gpu, new Float32Array(7 * 6 * 9), [7, 6, 3, 3]);
    const otherU = winogradWeights(other);
    expect(() => conv2dWinograd(x, w, otherU)).toThrow(/transformed weights/);
    otherU.dispose();
    other.dispose();
    u.dispose();
    w.dispose();
  });
});
