/**
 * The diffusers UNet2DModel <-> reference DDPM key map (src/weights/diffusers-keys.ts), on the full
 * list of reference tensor names and shapes generated from a config by following
 * reference/dnf-pipeline.md section 2 (no weights data), and `dnf convert` of a small diffusers file.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DnfError } from '../src/errors.js';
import { convertCheckpoint, defaultOutputPath, formatSummary } from '../src/node/convert.js';
import { openSafetensors } from '../src/node/files.js';
import {
  diffusersLevels, fromDiffusersName, isDiffusersUnet, tensorsFromDiffusers, toDiffusersName, type AttentionStyle,
} from '../src/weights/diffusers-keys.js';
import { WEIGHTS } from '../src/weights/registry.js';
import { serializeSafetensors, type TensorToWrite } from '../src/weights/safetensors.js';

interface Config { ch: number; ch_mult: number[]; num_res_blocks: number; attn_resolutions: number[]; in_channels: number; out_ch: number; resolution: number }
const LSUN: Config = { ch: 128, ch_mult: [1, 1, 2, 2, 4, 4], num_res_blocks: 2, attn_resolutions: [16], in_channels: 3, out_ch: 3, resolution: 256 };
const CIFAR10: Config = { ch: 128, ch_mult: [1, 2, 2, 2], num_res_blocks: 2, attn_resolutions: [16], in_channels: 3, out_ch: 3, resolution: 32 };

/** Every tensor of the reference model, in construction order, with its shape (reference section 2). */
function referenceShapes(c: Config): Map<string, number[]> {
  const m = new Map<string, number[]>();
  const temb = 4 * c.ch;
  const conv = (p: string, cin: number, cout: number, k: number) => { m.set(`${p}.weight`, [cout, cin, k, k]); m.set(`${p}.bias`, [cout]); };
  const norm = (p: string, ch: number) => { m.set(`${p}.weight`, [ch]); m.set(`${p}.bias`, [ch]); };
  const linear = (p: string, cin: number, cout: number) => { m.set(`${p}.weight`, [cout, cin]); m.set(`${p}.bias`, [cout]); };
  const resnet = (p: string, cin: number, cout: number) => {
    norm(`${p}.norm1`, cin); conv(`${p}.conv1`, cin, cout, 3); linear(`${p}.temb_proj`, temb, cout);
    norm(`${p}.norm2`, cout); conv(`${p}.conv2`, cout, cout, 3);
    if (cin !== cout) conv(`${p}.nin_shortcut`, cin, cout, 1);
  };
  const attn = (p: string, ch: number) => { norm(`${p}.norm`, ch); for (const x of ['q', 'k', 'v', 'proj_out']) conv(`${p}.${x}`, ch, ch, 1); };

  linear('temb.dense.0', c.ch, temb);
  linear('temb.dense.1', temb, temb);
  conv('conv_in', c.in_channels, c.ch, 3);
  const skips = [c.ch];
  let cur = c.ch;
  const L = c.ch_mult.length;
  for (let i = 0; i < L; i++) {
    const res = c.resolution / 2 ** i;
    for (let j = 0; j < c.num_res_blocks; j++) {
      resnet(`down.${i}.block.${j}`, cur, c.ch * c.ch_mult[i]);
      cur = c.ch * c.ch_mult[i];
      if (c.attn_resolutions.includes(res)) attn(`down.${i}.attn.${j}`, cur);
      skips.push(cur);
    }
    if (i < L - 1) { conv(`down.${i}.downsample.conv`, cur, cur, 3); skips.push(cur); }
  }
  resnet('mid.block_1', cur, cur); attn('mid.attn_1', cur); resnet('mid.block_2', cur, cur);
  for (let i = L - 1; i >= 0; i--) {
    const res = c.resolution / 2 ** i;
    for (let j = 0; j <= c.num_res_blocks; j++) {
      resnet(`up.${i}.block.${j}`, cur + skips.pop()!, c.ch * c.ch_mult[i]);
      cur = c.ch * c.ch_mult[i];
      if (c.attn_resolutions.includes(res)) attn(`up.${i}.attn.${j}`, cur);
    }
    if (i > 0) conv(`up.${i}.upsample.conv`, cur, cur, 3);
  }
  norm('norm_out', cur);
  conv('conv_out', cur, c.out_ch, 3);
  return m;
}

const count = (m: Map<string, number[]>) => [...m.values()].reduce((s, shape) => s + shape.reduce((a, b) => a * b, 1), 0);

/** The diffusers names and shapes of a reference list (Linear [C, C] for the attention projections). */
function toDiffusers(ref: Map<string, number[]>, levels: number, style: AttentionStyle): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const [name, shape] of ref) {
    const d = toDiffusersName(name, levels, style);
    if (!d) throw new Error(`no diffusers name for ${name}`);
    expect(out.has(d.name), d.name).toBe(false);
    out.set(d.name, d.linearWeight ? shape.slice(0, 2) : shape);
  }
  return out;
}

describe('the generated reference key list', () => {
  it('has the parameter counts of the published checkpoints', () => {
    expect(count(referenceShapes(LSUN))).toBe(113_673_219); // reference section 2
    for (const e of WEIGHTS) expect(count(referenceShapes(e.config === 'cifar10-32' ? CIFAR10 : LSUN)), e.name).toBe(e.parameters);
  });
});

describe.each(['legacy', 'current'] as const)('diffusers key map (%s attention names)', (style) => {
  for (const [label, config] of [['lsun-bedroom-256', LSUN], ['cifar10-32', CIFAR10]] as const) {
    it(`reference -> diffusers -> reference is the identity on ${label}`, () => {
      const ref = referenceShapes(config);
      const L = config.ch_mult.length;
      const diff = toDiffusers(ref, L, style);
      expect(diff.size).toBe(ref.size);
      expect(isDiffusersUnet(diff.keys())).toBe(true);
      expect(isDiffusersUnet(ref.keys())).toBe(false);
      expect(diffusersLevels(diff.keys())).toBe(L);

      const back = new Map<string, number[]>();
      for (const [name, shape] of diff) {
        const r = fromDiffusersName(name, L);
        if (!r) throw new Error(`no reference name for ${name}`);
        back.set(r.name, r.linearWeight ? [...shape, 1, 1] : shape);
      }
      expect([...back.keys()].sort()).toEqual([...ref.keys()].sort());
      for (const [name, shape] of ref) expect(back.get(name), name).toEqual(shape);
    });
  }

  it('gives the names of google/ddpm-bedroom-256 (attention in down_blocks.4, up_blocks.1 and the middle)', () => {
    const diff = toDiffusers(referenceShapes(LSUN), 6, style);
    const [q, out] = style === 'legacy' ? ['query', 'proj_attn'] : ['to_q', 'to_out.0'];
    expect(diff.get('time_embedding.linear_1.weight')).toEqual([512, 128]);
    expect(diff.get(`down_blocks.4.attentions.1.${q}.weight`)).toEqual([512, 512]);
    expect(diff.get(`up_blocks.1.attentions.2.${out}.weight`)).toEqual([512, 512]);
    expect(diff.get(`mid_block.attentions.0.${out}.bias`)).toEqual([512]);
    expect(diff.get('mid_block.attentions.0.group_norm.weight')).toEqual([512]);
    expect(diff.get('up_blocks.0.resnets.0.conv1.weight')).toEqual([512, 1024, 3, 3]); // up.5: h (512) ++ skip (512)
    expect(diff.get('up_blocks.5.resnets.2.conv_shortcut.weight')).toEqual([128, 256, 1, 1]); // up.0: h ++ conv_in's output
    expect(diff.get('up_blocks.4.upsamplers.0.conv.weight')).toEqual([128, 128, 3, 3]); // up.1
    expect(diff.get('down_blocks.0.downsamplers.0.conv.bias')).toEqual([128]);
    expect(diff.get('down_blocks.1.resnets.0.time_emb_proj.weight')).toEqual([128, 512]);
    expect(diff.get('conv_norm_out.weight')).toEqual([128]);
    const attnBlocks = new Set([...diff.keys()].filter((n) => n.includes('.attentions.')).map((n) => n.split('.attentions.')[0]));
    expect([...attnBlocks].sort()).toEqual(['down_blocks.4', 'mid_block', 'up_blocks.1']);
    expect([...diff.keys()].some((n) => n.startsWith('down_blocks.5.downsamplers') || n.startsWith('up_blocks.5.upsamplers'))).toBe(false);
  });
});

describe('fromDiffusersName', () => {
  it('maps nothing it does not know', () => {
    for (const n of ['class_embedding.weight', 'down_blocks.0.resnets.0.conv3.weight', 'mid_block.resnets.2.conv1.weight',
      'up_blocks.6.resnets.0.conv1.weight', 'down_blocks.0.attentions.0.to_out.1.weight', 'conv_in.running_mean', 'conv_in']) {
      expect(fromDiffusersName(n, 6), n).toBeUndefined();
    }
  });

  it('tensorsFromDiffusers refuses a UNet with tensors outside the map', () => {
    const t = (name: string): TensorToWrite => ({ name, dtype: 'F32', shape: [1], data: new Float32Array(1) });
    expect(() => tensorsFromDiffusers([t('conv_in.weight'), t('down_blocks.0.resnets.0.conv1.weight'), t('class_embedding.weight')], 'x.bin'))
      .toThrow(/^x\.bin: looks like a diffusers UNet2DModel, but 1 tensor \(class_embedding\.weight\) has no counterpart in the DDPM model; .*--keep-names/);
  });
});

describe('dnf convert of a diffusers UNet', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dnf-diffusers-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  // A tiny UNet (names and shapes only matter): 2 levels, attention at the lower one.
  const TINY: Config = { ch: 8, ch_mult: [1, 2], num_res_blocks: 1, attn_resolutions: [4], in_channels: 3, out_ch: 3, resolution: 8 };
  const ref = referenceShapes(TINY);
  const diff = toDiffusers(ref, 2, 'current');
  // Distinct values per tensor (its index), so that a mix-up of names shows; F16 to check the F32 conversion too.
  const names = [...diff.keys()];
  const f16One = 0x3c00;
  const tensors: TensorToWrite[] = names.map((name, i) => {
    const n = diff.get(name)!.reduce((a, b) => a * b, 1);
    return { name, dtype: 'F16', shape: diff.get(name)!, data: new Uint16Array(n).fill(f16One + i) };
  });
  const input = join(dir, 'diffusion_pytorch_model.safetensors');
  writeFileSync(input, serializeSafetensors(tensors, { format: 'pt' }));

  it('renames to the reference names, reshapes the attention weights and converts to F32', async () => {
    const output = defaultOutputPath(input);
    expect(output).toBe(join(dir, 'diffusion_pytorch_model.dnf.safetensors'));
    const s = await convertCheckpoint(input, output);
    expect(s).toMatchObject({ format: 'safetensors', renamedFrom: 'diffusers', tensorCount: ref.size, parameters: count(ref) });
    expect(formatSummary(s)).toMatch(/^.*diffusion_pytorch_model\.safetensors \(safetensors, diffusers names mapped to the reference names\) -> .*\.dnf\.safetensors: \d+ tensors/);
    const { file, close } = await openSafetensors(output);
    try {
      expect(file.names().sort()).toEqual([...ref.keys()].sort());
      expect(file.metadata.key_layout).toBe('reference (mapped from diffusers UNet2DModel)');
      for (const [name, shape] of ref) expect(file.info(name).shape, name).toEqual(shape);
      expect(file.info('up.1.attn.0.q.weight').shape).toEqual([16, 16, 1, 1]);
      // Values follow their names: the tensor at index i of the input was filled with f16(1 + i * 2^-10).
      for (const name of ['up.1.attn.0.q.weight', 'up.0.block.1.nin_shortcut.weight', 'temb.dense.1.bias', 'mid.block_2.temb_proj.weight']) {
        const i = names.indexOf(toDiffusersName(name, 2, 'current')!.name);
        const values = await file.readF32(name);
        expect(values.every((v) => v === 1 + i / 1024), name).toBe(true);
      }
    } finally {
      await close();
    }
  });

  it('keeps the names with keepNames, and refuses --key for a safetensors input', async () => {
    const s = await convertCheckpoint(input, join(dir, 'kept.safetensors'), { keepNames: true });
    expect(s.renamedFrom).toBeUndefined();
    const { file, close } = await openSafetensors(join(dir, 'kept.safetensors'));
    expect(file.names().sort()).toEqual([...names].sort());
    await close();
    await expect(convertCheckpoint(input, join(dir, 'k.safetensors'), { key: 'model' })).rejects.toThrow(DnfError);
  });
});
