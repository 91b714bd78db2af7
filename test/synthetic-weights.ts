/**
 * The synthetic weights of tools/golden/unet.py's `synth`, bit for bit: every value is a hash of
 * the state-dict key and the element index, so goldens need not store the weights, only the
 * layout (keys and shapes, in the fixture's metadata).
 */
import type { Gpu } from '../src/gpu/gpu.js';
import { DdpmUnet } from '../src/models/ddpm-unet.js';
import { parseUnetConfig } from '../src/models/unet-config.js';
import { bytesSource, SafetensorsFile, serializeSafetensors } from '../src/weights/safetensors.js';

export type Layout = Array<[string, number[]]>;

function fnv1a(key: string): number {
  let h = 0x811c9dc5;
  for (const b of new TextEncoder().encode(key)) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return h;
}

/** U(-1, 1)/sqrt(fan_in) for weights, 1 + U(-0.25, 0.25) for norm scales, U(-0.1, 0.1) for biases. */
export function synth(key: string, shape: readonly number[]): Float32Array {
  const n = shape.reduce((a, b) => a * b, 1);
  const k = fnv1a(key);
  let scale = 0.1;
  let offset = 0;
  if (shape.length >= 2) scale = 1 / Math.sqrt(shape.slice(1).reduce((a, b) => a * b, 1));
  else if (key.includes('norm') && key.endsWith('.weight')) [scale, offset] = [0.25, 1];
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let h = (k + Math.imul(i, 0x9e3779b9)) >>> 0;
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b) >>> 0;
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35) >>> 0;
    h = (h ^ (h >>> 16)) >>> 0;
    out[i] = ((h / 4294967296) * 2 - 1) * scale + offset;
  }
  return out;
}

/** An in-memory safetensors file holding the synthetic weights of `layout`. */
export function synthesizedFile(layout: Layout, name = 'synthetic.safetensors'): Promise<SafetensorsFile> {
  const bytes = serializeSafetensors(layout.map(([key, shape]) => ({ name: key, dtype: 'F32', shape, data: synth(key, shape) })));
  return SafetensorsFile.open(bytesSource(name, bytes));
}

/**
 * The tiny UNet of tools/golden/unet.py (its config and state-dict layout are in the 'unet'
 * golden's metadata), with the synthetic weights. suffix '.avgpool': the resamp_with_conv false variant.
 */
export async function loadTinyUnet(gpu: Gpu, metadata: Record<string, string>, suffix: '' | '.avgpool' = ''): Promise<DdpmUnet> {
  const config = parseUnetConfig(JSON.parse(metadata.config), 'unet golden');
  config.resamp_with_conv = suffix === '';
  const layout = JSON.parse(metadata[`keys${suffix}`]) as Layout;
  return DdpmUnet.fromSafetensors(gpu, config, await synthesizedFile(layout));
}
