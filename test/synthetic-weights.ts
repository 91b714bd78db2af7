/**
 * The tiny UNet fixtures with the synthetic weights of tools/synth-weights.mjs (= tools/golden/unet.py's
 * `synth`, bit for bit), so goldens need not store the weights, only the layout (keys and shapes,
 * in the fixture's metadata).
 */
import type { Gpu } from '../src/gpu/gpu.js';
import { DdpmUnet } from '../src/models/ddpm-unet.js';
import { parseUnetConfig } from '../src/models/unet-config.js';
import { bytesSource, SafetensorsFile, serializeSafetensors } from '../src/weights/safetensors.js';
import { synth } from '../tools/synth-weights.mjs';

export { synth };

export type Layout = Array<[string, number[]]>;

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
