/**
 * Tensor names of the diffusers UNet2DModel (the google/ddpm-* models of the Hugging Face hub, e.g.
 * google/ddpm-bedroom-256) to and from the reference DDPM names (reference/dnf-pipeline.md
 * section 2). Same model, same weights; only names and the attention projections' shapes differ:
 *
 *   time_embedding.linear_{1,2}            temb.dense.{0,1}
 *   conv_in / conv_norm_out / conv_out     conv_in / norm_out / conv_out
 *   down_blocks.i.resnets.j.X              down.i.block.j.X'     X: norm1 conv1 norm2 conv2,
 *   up_blocks.i.resnets.j.X                up.(L-1-i).block.j.X'    time_emb_proj = temb_proj,
 *   mid_block.resnets.{0,1}.X              mid.block_{1,2}.X'       conv_shortcut = nin_shortcut
 *   down_blocks.i.attentions.j.Y           down.i.attn.j.Y'      Y: group_norm = norm,
 *   up_blocks.i.attentions.j.Y             up.(L-1-i).attn.j.Y'     query|to_q = q, key|to_k = k,
 *   mid_block.attentions.0.Y               mid.attn_1.Y'            value|to_v = v, proj_attn|to_out.0 = proj_out
 *   down_blocks.i.downsamplers.0.conv      down.i.downsample.conv
 *   up_blocks.i.upsamplers.0.conv          up.(L-1-i).upsample.conv
 *
 * L is the number of levels: diffusers numbers the way up from the lowest resolution, the reference
 * from the highest (up.0 is full resolution). Attention names come in two styles: 'legacy'
 * (query/key/value/proj_attn, diffusers < 0.14 files) and 'current' (to_q/to_k/to_v/to_out.0). In
 * both, q/k/v/proj_out are Linear weights [C, C] where the reference has 1x1 conv weights
 * [C, C, 1, 1] (same numbers, same order). The reference attention has a single head, as the
 * google/ddpm-* models do; a diffusers UNet with several heads would map but compute differently.
 * Browser-safe.
 */
import { DnfError } from '../errors.js';
import { printable } from './pickle.js';
import type { TensorToWrite } from './safetensors.js';

export type AttentionStyle = 'legacy' | 'current';

/** A name in the other layout, and whether its weight is a [C, C] Linear there / [C, C, 1, 1] conv here. */
export interface MappedName {
  name: string;
  /** True for the weights (not biases) of q, k, v and proj_out. */
  linearWeight: boolean;
}

const RESNET_PARTS: Record<string, string> = {
  norm1: 'norm1', conv1: 'conv1', time_emb_proj: 'temb_proj', norm2: 'norm2', conv2: 'conv2', conv_shortcut: 'nin_shortcut',
};
const ATTN_PARTS: Record<string, string> = {
  group_norm: 'norm', query: 'q', key: 'k', value: 'v', proj_attn: 'proj_out',
  to_q: 'q', to_k: 'k', to_v: 'v', 'to_out.0': 'proj_out',
};
const ATTN_BACK: Record<AttentionStyle, Record<string, string>> = {
  legacy: { norm: 'group_norm', q: 'query', k: 'key', v: 'value', proj_out: 'proj_attn' },
  current: { norm: 'group_norm', q: 'to_q', k: 'to_k', v: 'to_v', proj_out: 'to_out.0' },
};
const TOP: Record<string, string> = {
  'time_embedding.linear_1': 'temb.dense.0', 'time_embedding.linear_2': 'temb.dense.1',
  conv_in: 'conv_in', conv_norm_out: 'norm_out', conv_out: 'conv_out',
};
const TOP_BACK = Object.fromEntries(Object.entries(TOP).map(([k, v]) => [v, k]));

const own = (table: Record<string, string>, key: string) => (Object.prototype.hasOwnProperty.call(table, key) ? table[key] : undefined);

/** Whether the names are those of a diffusers UNet2DModel. */
export function isDiffusersUnet(names: Iterable<string>): boolean {
  const set = new Set(names);
  return set.has('time_embedding.linear_1.weight') && set.has('conv_in.weight') && [...set].some((n) => n.startsWith('down_blocks.'));
}

/** The number of levels L of a diffusers UNet: 1 + the largest down_blocks index. */
export function diffusersLevels(names: Iterable<string>): number {
  let levels = 0;
  for (const n of names) {
    const m = /^down_blocks\.(\d+)\./.exec(n);
    if (m) levels = Math.max(levels, Number(m[1]) + 1);
  }
  return levels;
}

/** The reference name of a diffusers name in a UNet of `levels` levels; undefined if it has none. */
export function fromDiffusersName(name: string, levels: number): MappedName | undefined {
  const m = /^(.+)\.(weight|bias)$/.exec(name);
  if (!m) return undefined;
  const [, module, param] = m;
  const top = own(TOP, module);
  if (top) return { name: `${top}.${param}`, linearWeight: false };

  const up = (i: string) => (Number(i) < levels ? levels - 1 - Number(i) : undefined);
  let r: RegExpExecArray | null;
  let part: string | undefined;
  if ((r = /^(down|up)_blocks\.(\d+)\.resnets\.(\d+)\.(\w+)$/.exec(module)) && (part = own(RESNET_PARTS, r[4]))) {
    const level = r[1] === 'down' ? Number(r[2]) : up(r[2]);
    return level === undefined ? undefined : { name: `${r[1]}.${level}.block.${r[3]}.${part}.${param}`, linearWeight: false };
  }
  if ((r = /^(down|up)_blocks\.(\d+)\.attentions\.(\d+)\.(\w+(?:\.0)?)$/.exec(module)) && (part = own(ATTN_PARTS, r[4]))) {
    const level = r[1] === 'down' ? Number(r[2]) : up(r[2]);
    return level === undefined ? undefined : { name: `${r[1]}.${level}.attn.${r[3]}.${part}.${param}`, linearWeight: part !== 'norm' && param === 'weight' };
  }
  if ((r = /^down_blocks\.(\d+)\.downsamplers\.0\.conv$/.exec(module))) return { name: `down.${r[1]}.downsample.conv.${param}`, linearWeight: false };
  if ((r = /^up_blocks\.(\d+)\.upsamplers\.0\.conv$/.exec(module))) {
    const level = up(r[1]);
    return level === undefined ? undefined : { name: `up.${level}.upsample.conv.${param}`, linearWeight: false };
  }
  if ((r = /^mid_block\.resnets\.([01])\.(\w+)$/.exec(module)) && (part = own(RESNET_PARTS, r[2]))) {
    return { name: `mid.block_${Number(r[1]) + 1}.${part}.${param}`, linearWeight: false };
  }
  if ((r = /^mid_block\.attentions\.0\.(\w+(?:\.0)?)$/.exec(module)) && (part = own(ATTN_PARTS, r[1]))) {
    return { name: `mid.attn_1.${part}.${param}`, linearWeight: part !== 'norm' && param === 'weight' };
  }
  return undefined;
}

/** The diffusers name of a reference name (the inverse of fromDiffusersName); undefined if it has none. */
export function toDiffusersName(name: string, levels: number, style: AttentionStyle): MappedName | undefined {
  const m = /^(.+)\.(weight|bias)$/.exec(name);
  if (!m) return undefined;
  const [, module, param] = m;
  const top = own(TOP_BACK, module);
  if (top) return { name: `${top}.${param}`, linearWeight: false };

  const resnetBack = (p: string) => Object.keys(RESNET_PARTS).find((k) => RESNET_PARTS[k] === p);
  const index = (kind: string, level: string) => (kind === 'down' ? Number(level) : levels - 1 - Number(level));
  let r: RegExpExecArray | null;
  let part: string | undefined;
  if ((r = /^(down|up)\.(\d+)\.block\.(\d+)\.(\w+)$/.exec(module)) && (part = resnetBack(r[4])) && Number(r[2]) < levels) {
    return { name: `${r[1]}_blocks.${index(r[1], r[2])}.resnets.${r[3]}.${part}.${param}`, linearWeight: false };
  }
  if ((r = /^(down|up)\.(\d+)\.attn\.(\d+)\.(\w+)$/.exec(module)) && (part = own(ATTN_BACK[style], r[4])) && Number(r[2]) < levels) {
    return { name: `${r[1]}_blocks.${index(r[1], r[2])}.attentions.${r[3]}.${part}.${param}`, linearWeight: r[4] !== 'norm' && param === 'weight' };
  }
  if ((r = /^down\.(\d+)\.downsample\.conv$/.exec(module))) return { name: `down_blocks.${r[1]}.downsamplers.0.conv.${param}`, linearWeight: false };
  if ((r = /^up\.(\d+)\.upsample\.conv$/.exec(module)) && Number(r[1]) < levels) {
    return { name: `up_blocks.${index('up', r[1])}.upsamplers.0.conv.${param}`, linearWeight: false };
  }
  if ((r = /^mid\.block_([12])\.(\w+)$/.exec(module)) && (part = resnetBack(r[2]))) {
    return { name: `mid_block.resnets.${Number(r[1]) - 1}.${part}.${param}`, linearWeight: false };
  }
  if ((r = /^mid\.attn_1\.(\w+)$/.exec(module)) && (part = own(ATTN_BACK[style], r[1]))) {
    return { name: `mid_block.attentions.0.${part}.${param}`, linearWeight: r[1] !== 'norm' && param === 'weight' };
  }
  return undefined;
}

/**
 * Renames the tensors of a diffusers UNet2DModel to the reference names, turning the [C, C] Linear
 * weights of the attention projections into [C, C, 1, 1] conv weights (a shape change only). A name
 * outside the map is an error: the file is some other UNet, which the reference model cannot load.
 */
export function tensorsFromDiffusers(tensors: readonly TensorToWrite[], source: string): TensorToWrite[] {
  const levels = diffusersLevels(tensors.map((t) => t.name));
  const unknown: string[] = [];
  const out = tensors.flatMap((t) => {
    const mapped = fromDiffusersName(t.name, levels);
    if (!mapped) {
      unknown.push(t.name);
      return [];
    }
    const shape = mapped.linearWeight && t.shape.length === 2 ? [...t.shape, 1, 1] : [...t.shape];
    return [{ ...t, name: mapped.name, shape }];
  });
  if (unknown.length) {
    throw new DnfError(`${source}: looks like a diffusers UNet2DModel, but ${unknown.length} tensor${unknown.length > 1 ? 's' : ''} (${unknown.slice(0, 3).map(printable).join(', ')}${unknown.length > 3 ? ', ...' : ''}) ${unknown.length > 1 ? 'have' : 'has'} no counterpart in the DDPM model; only DDPM UNets (google/ddpm-*) can be converted, or pass --keep-names to keep the names as they are`);
  }
  return out;
}
