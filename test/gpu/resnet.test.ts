/**
 * The ResNet classifier against PyTorch (tools/golden/resnet.py; torch 1.13, torchvision 0.14).
 *
 * Expected values, per case:
 * - ops.maxpool_*: `F.max_pool2d(x, 3, 2, 1)`; ops.avgpool: `F.adaptive_avg_pool2d(x, 1).flatten(1)`;
 *   ops.convbn: `bn(F.conv2d(x, weight, stride=2, padding=1))` in eval mode.
 * - nets: `torch.sigmoid(model(x))` of torchvision-layout ResNets (Bottleneck and BasicBlock) with
 *   calibrated BatchNorm statistics, loaded from their {'model': sd} checkpoints (zip and legacy)
 *   through the in-memory conversion; x = q / 255 of quantised-DNF-like uint8 images, or
 *   `resize(q, [64, 64], BICUBIC, antialias) / 255` on the uint8 tensor for the resized cases.
 *
 * Tolerances (relative to max(1, |want|), see helpers.expectClose):
 * - max pool, ReLU: exact (0): they select values.
 * - average pool: 1e-6: a sum of at most 15 f32 values in PyTorch's order, one division.
 * - conv + folded BN: 1e-5: the fold rounds w * gamma / sqrt(var + eps) once (f32) where PyTorch
 *   rounds the conv and the affine separately; sums of 54 products as in test/gpu/conv2d.test.ts.
 * - logits: 1e-4: through ~12 convs (each ~1e-6 of its output scale, see conv2d.test.ts) plus the
 *   fold; activations are BatchNorm-normalised (O(1)). Measured on llvmpipe and SwiftShader (the
 *   same values on both): <= 1.0e-5 absolute, for logits up to 4.1 in magnitude.
 * - probabilities: 1e-5 absolute: sigmoid' <= 1/4 scales the logit error down (measured <= 1.4e-6).
 */
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { checkClassifier, classifyDnfImages } from '../../src/pipeline/classify.js';
import type { RgbImage } from '../../src/image/pixels.js';
import { conv2d, prepareConv2d } from '../../src/kernels/conv2d.js';
import { globalAvgPool, maxPool2d } from '../../src/kernels/pool.js';
import { ResNet } from '../../src/models/resnet.js';
import { foldBatchNorm } from '../../src/nn/batch-norm.js';
import { loadClassifier } from '../../src/node/classifier.js';
import { openFileSource } from '../../src/node/files.js';
import { checkpointToTensors } from '../../src/weights/convert.js';
import { bytesSource, SafetensorsFile, serializeSafetensors, type TensorToWrite } from '../../src/weights/safetensors.js';
import { Tensor } from '../../src/tensor.js';
import { expectClose, loadGolden, testGpu, type Golden } from './helpers.js';

const golden = loadGolden('resnet');
const checkpoint = (name: string) => fileURLToPath(new URL(`../fixtures/checkpoints/resnet-${name}.pth`, import.meta.url));
const LOGIT_TOL = 1e-4;
const PROB_TOL = 1e-5;
// The first dispatch of each conv entry compiles its pipeline: several seconds on llvmpipe.
const COMPILE_MS = 120_000;

/** The uint8 images of a case (stored HWC as float). */
function images(g: Golden, name: string): RgbImage[] {
  const [n, h, w] = g.shape(`${name}.q`);
  const q = g.get(`${name}.q`);
  const per = h * w * 3;
  return Array.from({ length: n }, (_, i) => ({ width: w, height: h, data: Uint8Array.from(q.subarray(i * per, (i + 1) * per)) }));
}

/** x = q.permute(0, 3, 1, 2).float() / 255 as a tensor. */
function unitTensor(gpu: Tensor['gpu'], g: Golden, name: string): Tensor {
  const [n, h, w, c] = g.shape(`${name}.q`);
  const q = g.get(`${name}.q`);
  const x = new Float32Array(q.length);
  for (let i = 0; i < n; i++) for (let y = 0; y < h; y++) for (let xx = 0; xx < w; xx++) for (let ch = 0; ch < c; ch++) {
    x[((i * c + ch) * h + y) * w + xx] = q[((i * h + y) * w + xx) * c + ch] / 255;
  }
  return Tensor.from(gpu, x, [n, c, h, w], 'x');
}

function expectVerdicts(got: Array<{ logit: number; prob: number }>, g: Golden, name: string): void {
  expectClose(got.map((v) => v.logit), g.get(`${name}.logits`), LOGIT_TOL, `${name} logits`);
  const probs = g.get(`${name}.probs`);
  got.forEach((v, i) => expect(Math.abs(v.prob - probs[i]), `${name} prob ${i}`).toBeLessThanOrEqual(PROB_TOL));
}

describe('pooling, ReLU and folded BatchNorm', () => {
  it.each(['maxpool_odd', 'maxpool_even', 'maxpool_neg'])('%s', async (name) => {
    const gpu = await testGpu();
    const g = await golden;
    const x = g.tensor(gpu, `ops.${name}.x`);
    const out = maxPool2d(x);
    expect(out.shape).toEqual(g.shape(`ops.${name}.out`));
    expectClose(await out.read(), g.get(`ops.${name}.out`), 0, name);
    [x, out].forEach((t) => t.dispose());
  });

  it('global average pool', async () => {
    const gpu = await testGpu();
    const g = await golden;
    const x = g.tensor(gpu, 'ops.avgpool.x');
    const out = globalAvgPool(x);
    expect(out.shape).toEqual(g.shape('ops.avgpool.out'));
    expectClose(await out.read(), g.get('ops.avgpool.out'), 1e-6, 'avgpool');
    [x, out].forEach((t) => t.dispose());
  });

  it('conv + eval-mode BatchNorm folded into one conv', async () => {
    const gpu = await testGpu();
    const g = await golden;
    const shape = g.shape('ops.convbn.weight');
    const bn = { weight: g.get('ops.convbn.bn_weight'), bias: g.get('ops.convbn.bn_bias'), runningMean: g.get('ops.convbn.bn_mean'), runningVar: g.get('ops.convbn.bn_var') };
    const folded = foldBatchNorm(g.get('ops.convbn.weight'), null, bn);
    const w = prepareConv2d(gpu, folded.weight, shape, folded.bias, 'convbn');
    const x = g.tensor(gpu, 'ops.convbn.x');
    const out = conv2d(x, w, { stride: 2 });
    expect(out.shape).toEqual(g.shape('ops.convbn.out'));
    expectClose(await out.read(), g.get('ops.convbn.out'), 1e-5, 'convbn');
    [x, out].forEach((t) => t.dispose());
    w.dispose();
  }, COMPILE_MS);

  it('refuses a non-positive running variance and pooling windows PyTorch refuses', async () => {
    const gpu = await testGpu();
    const bn = { weight: new Float32Array([1]), bias: new Float32Array([0]), runningMean: new Float32Array([0]), runningVar: new Float32Array([-1]) };
    expect(() => foldBatchNorm(new Float32Array(9), null, bn, 1e-5, 'layer1.0.bn1')).toThrow(/layer1\.0\.bn1\.running_var\[0\] is -1, not a variance/);
    const x = Tensor.from(gpu, new Float32Array(16), [1, 1, 4, 4]);
    expect(() => maxPool2d(x, { k: 3, stride: 2, pad: 2 })).toThrow(/pad <= k \/ 2/);
    x.dispose();
  });
});

describe('ResNet', () => {
  it('Bottleneck net from the zip and the legacy checkpoint: equal weights, PyTorch logits and probabilities', async () => {
    const gpu = await testGpu();
    const g = await golden;
    const zip = await loadClassifier(gpu, checkpoint('bottleneck.zip'));
    const legacy = await loadClassifier(gpu, checkpoint('bottleneck.legacy'));
    try {
      expect([zip.format, legacy.format]).toEqual(['zip', 'legacy']);
      const c = zip.model.config;
      expect([c.block, c.stem, c.numClasses, c.stages]).toEqual(['bottleneck', 10, 1, [
        { blocks: 1, width: 5, out: 20 }, { blocks: 2, width: 12, out: 48 }, { blocks: 1, width: 20, out: 80 }, { blocks: 1, width: 24, out: 96 },
      ]]);
      expect(zip.model.name).toBe('ResNet (bottleneck blocks 1,2,1,1, stem 10)');
      const imgs = images(g, 'bottleneck.square');
      const a = await classifyDnfImages(zip.model, imgs, { size: 48 });
      expectVerdicts(a, g, 'bottleneck.square');
      expect(await classifyDnfImages(legacy.model, imgs, { size: 48 })).toEqual(a); // same weights, same kernels: bit for bit
    } finally {
      zip.model.dispose();
      legacy.model.dispose();
    }
  }, COMPILE_MS);

  it('odd input sizes (45 x 37) through the stride-2 convs and the pool', async () => {
    const gpu = await testGpu();
    const g = await golden;
    const { model } = await loadClassifier(gpu, checkpoint('bottleneck.zip'));
    const x = unitTensor(gpu, g, 'bottleneck.odd');
    const logits = model.forward(x);
    expect(logits.shape).toEqual([1, 1]);
    expectClose(await logits.read(), g.get('bottleneck.odd.logits'), LOGIT_TOL, 'odd');
    [x, logits].forEach((t) => t.dispose());
    model.dispose();
  }, COMPILE_MS);

  it('DNFs of another size are resized on the uint8 image (up: plain bicubic, down: antialiased)', async () => {
    const gpu = await testGpu();
    const g = await golden;
    const { model } = await loadClassifier(gpu, checkpoint('bottleneck.zip'));
    expectVerdicts(await classifyDnfImages(model, images(g, 'bottleneck.up'), { size: 64, antialias: false }), g, 'bottleneck.up');
    expectVerdicts(await classifyDnfImages(model, images(g, 'bottleneck.down'), { size: 64, antialias: true }), g, 'bottleneck.down');
    model.dispose();
  }, COMPILE_MS);

  it('BasicBlock net', async () => {
    const gpu = await testGpu();
    const g = await golden;
    const { model } = await loadClassifier(gpu, checkpoint('basic.zip'));
    expect([model.config.block, model.config.stages.map((s) => s.blocks)]).toEqual(['basic', [2, 1, 1, 1]]);
    expectVerdicts(await classifyDnfImages(model, images(g, 'basic.square'), { size: 48 }), g, 'basic.square');
    model.dispose();
  }, COMPILE_MS);

  it('forwardBatched splits a batch larger than maxBatch and gives the same logits', async () => {
    const gpu = await testGpu();
    const g = await golden;
    const { model } = await loadClassifier(gpu, checkpoint('bottleneck.zip'));
    const x = unitTensor(gpu, g, 'bottleneck.square');
    const whole = model.forward(x);
    expect(model.maxBatch(48, 48)).toBeGreaterThan(3);
    Object.defineProperty(model, 'maxBatch', { value: () => 2 }); // chunks of 2 + 1
    const split = model.forwardBatched(x);
    expect(await split.read()).toEqual(await whole.read()); // images are independent: bit for bit
    [x, whole, split].forEach((t) => t.dispose());
    model.dispose();
  }, COMPILE_MS);

  it('a checkpoint that is not a one-logit ResNet gets a message naming the file and the problem', async () => {
    const gpu = await testGpu();
    await expect(loadClassifier(gpu, fileURLToPath(new URL('../fixtures/checkpoints/sd.zip.pt', import.meta.url))))
      .rejects.toThrow(/sd\.zip\.pt: not a torchvision ResNet classifier \(no conv1\.weight\)/);

    const src = await openFileSource(checkpoint('bottleneck.zip'));
    const { tensors } = await checkpointToTensors(src).finally(() => src.close());
    const file = (edit: (t: TensorToWrite[]) => TensorToWrite[]) =>
      SafetensorsFile.open(bytesSource('edited.safetensors', serializeSafetensors(edit(tensors))));
    // Two outputs: loads as a ResNet, refused as a DNF classifier.
    const two = await ResNet.fromSafetensors(gpu, await file((ts) => ts.map((t) =>
      t.name === 'fc.weight' ? { ...t, shape: [2, 96], data: new Uint8Array(2 * 96 * 4) } : t.name === 'fc.bias' ? { ...t, shape: [2], data: new Uint8Array(8) } : t)));
    expect(() => checkClassifier(two, 'two.pth')).toThrow(/two\.pth: the classifier's fc has 2 outputs; a DNF classifier has one/);
    two.dispose();
    // A missing BatchNorm statistic and a mis-shaped conv: one message lists both.
    const broken = await file((ts) => ts.filter((t) => t.name !== 'layer2.1.bn2.running_var').map((t) =>
      t.name === 'layer3.0.conv2.weight' ? { ...t, shape: [20, 20, 9] } : t));
    await expect(ResNet.fromSafetensors(gpu, broken)).rejects.toThrow(
      /edited\.safetensors: the checkpoint does not fit ResNet \(bottleneck blocks 1,2,1,1, stem 10\): 1 missing \(layer2\.1\.bn2\.running_var \[12\]\); 1 mis-shaped \(layer3\.0\.conv2\.weight \[20,20,9\] should be \[20,20,3,3\]\)/);
  }, COMPILE_MS);
});
