// The synthetic weights shared by the tests, the benchmarks and the PyTorch goldens
// (tools/golden/unet.py's `synth` computes the same values, bit for bit): every value is a hash of
// the state-dict key and the element index, so fixtures store only keys and shapes.

function fnv1a(key) {
  let h = 0x811c9dc5;
  for (const b of new TextEncoder().encode(key)) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return h;
}

const product = (dims) => dims.reduce((a, b) => a * b, 1);

/**
 * Uniform values from a hash of (key, index): weights U(-1, 1)/sqrt(fan_in) (PyTorch's default
 * init bound), norm scales 1 + U(-0.25, 0.25), biases and other 1-D tensors U(-0.1, 0.1).
 * @param {string} key
 * @param {readonly number[]} shape
 * @returns {Float32Array}
 */
export function synth(key, shape) {
  const n = product(shape);
  const k = fnv1a(key);
  let scale = 0.1;
  let offset = 0;
  if (shape.length >= 2) scale = 1 / Math.sqrt(product(shape.slice(1)));
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
