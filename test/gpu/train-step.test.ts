/**
 * Whole training steps of torchvision ResNets against PyTorch (tools/golden/train_step.py, torch
 * 1.13, torchvision 0.14): `basic` has ResNet18's structure (BasicBlock [2, 2, 2, 2]) and
 * `bottleneck` ResNet50's (Bottleneck [3, 4, 6, 3]), both with narrow widths so the fixture stays
 * small. From the same initial state dict and the same batches (x [4, 3, 37, 41], labels y):
 *   model.train(); loss = BCEWithLogitsLoss()(model(x).squeeze(1), y); loss.backward()
 *   torch.optim.Adam(model.parameters(), lr=1e-3).step()   (K steps, batch i at step i)
 * With DNF_TRAIN_GOLDEN=FILE the same checks run on a file the generator's tool mode wrote (real
 * torchvision ResNet18/50, any batch and size): see tools/train-check.sh.
 *
 * TOLERANCES
 */
import { describe, expect, it } from 'vitest';
import { resnetConfigFromKeys, type ResnetConfig } from '../../src/models/resnet-config.js';
import { TrainableResNet, stateSource, type StateSource } from '../../src/train/resnet.js';
import { Trainer, type TrainBatch } from '../../src/train/trainer.js';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadClassifier } from '../../src/node/classifier.js';
import { Tensor } from '../../src/tensor.js';
import { serializeTorchCheckpoint, stateDictObject } from '../../src/weights/torch-writer.js';
import { bytesSource, SafetensorsFile, serializeSafetensors } from '../../src/weights/safetensors.js';
import { loadGolden, loadGoldenFile, testGpu, type Golden } from './helpers.js';

const goldenFile = process.env.DNF_TRAIN_GOLDEN;
const golden = goldenFile ? loadGoldenFile(goldenFile) : loadGolden('train_step');
// A tool run's real ResNet50 takes minutes per test on a CPU adapter.
const TIMEOUT = goldenFile ? 3_600_000 : undefined;
const NETS = goldenFile ? [(process.env.DNF_TRAIN_NET ?? 'resnet50')] : ['basic', 'bottleneck'];
/** PyTorch's own float32 error for a net: the larger of its distances to float64 and to a channels_last run. */
interface OwnError {
  step1_loss: number;
  grad_rel: number;
  step1_running_rel: number;
  losses_per_step: number[];
  final_param_rel: number;
  final_running_mean_rel: number;
  final_running_var_rel: number;
  eval_logits: number;
}

function ownError(g: Golden, net: string): OwnError {
  const runs = ['float32_vs_float64', 'float32_vs_channels_last'].map((k) => g.metadata[`${net}.${k}`]).filter(Boolean).map((j) => JSON.parse(j) as OwnError);
  if (!runs.length) throw new Error(`golden has no ${net}.float32_vs_float64 metadata`);
  const max = (f: (e: OwnError) => number) => Math.max(...runs.map(f));
  return {
    step1_loss: max((e) => e.step1_loss),
    grad_rel: max((e) => e.grad_rel),
    step1_running_rel: max((e) => e.step1_running_rel),
    losses_per_step: runs[0].losses_per_step.map((_, i) => max((e) => e.losses_per_step[i])),
    final_param_rel: max((e) => e.final_param_rel),
    final_running_mean_rel: max((e) => e.final_running_mean_rel),
    final_running_var_rel: max((e) => e.final_running_var_rel),
    eval_logits: max((e) => e.eval_logits),
  };
}

/** A tolerance: 4 times PyTorch's own float32 error, and never below `floor` (the engine's own rounding). */
const within = (own: number, floor: number) => Math.max(floor, 4 * own);

/** The golden's tensors under `prefix` as a state source. */
function source(g: Golden, prefix: string): StateSource {
  return {
    name: `golden ${prefix}`,
    shape: (k) => (g.has(prefix + k) ? g.shape(prefix + k) : null),
    read: async (k) => g.get(prefix + k),
    count: async (k) => (g.has(prefix + k) ? g.get(prefix + k)[0] : null),
  };
}

function configOf(g: Golden, net: string): ResnetConfig {
  const prefix = `${net}.init.`;
  const keys = g.names().filter((k) => k.startsWith(prefix)).map((k) => k.slice(prefix.length));
  return resnetConfigFromKeys({ names: () => keys, info: (k) => ({ shape: g.shape(prefix + k) }) }, net);
}

function batch(g: Golden, net: string, i: number): TrainBatch {
  const [, n, c, h, w] = g.shape(`${net}.x`);
  const per = n * c * h * w;
  return { x: g.get(`${net}.x`).subarray(i * per, (i + 1) * per), shape: [n, c, h, w], y: g.get(`${net}.y`).subarray(i * n, (i + 1) * n) };
}

/** max |got - want| / max |want| (the absolute error when want is all zero); NaN propagates. */
function relErr(got: ArrayLike<number>, want: ArrayLike<number>): number {
  expect(got.length).toBe(want.length);
  let d = 0;
  let s = 0;
  for (let i = 0; i < want.length; i++) {
    const e = Math.abs(got[i] - want[i]);
    d = e > d || Number.isNaN(e) ? e : d;
    s = Math.max(s, Math.abs(want[i]));
  }
  return s > 0 ? d / s : d;
}

/** The worst relErr over tensors, and which. */
function worst(pairs: Iterable<[string, ArrayLike<number>, ArrayLike<number>]>): { err: number; name: string } {
  const w = { err: 0, name: '' };
  for (const [name, got, want] of pairs) {
    const e = relErr(got, want);
    if (!(e <= w.err)) Object.assign(w, { err: e, name });
  }
  return w;
}

async function modelFrom(g: Golden, net: string): Promise<TrainableResNet> {
  const model = new TrainableResNet(await testGpu(), configOf(g, net));
  await model.loadState(source(g, `${net}.init.`));
  return model;
}

async function stateOf(model: TrainableResNet): Promise<Map<string, Float32Array>> {
  const out = new Map<string, Float32Array>();
  for (const t of await model.stateDict()) {
    out.set(t.name, t.dtype === 'I64' ? Float32Array.of(Number((t.data as BigInt64Array)[0])) : (t.data as Float32Array));
  }
  return out;
}

describe.each(NETS)('%s', (net) => {
  it('one step: the loss, every gradient and the running statistics equal loss.backward()', async () => {
    const g = await golden;
    const model = await modelFrom(g, net);
    const b0 = batch(g, net, 0);
    const loss = await new Trainer(model).lossAndGradients(b0);
    const lossErr = Math.abs(loss - g.get(`${net}.step1.loss`)[0]);
    const grads = await model.arena.readAll('grad');
    const gradErr = worst([...grads].map(([k, v]) => [k, v, g.get(`${net}.step1.grad.${k}`)]));
    const state = await stateOf(model);
    const runErr = worst([...state].filter(([k]) => /running_(mean|var)$/.test(k)).map(([k, v]) => [k, v, g.get(`${net}.step1.state.${k}`)]));
    console.log(`${net} step 1: |loss diff| ${lossErr.toExponential(2)}, gradients ${gradErr.err.toExponential(2)} (${gradErr.name}), running stats ${runErr.err.toExponential(2)} (${runErr.name})`);
    const own = ownError(g, net);
    expect(lossErr).toBeLessThanOrEqual(within(own.step1_loss, 1e-6));
    expect(gradErr.err, gradErr.name).toBeLessThanOrEqual(within(own.grad_rel, 2e-5));
    expect(runErr.err, runErr.name).toBeLessThanOrEqual(within(own.step1_running_rel, 2e-6));
    expect(state.get('bn1.num_batches_tracked')![0]).toBe(1);
    // tools/train-adapters.sh compares what two adapters computed here.
    const dump = process.env.DNF_TRAIN_DUMP;
    if (dump) {
      await writeFile(`${dump}-${process.env.DNF_BACKEND}.safetensors`, serializeSafetensors([
        { name: 'loss', dtype: 'F32', shape: [], data: Float32Array.of(loss) },
        ...[...grads].map(([k, v]) => ({ name: `grad.${k}`, dtype: 'F32' as const, shape: [v.length], data: v })),
      ], { chunk_images: String(new Trainer(model).chunkImages(b0.shape[2], b0.shape[3])) }));
    }
    model.dispose();
  }, TIMEOUT);

  it('a batch in chunks gives the unsplit batch\'s loss and gradients', async () => {
    const g = await golden;
    const b = batch(g, net, 0);
    const run = async (chunkImages?: number) => {
      const model = await modelFrom(g, net);
      const loss = await new Trainer(model).lossAndGradients(b, { chunkImages });
      const grads = await model.arena.readAll('grad');
      const state = await stateOf(model);
      model.dispose();
      return { loss, grads, state };
    };
    // Unsplit where one binding holds the batch (the fixture's); a tool run's batch of 64 at 256x256
    // compares the adapter's own chunking with halves of it.
    const fit = new Trainer(await modelFrom(g, net)).chunkImages(b.shape[2], b.shape[3]);
    const whole = await run(Math.min(b.shape[0], fit));
    for (const chunkImages of goldenFile ? [Math.ceil(Math.min(b.shape[0], fit) / 2)] : [1, 3]) {
      const split = await run(chunkImages);
      const e = worst([...split.grads].map(([k, v]) => [k, v, whole.grads.get(k)!]));
      const s = worst([...split.state].map(([k, v]) => [k, v, whole.state.get(k)!]));
      console.log(`${net} chunks of ${chunkImages}: |loss diff| ${Math.abs(split.loss - whole.loss).toExponential(2)}, gradients ${e.err.toExponential(2)} (${e.name}), state ${s.err.toExponential(2)}`);
      const own = ownError(g, net);
      expect(Math.abs(split.loss - whole.loss)).toBeLessThanOrEqual(within(own.step1_loss, 1e-6));
      expect(e.err, e.name).toBeLessThanOrEqual(within(own.grad_rel, 2e-5));
      expect(s.err, s.name).toBeLessThanOrEqual(within(own.step1_running_rel, 2e-6));
    }
  }, TIMEOUT);

  it('K Adam steps: losses, every parameter and buffer, and the eval-mode logits equal PyTorch\'s', async () => {
    const g = await golden;
    const model = await modelFrom(g, net);
    const lr = JSON.parse(g.metadata[`${net}.config`] ?? '{"lr": 0.001}').lr as number;
    const trainer = new Trainer(model, { lr, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 });
    const want = g.get(`${net}.losses`);
    const losses: number[] = [];
    for (let i = 0; i < want.length; i++) losses.push(await trainer.trainStep(batch(g, net, i)));
    const lossErr = Math.max(...losses.map((l, i) => Math.abs(l - want[i])));
    const state = await stateOf(model);
    const paramErr = worst([...state].filter(([k]) => !/running_|num_batches/.test(k)).map(([k, v]) => [k, v, g.get(`${net}.final.${k}`)]));
    const bufErr = worst([...state].filter(([k]) => /running_/.test(k)).map(([k, v]) => [k, v, g.get(`${net}.final.${k}`)]));
    const b0 = batch(g, net, 0);
    const logitErr = relErr(await trainer.logits(b0), g.get(`${net}.eval.logits`));
    console.log(`${net} after ${want.length} steps: |loss diff| ${lossErr.toExponential(2)}, params ${paramErr.err.toExponential(2)} (${paramErr.name}), running stats ${bufErr.err.toExponential(2)} (${bufErr.name}), eval logits ${logitErr.toExponential(2)}`);
    const own = ownError(g, net);
    if (own.final_param_rel < 1e-3) {
      // PyTorch's float32 runs agree with each other: so must ours.
      losses.forEach((l, i) => expect(Math.abs(l - want[i]), `loss ${i}`).toBeLessThanOrEqual(within(own.losses_per_step[i], 1e-6)));
      expect(paramErr.err, paramErr.name).toBeLessThanOrEqual(within(own.final_param_rel, 1e-4));
      expect(bufErr.err, bufErr.name).toBeLessThanOrEqual(within(Math.max(own.final_running_mean_rel, own.final_running_var_rel), 1e-5));
      expect(logitErr).toBeLessThanOrEqual(within(own.eval_logits, 1e-5));
    } else {
      // Chaotic: PyTorch's own float32 runs part ways (a ReLU input within rounding of zero, see
      // the generator's docstring). The losses agree until they do; after that the check is
      // Adam's bound: a step moves a parameter by about lr at most.
      losses.forEach((l, i) => {
        if (own.losses_per_step[i] < 1e-4) expect(Math.abs(l - want[i]), `loss ${i}`).toBeLessThanOrEqual(within(own.losses_per_step[i], 1e-6));
      });
      let maxMove = 0;
      for (const [k, v] of state) {
        if (/running_|num_batches/.test(k)) continue;
        const w = g.get(`${net}.final.${k}`);
        for (let i = 0; i < v.length; i++) maxMove = Math.max(maxMove, Math.abs(v[i] - w[i]));
      }
      console.log(`${net}: chaotic in PyTorch's own float32 runs; final params within ${(maxMove / (lr * want.length)).toFixed(3)} x lr x steps`);
      expect(maxMove).toBeLessThanOrEqual(2.5 * lr * want.length);
    }
    expect(state.get('bn1.num_batches_tracked')![0]).toBe(want.length);

    // The saved state dict loads back to the same model, and folding BatchNorm gives the same logits.
    const file = await SafetensorsFile.open(bytesSource('trained.safetensors', serializeSafetensors(await model.stateDict())));
    const again = new TrainableResNet(model.gpu, model.config);
    await again.loadState(stateSource(file));
    expect(again.batchesTracked).toBe(want.length);
    const reloaded = await stateOf(again);
    for (const [k, v] of state) expect(reloaded.get(k), k).toEqual(v);
    // Folding BatchNorm into the convs (detect's model), directly and through the file detect
    // reads: the eval-mode logits to float32 rounding of the fold (1e-5, as test/gpu/resnet.test.ts).
    const evalLogits = await trainer.logits(b0);
    const dir = await mkdtemp(join(tmpdir(), 'dnf-train-'));
    const path = join(dir, 'trained.safetensors');
    await writeFile(path, serializeSafetensors(await model.stateDict()));
    const x = Tensor.from(model.gpu, b0.x, b0.shape, 'x');
    for (const inference of [await model.fold(), (await loadClassifier(model.gpu, path)).model]) {
      const logits = inference.forward(x);
      expect(relErr(await logits.read(), evalLogits)).toBeLessThanOrEqual(1e-5);
      logits.dispose();
      inference.dispose();
    }
    x.dispose();
    await rm(dir, { recursive: true });
    // A tool run hands the weights to PyTorch (tools/golden/check_pth.py --logits).
    const exportDir = process.env.DNF_TRAIN_EXPORT;
    if (exportDir) {
      await writeFile(join(exportDir, `${net}.pth`), serializeTorchCheckpoint(stateDictObject(await model.stateDict())));
      await writeFile(join(exportDir, `${net}.case.safetensors`), serializeSafetensors([
        { name: 'x', dtype: 'F32', shape: [...b0.shape], data: b0.x },
        { name: 'logits', dtype: 'F32', shape: [b0.shape[0]], data: evalLogits },
      ]));
    }
    again.dispose();
    model.dispose();
  }, TIMEOUT);
});
