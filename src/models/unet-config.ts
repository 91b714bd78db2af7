/**
 * Configuration of the DDPM "simple" UNet (reference/dnf-pipeline.md section 2): the fields of
 * the DDIM repository's `model:` config section, with `resolution` for its `data.image_size`.
 * Browser-safe; src/node/unet-config.ts reads them from JSON files.
 */
import { DnfError } from '../errors.js';

export interface UnetConfig {
  /** Base channel count; every level's width is ch * ch_mult[i]. A multiple of 32 (GroupNorm's 32 groups). */
  ch: number;
  /** Channels of the output (the predicted noise): 3 for RGB. */
  out_ch: number;
  /** Width multiplier per resolution level, full resolution first; one level per entry. */
  ch_mult: number[];
  /** ResnetBlocks per level on the way down (the way up has one more). */
  num_res_blocks: number;
  /** Resolutions (in pixels) whose levels get an AttnBlock after each ResnetBlock. */
  attn_resolutions: number[];
  /** Channels of the input image: 3 for RGB. */
  in_channels: number;
  /** true: Downsample = pad + strided 3x3 conv, Upsample = nearest x2 + 3x3 conv; false: avg_pool2d(2) and nearest x2 alone. */
  resamp_with_conv: boolean;
  /** Input height and width; inputs must have exactly this size. */
  resolution: number;
  /** Training-time dropout; ignored (inference only). */
  dropout?: number;
}

export const UNET_PRESETS = {
  /** The DDPM LSUN-bedroom checkpoint used by DNF (also church, cat): 113,673,219 parameters. */
  'lsun-bedroom-256': {
    ch: 128, out_ch: 3, ch_mult: [1, 1, 2, 2, 4, 4], num_res_blocks: 2, attn_resolutions: [16],
    in_channels: 3, resamp_with_conv: true, resolution: 256, dropout: 0,
  },
  /** The DDPM CIFAR-10 checkpoint. */
  'cifar10-32': {
    ch: 128, out_ch: 3, ch_mult: [1, 2, 2, 2], num_res_blocks: 2, attn_resolutions: [16],
    in_channels: 3, resamp_with_conv: true, resolution: 32, dropout: 0.1,
  },
} as const satisfies Record<string, UnetConfig>;

export type UnetPreset = keyof typeof UNET_PRESETS;

export function isUnetPreset(name: string): name is UnetPreset {
  return Object.prototype.hasOwnProperty.call(UNET_PRESETS, name);
}

/** A fresh, mutable copy of a preset. */
export function unetPreset(name: UnetPreset): UnetConfig {
  const p = UNET_PRESETS[name];
  return { ...p, ch_mult: [...p.ch_mult], attn_resolutions: [...p.attn_resolutions] };
}

const FIELDS = ['ch', 'out_ch', 'ch_mult', 'num_res_blocks', 'attn_resolutions', 'in_channels', 'resamp_with_conv', 'resolution', 'dropout'] as const;

/**
 * Validates a parsed JSON config: either the flat fields of UnetConfig, or the DDIM repository's
 * layout `{ "model": {...}, "data": { "image_size": R } }` (a JSON copy of its YAML; other
 * training settings there are ignored). `source` names the file in error messages.
 */
export function parseUnetConfig(json: unknown, source: string): UnetConfig {
  const fail = (what: string) => new DnfError(`${source}: invalid UNet config: ${what}`);
  if (!isObject(json)) throw fail('expected a JSON object');
  let fields: Record<string, unknown>;
  if ('model' in json) {
    const { model, data } = json;
    if (!isObject(model)) throw fail('"model" must be an object');
    if (model.type !== undefined && model.type !== 'simple') {
      throw fail(`model type ${JSON.stringify(model.type)} is not supported; only the "simple" DDPM model is`);
    }
    const size = isObject(data) ? data.image_size : undefined;
    if (model.resolution === undefined && size === undefined) throw fail('missing "data.image_size" (the resolution)');
    fields = { resolution: size, ...pick(model) };
  } else {
    const unknown = Object.keys(json).filter((k) => !(FIELDS as readonly string[]).includes(k));
    if (unknown.length) throw fail(`unknown field${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => JSON.stringify(k)).join(', ')} (known: ${FIELDS.join(', ')})`);
    fields = json;
  }

  const int = (name: string, min: number): number => {
    const v = fields[name];
    if (v === undefined) throw fail(`missing "${name}"`);
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) throw fail(`"${name}" must be an integer >= ${min}, got ${JSON.stringify(v)}`);
    return v;
  };
  const intList = (name: string, min: number, nonEmpty: boolean): number[] => {
    const v = fields[name];
    if (v === undefined) throw fail(`missing "${name}"`);
    if (!Array.isArray(v) || (nonEmpty && !v.length) || !v.every((e) => typeof e === 'number' && Number.isSafeInteger(e) && e >= min)) {
      throw fail(`"${name}" must be a${nonEmpty ? ' non-empty' : ''} list of integers >= ${min}, got ${JSON.stringify(v)}`);
    }
    return [...v] as number[];
  };

  const config: UnetConfig = {
    ch: int('ch', 32),
    out_ch: int('out_ch', 1),
    ch_mult: intList('ch_mult', 1, true),
    num_res_blocks: int('num_res_blocks', 1),
    attn_resolutions: intList('attn_resolutions', 1, false),
    in_channels: int('in_channels', 1),
    resamp_with_conv: true,
    resolution: int('resolution', 1),
  };
  const rwc = fields.resamp_with_conv;
  if (typeof rwc !== 'boolean') throw fail(`"resamp_with_conv" must be true or false, got ${JSON.stringify(rwc)}`);
  config.resamp_with_conv = rwc;
  const dropout = fields.dropout;
  if (dropout !== undefined) {
    if (typeof dropout !== 'number' || !(dropout >= 0 && dropout < 1)) throw fail(`"dropout" must be a number in [0, 1), got ${JSON.stringify(dropout)}`);
    config.dropout = dropout;
  }

  if (config.ch % 32) throw fail(`"ch" must be a multiple of 32 (GroupNorm uses 32 groups), got ${config.ch}`);
  const levels = config.ch_mult.length;
  const factor = 2 ** (levels - 1);
  if (config.resolution % factor) {
    throw fail(`"resolution" ${config.resolution} must be divisible by ${factor} (halved ${levels - 1} times for ${levels} levels)`);
  }
  const resolutions = levelResolutions(config);
  const stray = config.attn_resolutions.filter((r) => !resolutions.includes(r));
  if (stray.length) throw fail(`"attn_resolutions" ${JSON.stringify(stray)} match no level (levels at ${resolutions.join(', ')})`);
  return config;
}

/** The spatial size of each level, full resolution first. */
export function levelResolutions(config: UnetConfig): number[] {
  return config.ch_mult.map((_, i) => config.resolution / 2 ** i);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The UnetConfig fields of the DDIM `model:` section (it also holds training settings). */
function pick(model: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(FIELDS.filter((k) => model[k] !== undefined).map((k) => [k, model[k]]));
}
