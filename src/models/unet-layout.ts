/**
 * The state-dict layout of the DDPM UNet a UnetConfig describes (every key with its shape, as
 * PyTorch names them), and the comparison of a config with a checkpoint's header before anything
 * is allocated: first field by field (the fields the weights' shapes determine), so that a config
 * that belongs to other weights is named by its field, then key by key. Browser-safe.
 */
import { DnfError } from '../errors.js';
import type { SafetensorsFile } from '../weights/safetensors.js';
import { checkLayout } from '../weights/var-builder.js';
import { levelResolutions, type UnetConfig } from './unet-config.js';

export type Layout = Array<[string, number[]]>;

/** The shape of a checkpoint key (relative to the model's prefix), or undefined when absent. */
export type ShapeOf = (key: string) => readonly number[] | undefined;

/** Every key DdpmUnet.load reads, with its shape, in PyTorch's order. */
export function unetLayout(config: UnetConfig): Layout {
  const { ch, ch_mult: mult, num_res_blocks: nrb, resamp_with_conv: withConv } = config;
  const tembCh = 4 * ch;
  const attnAt = new Set(config.attn_resolutions);
  const res = levelResolutions(config);
  const layout: Layout = [];
  const pair = (p: string, weight: number[], bias: number) => layout.push([`${p}.weight`, weight], [`${p}.bias`, [bias]]);
  const conv = (p: string, cin: number, cout: number, k: number) => pair(p, [cout, cin, k, k], cout);
  const norm = (p: string, c: number) => pair(p, [c], c);
  const block = (p: string, cin: number, cout: number) => {
    norm(`${p}.norm1`, cin);
    conv(`${p}.conv1`, cin, cout, 3);
    pair(`${p}.temb_proj`, [cout, tembCh], cout);
    norm(`${p}.norm2`, cout);
    conv(`${p}.conv2`, cout, cout, 3);
    if (cin !== cout) conv(`${p}.nin_shortcut`, cin, cout, 1);
  };
  const attn = (p: string, c: number) => {
    norm(`${p}.norm`, c);
    for (const m of ['q', 'k', 'v', 'proj_out']) conv(`${p}.${m}`, c, c, 1);
  };

  pair('temb.dense.0', [tembCh, ch], tembCh);
  pair('temb.dense.1', [tembCh, tembCh], tembCh);
  conv('conv_in', config.in_channels, ch, 3);
  let c = ch;
  mult.forEach((m, i) => {
    for (let j = 0; j < nrb; j++) {
      block(`down.${i}.block.${j}`, c, ch * m);
      c = ch * m;
      if (attnAt.has(res[i])) attn(`down.${i}.attn.${j}`, c);
    }
    if (i !== mult.length - 1 && withConv) conv(`down.${i}.downsample.conv`, c, c, 3);
  });
  block('mid.block_1', c, c);
  attn('mid.attn_1', c);
  block('mid.block_2', c, c);
  const up: Layout[] = [];
  for (let i = mult.length - 1; i >= 0; i--) {
    const start = layout.length;
    for (let j = 0; j <= nrb; j++) {
      const skip = ch * (j === nrb ? (i === 0 ? 1 : mult[i - 1]) : mult[i]);
      block(`up.${i}.block.${j}`, c + skip, ch * mult[i]);
      c = ch * mult[i];
      if (attnAt.has(res[i])) attn(`up.${i}.attn.${j}`, c);
    }
    if (i !== 0 && withConv) conv(`up.${i}.upsample.conv`, c, c, 3);
    up[i] = layout.splice(start);
  }
  layout.push(...up.flat()); // the ModuleList's order: up.0 first
  norm('norm_out', c);
  conv('conv_out', c, config.out_ch, 3);
  return layout;
}

/** 'a DDPM UNet with ch 128, ch_mult [1,1,2,2,4,4], num_res_blocks 2, attn_resolutions [16]' */
export function unetDescription(c: UnetConfig): string {
  return `a DDPM UNet with ch ${c.ch}, ch_mult [${c.ch_mult}], num_res_blocks ${c.num_res_blocks}, attn_resolutions [${c.attn_resolutions}]`;
}

/**
 * Compares the fields of `config` that the weights determine (ch, in_channels, out_ch, the number
 * of levels and their widths, num_res_blocks, resamp_with_conv, the attention levels) with the
 * shapes `shapeOf` reports, reading no tensor. A disagreement is a DnfError naming the weights file,
 * the config (`configName`: its file or preset) and the field. Fields whose keys are absent are left to the key-by-key comparison.
 */
export function checkUnetFields(config: UnetConfig, shapeOf: ShapeOf, weights: string, configName?: string): void {
  const misfit = (field: string, there: string, weightsSay: string) =>
    new DnfError(`${weights}: the UNet config${configName ? ` (${configName})` : ''} does not fit these weights: "${field}" is ${there} there, but ${weightsSay}; check that the checkpoint and the model config belong together`);
  const show = (key: string, s: readonly number[]) => `${key} is [${s.slice(0, 8).join(',')}${s.length > 8 ? ',...' : ''}]`;

  const convIn = shapeOf('conv_in.weight');
  if (convIn?.length === 4) {
    if (convIn[0] !== config.ch) throw misfit('ch', String(config.ch), `${show('conv_in.weight', convIn)} (ch ${convIn[0]})`);
    if (convIn[1] !== config.in_channels) throw misfit('in_channels', String(config.in_channels), `${show('conv_in.weight', convIn)} (in_channels ${convIn[1]})`);
  }
  const convOut = shapeOf('conv_out.weight');
  if (convOut?.length === 4 && convOut[0] !== config.out_ch) {
    throw misfit('out_ch', String(config.out_ch), `${show('conv_out.weight', convOut)} (out_ch ${convOut[0]})`);
  }

  // Counting stops at the first absent key, so these loops are bounded by the header's keys.
  const count = (key: (n: number) => string) => {
    let n = 0;
    while (shapeOf(key(n)) !== undefined) n++;
    return n;
  };
  const levels = count((i) => `down.${i}.block.0.conv1.weight`);
  if (!levels) return;
  const mult = config.ch_mult;
  if (levels !== mult.length) {
    throw misfit('ch_mult', `[${mult}] (${mult.length} levels)`, `the weights have ${levels} level${levels > 1 ? 's' : ''} (down.0 to down.${levels - 1})`);
  }
  const blocks = count((j) => `down.0.block.${j}.conv1.weight`);
  if (blocks !== config.num_res_blocks) {
    throw misfit('num_res_blocks', String(config.num_res_blocks), `the weights have ${blocks} (down.0.block.0 to down.0.block.${blocks - 1})`);
  }
  const widths = mult.map((_, i) => shapeOf(`down.${i}.block.0.conv1.weight`)![0]);
  if (widths.some((w, i) => w !== config.ch * mult[i])) {
    const inWeights = widths.map((w) => (Number.isInteger(w / config.ch) ? w / config.ch : `${w}/${config.ch}`));
    throw misfit('ch_mult', `[${mult}]`, `the weights' levels are ${widths.length > 8 ? `${widths.slice(0, 8)},...` : widths} channels wide (down.<i>.block.0.conv1.weight), ch_mult [${inWeights.slice(0, 8)}] for ch ${config.ch}`);
  }
  if (levels > 1) {
    const withConv = shapeOf('down.0.downsample.conv.weight') !== undefined;
    if (withConv !== config.resamp_with_conv) {
      throw misfit('resamp_with_conv', String(config.resamp_with_conv), `the weights ${withConv ? 'have' : 'have no'} down.0.downsample.conv.weight`);
    }
  }
  const res = levelResolutions(config);
  const attnLevels = mult.map((_, i) => i).filter((i) => shapeOf(`down.${i}.attn.0.q.weight`) !== undefined);
  const want = new Set(config.attn_resolutions);
  const inWeights = attnLevels.map((i) => res[i]);
  if (inWeights.length !== want.size || inWeights.some((r) => !want.has(r))) {
    const where = attnLevels.length ? `attention at level${attnLevels.length > 1 ? 's' : ''} ${attnLevels.join(', ')} (down.<i>.attn), resolution${attnLevels.length > 1 ? 's' : ''} [${inWeights}] at ${config.resolution} px` : 'no attention in the down levels';
    throw misfit('attn_resolutions', `[${config.attn_resolutions}]`, `the weights have ${where}`);
  }
}

/**
 * Both comparisons of `config` with `file`'s header (checkUnetFields, then every key and shape of
 * unetLayout), reading no tensor: what DdpmUnet.load checks first, for callers that want the
 * answer before a GPU starts.
 */
export function checkUnetWeights(config: UnetConfig, file: SafetensorsFile, configName?: string): void {
  checkUnetFields(config, (k) => (file.has(k) ? file.info(k).shape : undefined), file.source.name, configName);
  checkLayout(file, unetLayout(config), unetDescription(config));
}
