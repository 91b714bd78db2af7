// Deterministic random weights for benchmarks, generated on demand: a safetensors file whose
// tensors are computed when read, so a 455 MB checkpoint is never in memory or on disk at once.
// The values are tools/synth-weights.mjs's `synth` (= tools/golden/unet.py's), bit for bit,
// so bench/torch_unet.py builds the same model and the two outputs can be compared.
import { encodeSafetensors, numel, SafetensorsFile } from '../../dist/weights/safetensors.js';
import { synth } from '../../tools/synth-weights.mjs';

export { synth };

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
