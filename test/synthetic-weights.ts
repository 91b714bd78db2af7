/**
 * The tiny UNet fixtures with the synthetic weights of tools/synth-weights.mjs (= tools/golden/unet.py's
 * `synth`, bit for bit), so goldens need not store the weights, only the layout (keys and shapes,
 * in the fixture's metadata).
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Gpu } from '../src/gpu/gpu.js';
import { DdpmUnet } from '../src/models/ddpm-unet.js';
import { parseUnetConfig } from '../src/models/unet-config.js';
import { openSafetensors, writeSafetensorsFile } from '../src/node/files.js';
import { bytesSource, SafetensorsFile, serializeSafetensors, type ByteSource } from '../src/weights/safetensors.js';
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

/**
 * A safetensors file of `layout` (F32) that holds its header alone: its source claims the whole
 * file's size and reads zeros past the header, so shapes may be as large as the JSON allows without
 * a byte of data in memory.
 */
export function headerOnlyFile(name: string, layout: Layout, metadata?: Record<string, string>): Promise<SafetensorsFile> {
  const header: Record<string, unknown> = metadata ? { __metadata__: metadata } : {};
  let end = 0;
  for (const [key, shape] of layout) {
    const bytes = shape.reduce((a, b) => a * b, 4);
    header[key] = { dtype: 'F32', shape, data_offsets: [end, end + bytes] };
    end += bytes;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const head = new Uint8Array(8 + json.length);
  new DataView(head.buffer).setBigUint64(0, BigInt(json.length), true);
  head.set(json, 8);
  const src: ByteSource = {
    name,
    size: head.length + end,
    read: async (offset, length) => {
      const out = new Uint8Array(length);
      if (offset < head.length) out.set(head.subarray(offset, Math.min(head.length, offset + length)));
      return out;
    },
  };
  return SafetensorsFile.open(src);
}

/**
 * The tiny UNet of tools/golden/unet.py (its layout and config from the golden fixture's metadata)
 * with synthetic weights, written to `dir` as tiny-unet.safetensors and its config tiny-unet.json.
 */
export async function writeTinyUnet(dir: string): Promise<{ unet: string; config: string }> {
  const golden = await openSafetensors(join(import.meta.dirname, 'fixtures', 'golden', 'unet.safetensors'));
  const layout = JSON.parse(golden.file.metadata.keys) as Layout;
  const config = join(dir, 'tiny-unet.json');
  await writeFile(config, golden.file.metadata.config);
  await golden.close();
  const unet = join(dir, 'tiny-unet.safetensors');
  await writeSafetensorsFile(unet, layout.map(([name, shape]) => ({ name, dtype: 'F32' as const, shape, data: synth(name, shape) })));
  return { unet, config };
}
