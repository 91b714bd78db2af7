// Deterministic random weights for benchmarks, generated on demand: a safetensors file whose
// tensors are computed when read, so a 455 MB checkpoint is never in memory or on disk at once.
// The values are tools/golden/unet.py's `synth` (also test/synthetic-weights.ts), bit for bit,
// so bench/torch_unet.py builds the same model and the two outputs can be compared.
import { encodeSafetensors, numel, SafetensorsFile } from '../../dist/weights/safetensors.js';

function fnv1a(key) {
  let h = 0x811c9dc5;
  for (const b of new TextEncoder().encode(key)) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return h;
}

/**
 * Uniform values from a hash of (key, index): weights U(-1, 1)/sqrt(fan_in) (PyTorch's default
 * init bound), norm scales 1 + U(-0.25, 0.25), biases and other 1-D tensors U(-0.1, 0.1).
 */
export function synth(key, shape) {
  const n = numel(shape);
  const k = fnv1a(key);
  let scale = 0.1;
  let offset = 0;
  if (shape.length >= 2) scale = 1 / Math.sqrt(numel(shape.slice(1)));
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

/** An image-like input: synth(key, [n]) * 10, i.e. U(-1, 1) (torch_unet.py computes the same in f32). */
export function synthInput(key, shape) {
  const x = synth(key, [numel(shape)]);
  for (let i = 0; i < x.length; i++) x[i] *= 10;
  return x;
}

/** A SafetensorsFile of F32 tensors `layout` ([key, shape] pairs) whose data is synth(key, shape), made per read. */
export function synthesizedSafetensors(layout, name = 'random-weights.safetensors') {
  // The header comes from the project's writer; it only needs each tensor's byte length, so every
  // tensor's data is a view of one scratch buffer of the largest size.
  const scratch = new ArrayBuffer(Math.max(...layout.map(([, shape]) => numel(shape) * 4)));
  const { header, byteLength } = encodeSafetensors(layout.map(([key, shape]) => ({ name: key, dtype: 'F32', shape, data: new Uint8Array(scratch, 0, numel(shape) * 4) })));
  const at = new Map();
  let offset = header.byteLength;
  for (const [key, shape] of layout) {
    at.set(offset, [key, shape]);
    offset += numel(shape) * 4;
  }
  const source = {
    name,
    size: byteLength,
    async read(offset, length) {
      if (offset + length <= header.byteLength) return header.subarray(offset, offset + length);
      const tensor = at.get(offset);
      if (!tensor || numel(tensor[1]) * 4 !== length) throw new Error(`${name}: reads must cover one whole tensor (offset ${offset}, ${length} bytes)`);
      return new Uint8Array(synth(...tensor).buffer);
    },
  };
  return SafetensorsFile.open(source);
}
