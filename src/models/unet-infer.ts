/**
 * The UNet config read off a checkpoint's tensor shapes, for weights that record none: ch and
 * in_channels from conv_in, out_ch from conv_out, one level per down.<i>, ch_mult from each
 * level's first conv width, num_res_blocks from down.0's blocks, resamp_with_conv from
 * down.0.downsample.conv, and the attention levels from where down.<i>.attn keys exist.
 *
 * The resolution is the one field no shape holds (convolutions and attention work at any size).
 * It is taken from a preset whose shape-determined fields are these (the DDPM checkpoints), else
 * from the attention level, placed at 16x16 as every DDPM config places it, else 256; the result
 * says which, so that callers can tell the user when it is a guess. Also the one-line refusal of a
 * config that names other weights. Browser-safe; reads the header only.
 */
import { DnfError } from '../errors.js';
import type { SafetensorsFile } from '../weights/safetensors.js';
import { levelResolutions, parseUnetConfig, UNET_PRESETS, unetPreset, type UnetConfig, type UnetPreset } from './unet-config.js';
import { checkUnetWeights, type ShapeOf } from './unet-layout.js';

/** The side at which DDPM's configs put their attention (attn_resolutions [16] in all of them). */
export const DDPM_ATTENTION_SIZE = 16;
/** The resolution assumed when neither a preset nor an attention level tells it. */
export const DEFAULT_RESOLUTION = 256;

export interface InferredUnetConfig {
  config: UnetConfig;
  /** The preset whose layout these weights have, if any (its resolution is then the preset's). */
  preset: UnetPreset | null;
  /** Where the resolution comes from, for the user: 'preset cifar10-32', 'the attention level (...)', 'the default'. */
  resolutionFrom: string;
  /** True when the resolution is a guess (no preset has this layout). */
  resolutionGuessed: boolean;
}

/** The fields the tensor shapes determine (everything but resolution and dropout), with attention as level indices. */
interface ShapeFields {
  ch: number;
  in_channels: number;
  out_ch: number;
  ch_mult: number[];
  num_res_blocks: number;
  resamp_with_conv: boolean;
  /** Indices of the down levels with attention blocks. */
  attn_levels: number[];
}

function fieldsOf(config: UnetConfig): ShapeFields {
  const res = levelResolutions(config);
  return {
    ch: config.ch, in_channels: config.in_channels, out_ch: config.out_ch, ch_mult: [...config.ch_mult],
    num_res_blocks: config.num_res_blocks, resamp_with_conv: config.ch_mult.length > 1 ? config.resamp_with_conv : true,
    attn_levels: res.map((r, i) => (config.attn_resolutions.includes(r) ? i : -1)).filter((i) => i >= 0),
  };
}

/** The shape-determined fields of `shapeOf`'s weights; a DnfError (naming `name`) when they are no DDPM UNet's. */
function readFields(shapeOf: ShapeOf, name: string): ShapeFields {
  const fail = (why: string) => new DnfError(`${name}: cannot read a UNet config from the tensor shapes (${why}); give its config (--model-config, or createDetector's unetConfig), or check that these are DDPM UNet weights`);
  const convIn = shapeOf('conv_in.weight');
  if (convIn?.length !== 4) throw fail('no 4-d conv_in.weight');
  const convOut = shapeOf('conv_out.weight');
  if (convOut?.length !== 4) throw fail('no 4-d conv_out.weight');
  const [ch, inChannels] = convIn;
  // Counting stops at the first absent key, so the loops are bounded by the header's keys.
  const count = (key: (n: number) => string) => {
    let n = 0;
    while (shapeOf(key(n)) !== undefined) n++;
    return n;
  };
  const levels = count((i) => `down.${i}.block.0.conv1.weight`);
  if (!levels) throw fail('no down.0.block.0.conv1.weight');
  const mult = Array.from({ length: levels }, (_, i) => shapeOf(`down.${i}.block.0.conv1.weight`)![0] / ch);
  const odd = mult.findIndex((m) => !Number.isInteger(m) || m < 1);
  if (odd >= 0) throw fail(`down.${odd}.block.0.conv1.weight has ${shapeOf(`down.${odd}.block.0.conv1.weight`)![0]} outputs, not a multiple of ch ${ch}`);
  return {
    ch, in_channels: inChannels, out_ch: convOut[0], ch_mult: mult,
    num_res_blocks: count((j) => `down.0.block.${j}.conv1.weight`),
    resamp_with_conv: levels > 1 ? shapeOf('down.0.downsample.conv.weight') !== undefined : true,
    attn_levels: mult.map((_, i) => i).filter((i) => shapeOf(`down.${i}.attn.0.q.weight`) !== undefined),
  };
}

const same = (a: ShapeFields, b: ShapeFields) => JSON.stringify(a) === JSON.stringify(b);

/** 'ch 64, ch_mult [1,2], num_res_blocks 2, attention at level 1, in_channels 3, out_ch 3, resamp_with_conv true' (only `only`'s fields when given). */
function describeFields(f: ShapeFields, only?: ReadonlyArray<keyof ShapeFields>): string {
  const attn = f.attn_levels.length ? `attention at level${f.attn_levels.length > 1 ? 's' : ''} ${f.attn_levels.join(', ')}` : 'no attention';
  const parts: Array<[keyof ShapeFields, string]> = [
    ['ch', `ch ${f.ch}`], ['ch_mult', `ch_mult [${f.ch_mult}]`], ['num_res_blocks', `num_res_blocks ${f.num_res_blocks}`],
    ['attn_levels', attn], ['in_channels', `in_channels ${f.in_channels}`], ['out_ch', `out_ch ${f.out_ch}`],
    ['resamp_with_conv', `resamp_with_conv ${f.resamp_with_conv}`],
  ];
  return parts.filter(([k]) => !only || only.includes(k)).map(([, s]) => s).join(', ');
}

/** The shape-determined fields of `a` that differ from `b`'s. */
function differing(a: ShapeFields, b: ShapeFields): Array<keyof ShapeFields> {
  return (Object.keys(a) as Array<keyof ShapeFields>).filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k]));
}

/** The config of `file`'s UNet from its tensor shapes (see the header); a DnfError naming the file when they are no DDPM UNet's. */
export function inferUnetConfig(file: SafetensorsFile): InferredUnetConfig {
  const name = file.source.name;
  const fields = readFields((k) => (file.has(k) ? file.info(k).shape : undefined), name);
  const preset = (Object.keys(UNET_PRESETS) as UnetPreset[]).find((p) => same(fieldsOf(unetPreset(p)), fields)) ?? null;
  let resolution: number;
  let resolutionFrom: string;
  const levels = fields.ch_mult.length;
  if (preset) {
    resolution = UNET_PRESETS[preset].resolution;
    resolutionFrom = `preset ${preset}`;
  } else if (fields.attn_levels.length) {
    resolution = DDPM_ATTENTION_SIZE * 2 ** fields.attn_levels[0];
    resolutionFrom = `the attention level (DDPM attends at ${DDPM_ATTENTION_SIZE}x${DDPM_ATTENTION_SIZE})`;
  } else {
    resolution = Math.max(DEFAULT_RESOLUTION, 2 ** (levels - 1));
    resolutionFrom = 'the default';
  }
  const json = {
    ch: fields.ch, out_ch: fields.out_ch, ch_mult: fields.ch_mult, num_res_blocks: fields.num_res_blocks,
    attn_resolutions: fields.attn_levels.map((i) => resolution / 2 ** i), in_channels: fields.in_channels,
    resamp_with_conv: fields.resamp_with_conv, resolution,
  };
  const config = parseUnetConfig(json, `${name} (the config read from its tensor shapes)`);
  if (preset) config.dropout = UNET_PRESETS[preset].dropout;
  return { config, preset, resolutionFrom, resolutionGuessed: !preset };
}

/**
 * Checks `config` against `file`'s header (checkUnetWeights). When the weights' own layout can be
 * read and `config` names another, the refusal is one line naming both: what the weights are,
 * where `configName` ('--model-config lsun-bedroom-256') differs, and `fix`.
 */
export function checkConfigFits(config: UnetConfig, file: SafetensorsFile, configName: string, fix: string): void {
  let inferred: InferredUnetConfig | null = null;
  try {
    inferred = inferUnetConfig(file);
  } catch {
    // Not a layout that can be read: the key-by-key comparison names what is wrong.
  }
  if (inferred) {
    const want = fieldsOf(config);
    const have = fieldsOf(inferred.config);
    const diff = differing(have, want);
    if (diff.length) {
      throw new DnfError(`${file.source.name}: these weights are a UNet with ${describeFields(have)}; ${configName} has ${describeFields(want, diff)}: ${fix}`);
    }
  }
  checkUnetWeights(config, file, configName);
}
