#!/usr/bin/env node
// The one-call API in Node: one line per image with its verdict and P(generated).
//
//   node examples/detect.mjs --unet weights/lsun_bedroom.safetensors --classifier best.safetensors a.png b.jpg
//
// --classifier takes safetensors or a PyTorch .pth; --model-config (a preset name, or a JSON
// config file) only for UNet weights that record no config and whose size is not the preset's.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { createDetector } from 'dnf-webgpu/node';

const { values, positionals: images } = parseArgs({
  options: { unet: { type: 'string' }, classifier: { type: 'string' }, 'model-config': { type: 'string' } },
  allowPositionals: true,
});
if (!values.unet || !values.classifier || images.length === 0) {
  console.error('usage: node examples/detect.mjs --unet UNET.safetensors --classifier CLASSIFIER.safetensors IMAGE...');
  process.exit(2);
}
const config = values['model-config'];

try {
  const detector = await createDetector({
    unet: values.unet,
    classifier: values.classifier,
    unetConfig: config?.endsWith('.json') ? JSON.parse(readFileSync(config, 'utf8')) : config,
    onNote: (line) => console.error(line),
  });
  try {
    const results = await detector.detect(images);
    results.forEach((r, i) => console.log(`${images[i]}: ${r.label} (P(generated) = ${r.prob.toFixed(4)}, logit ${r.logit.toFixed(4)})`));
  } finally {
    await detector.dispose();
  }
} catch (e) {
  console.error(e.name === 'DnfError' ? e.message : e);
  process.exit(1);
}
