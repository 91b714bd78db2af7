#!/usr/bin/env node
// The full ResNet50 DNF classifier (fc 2048 -> 1, calibrated BatchNorm) against PyTorch: a tool run,
// not part of the unit suite (the checkpoint is 94 MB and writes nothing to the repository).
//
//   /usr/bin/python3 tools/golden/resnet_full.py [dir]     # PyTorch: checkpoints, DNF PNGs, probabilities
//   npm run build && DNF_BACKEND=opengles node tools/resnet-check.mjs [dir]
//
// dir defaults to /tmp/dnf-resnet-full. Checks, each against torch.sigmoid(model(x)):
//   1. both checkpoints ({'model': sd, ...}, zip and legacy) loaded directly (converted in memory),
//      the PNGs decoded and classified in one batch: max |prob - torch| <= 1e-4;
//   2. `dnf convert` of the zip checkpoint, then the built CLI `dnf detect --from-dnf --json` on the
//      PNG folder: the same bound, and the same probabilities as 1, bit for bit.
// Prints one JSON summary line (errors, times); exit 1 on failure.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { classifyDnfImages } from '../dist/pipeline/classify.js';
import { decodeImageFile } from '../dist/image/decode-node.js';
import { acquireGpu } from '../dist/node/acquire.js';
import { loadClassifier } from '../dist/node/classifier.js';
import { convertCheckpoint } from '../dist/node/convert.js';

const TOL = 1e-4;
const dir = process.argv[2] ?? '/tmp/dnf-resnet-full';
const bin = join(dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'dnf.js');
const expected = JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8'));
const names = readdirSync(join(dir, 'dnf')).filter((f) => f.endsWith('.png')).sort();
const images = await Promise.all(names.map((n) => decodeImageFile(join(dir, 'dnf', n))));

const maxErr = (probs, key = 'prob') => Math.max(...names.map((n, i) => Math.abs(probs[i] - expected[n][key])));
const gpu = await acquireGpu();
const summary = { backend: gpu.describe().backend, images: names.length, checks: {} };
let direct;
try {
  for (const fmt of ['zip', 'legacy']) {
    let t0 = performance.now();
    const { model } = await loadClassifier(gpu, join(dir, `model.${fmt}.pth`));
    const loadMs = performance.now() - t0;
    classifyDnfImages(model, images.slice(0, 1)); // compiles the pipelines
    await gpu.sync();
    t0 = performance.now();
    const verdicts = await classifyDnfImages(model, images);
    const ms = performance.now() - t0;
    model.dispose();
    direct ??= verdicts.map((v) => v.prob);
    summary.checks[fmt] = {
      model: model.name, maxProbErr: maxErr(verdicts.map((v) => v.prob)), maxLogitErr: maxErr(verdicts.map((v) => v.logit), 'logit'),
      loadMs: Math.round(loadMs), msPerImage: Math.round(ms / names.length),
    };
  }
} finally {
  gpu.destroy();
}

const st = join(dir, 'model.safetensors');
await convertCheckpoint(join(dir, 'model.zip.pth'), st, { overwrite: true });
const r = spawnSync(process.execPath, [bin, 'detect', join(dir, 'dnf'), '--from-dnf', '--json', '--classifier', st], { encoding: 'utf8' });
const cli = r.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
const cliProbs = names.map((n) => cli.find((l) => l.file === join(dir, 'dnf', n))?.prob ?? NaN);
summary.checks.cli = { exit: r.status, maxProbErr: maxErr(cliProbs), sameAsDirect: cliProbs.every((p, i) => p === direct[i]) };

const c = summary.checks;
summary.ok = c.zip.maxProbErr <= TOL && c.legacy.maxProbErr <= TOL && c.cli.exit === 0 && c.cli.maxProbErr <= TOL && c.cli.sameAsDirect;
console.log(JSON.stringify(summary));
process.exitCode = summary.ok ? 0 : 1;
