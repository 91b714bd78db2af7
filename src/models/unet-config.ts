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
 * Bounds of the fields. Published DDPM and ADM UNets stay far inside them (DDPM LSUN: ch 128,
 * widths up to 512, 2 res blocks, 6 levels, 256 px; ADM ImageNet 512: ch 256, widths up to 1024,
 * 3 res blocks, 7 levels, 512 px; in/out channels 3 to 6), so no real config meets them. They keep
 * a hostile or mistyped config from asking for work or memory out of proportion before its
 * weights are compared with it: every count below bounds a loop or an array length.
 */
export const UNET_LIMITS = {
  /** ch, ch * ch_mult[i], in_channels, out_ch: 4x the widest published level (1024). */
  channels: 4096,
  /** num_res_blocks: published configs use 2 or 3. */
  numResBlocks: 16,
  /** ch_mult.length: published configs have 4 to 7. */
  levels: 12,
  /** resolution in pixels: 8x the largest published pixel-space UNet (512). */
  resolution: 4096,
} as const;

/** The largest config file read: a config is under 2 KiB, the DDIM repository's YAML files too. */
export const MAX_CONFIG_BYTES = 1024 * 1024;

/** The top-level sections of the DDIM repository's config files (configs/*.yml). */
const DDIM_SECTIONS = ['data', 'model', 'diffusion', 'training', 'sampling', 'optim'];
/** Training settings of the DDIM `model:` section, beside the UnetConfig fields (not read). */
const DDIM_MODEL_EXTRAS = ['type', 'var_type', 'ema_rate', 'ema'];

/** A value from the config, shown in one short line. */
function shown(v: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(v) ?? String(v);
  } catch {
    text = String(v);
  }
  return text.length > 40 ? `${text.slice(0, 40)}...` : text;
}

/** Names from the config (keys), quoted and capped for a one-line message. */
function names(keys: string[]): string {
  const quoted = keys.slice(0, 3).map((k) => shown(k.length > 30 ? `${k.slice(0, 30)}...` : k));
  return keys.length > 3 ? `${quoted.join(', ')} and ${keys.length - 3} more` : quoted.join(', ');
}

const hasOwn = (o: object, k: string) => Object.prototype.hasOwnProperty.call(o, k);

/**
 * Validates a parsed JSON config field by field (types, the bounds of UNET_LIMITS, consistency
 * between fields): either the flat fields of UnetConfig, or the DDIM repository's layout
 * `{ "model": {...}, "data": { "image_size": R } }` (a JSON copy of its YAML; its training
 * settings are ignored, unknown keys refused). `source` names the file in error messages, which
 * name the field too.
 */
export function parseUnetConfig(json: unknown, source: string): UnetConfig {
  const fail = (what: string) => new DnfError(`${source}: invalid UNet config: ${what}`);
  if (!isObject(json)) throw fail('expected a JSON object');
  let fields: Record<string, unknown>;
  /** The name of a field in this layout ('ch' or 'model.ch'). */
  let label = (name: string) => name;
  if (hasOwn(json, 'model')) {
    const unknownSections = Object.keys(json).filter((k) => !DDIM_SECTIONS.includes(k));
    if (unknownSections.length) throw fail(`unknown section${unknownSections.length > 1 ? 's' : ''} ${names(unknownSections)} (known: ${DDIM_SECTIONS.join(', ')})`);
    const { model } = json;
    if (!isObject(model)) throw fail('"model" must be an object');
    if (json.data !== undefined && !isObject(json.data)) throw fail('"data" must be an object');
    const data = json.data as Record<string, unknown> | undefined;
    if (model.type !== undefined && model.type !== 'simple') {
      throw fail(`model type ${shown(model.type)} is not supported; only the "simple" DDPM model is`);
    }
    const unknown = Object.keys(model).filter((k) => !(FIELDS as readonly string[]).includes(k) && !DDIM_MODEL_EXTRAS.includes(k));
    if (unknown.length) throw fail(`unknown field${unknown.length > 1 ? 's' : ''} ${names(unknown.map((k) => `model.${k}`))} (known: ${FIELDS.join(', ')}, ${DDIM_MODEL_EXTRAS.join(', ')})`);
    const size = data?.image_size;
    if (model.resolution === undefined && size === undefined) throw fail('missing "data.image_size" (the resolution)');
    if (model.resolution !== undefined && size !== undefined && model.resolution !== size) {
      throw fail(`"model.resolution" ${shown(model.resolution)} and "data.image_size" ${shown(size)} differ`);
    }
    if (data?.channels !== undefined && data.channels !== model.in_channels) {
      throw fail(`"data.channels" ${shown(data.channels)} and "model.in_channels" ${shown(model.in_channels)} differ`);
    }
    fields = { resolution: size, ...pick(model) };
    label = (name) => (name === 'resolution' && model.resolution === undefined ? 'data.image_size' : `model.${name}`);
  } else {
    const unknown = Object.keys(json).filter((k) => !(FIELDS as readonly string[]).includes(k));
    if (unknown.length) throw fail(`unknown field${unknown.length > 1 ? 's' : ''} ${names(unknown)} (known: ${FIELDS.join(', ')})`);
    fields = json;
  }

  const isInt = (v: unknown, min: number, max: number): v is number => typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;
  const int = (name: string, min: number, max: number): number => {
    const v = fields[name];
    if (v === undefined) throw fail(`missing "${label(name)}"`);
    if (!isInt(v, min, max)) throw fail(`"${label(name)}" must be an integer from ${min} to ${max}, got ${shown(v)}`);
    return v;
  };
  const intList = (name: string, min: number, max: number, minLength: number, maxLength: number): number[] => {
    const v = fields[name];
    if (v === undefined) throw fail(`missing "${label(name)}"`);
    const range = `${minLength ? `${minLength} to ` : 'up to '}${maxLength}`;
    if (!Array.isArray(v) || v.length < minLength || v.length > maxLength || !v.every((e) => isInt(e, min, max))) {
      throw fail(`"${label(name)}" must be a list of ${range} integers from ${min} to ${max}, got ${shown(v)}`);
    }
    return [...v] as number[];
  };

  const L = UNET_LIMITS;
  const config: UnetConfig = {
    ch: int('ch', 32, L.channels),
    out_ch: int('out_ch', 1, L.channels),
    ch_mult: intList('ch_mult', 1, L.channels / 32, 1, L.levels),
    num_res_blocks: int('num_res_blocks', 1, L.numResBlocks),
    attn_resolutions: intList('attn_resolutions', 1, L.resolution, 0, L.levels),
    in_channels: int('in_channels', 1, L.channels),
    resamp_with_conv: true,
    resolution: int('resolution', 1, L.resolution),
  };
  const rwc = fields.resamp_with_conv;
  if (typeof rwc !== 'boolean') throw fail(`"${label('resamp_with_conv')}" must be true or false, got ${shown(rwc)}`);
  config.resamp_with_conv = rwc;
  const dropout = fields.dropout;
  if (dropout !== undefined) {
    if (typeof dropout !== 'number' || !(dropout >= 0 && dropout < 1)) throw fail(`"${label('dropout')}" must be a number in [0, 1), got ${shown(dropout)}`);
    config.dropout = dropout;
  }

  if (config.ch % 32) throw fail(`"${label('ch')}" must be a multiple of 32 (GroupNorm uses 32 groups), got ${config.ch}`);
  const wide = config.ch_mult.find((m) => config.ch * m > L.channels);
  if (wide !== undefined) throw fail(`"${label('ch_mult')}" entry ${wide} makes a level ${config.ch * wide} channels wide (ch ${config.ch}), more than ${L.channels}`);
  const levels = config.ch_mult.length;
  const factor = 2 ** (levels - 1);
  if (config.resolution % factor) {
    throw fail(`"${label('resolution')}" ${config.resolution} must be divisible by ${factor} (halved ${levels - 1} times for ${levels} levels)`);
  }
  const resolutions = levelResolutions(config);
  const stray = config.attn_resolutions.filter((r) => !resolutions.includes(r));
  if (stray.length) throw fail(`"${label('attn_resolutions')}" ${shown(stray)} match no level (levels at ${resolutions.join(', ')})`);
  return config;
}

/** parseUnetConfig of JSON text (a config file's, or a weights file's metadata entry). */
export function parseUnetConfigText(text: string, source: string): UnetConfig {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    const why = (e instanceof Error ? e.message : String(e)).replace(/[\x00-\x1f\x7f-\x9f\u2028\u2029]/g, '?');
    throw new DnfError(`${source}: not valid JSON (${why.length > 100 ? `${why.slice(0, 100)}...` : why}); fix the file or use a preset`);
  }
  return parseUnetConfig(json, source);
}

/**
 * The config a weights file records in its metadata (`unet_config`: a preset name, as
 * `dnf weights fetch` writes, or a JSON config), if any; `path` names the file in errors.
 */
export function unetConfigFromMetadata(metadata: Readonly<Record<string, string>>, path: string): UnetConfig | null {
  const recorded = hasOwn(metadata, 'unet_config') ? metadata.unet_config : undefined;
  if (!recorded) return null;
  if (isUnetPreset(recorded)) return unetPreset(recorded);
  if (!/^\s*\{/.test(recorded)) {
    throw new DnfError(`${path}: its metadata names an unknown UNet config ${shown(recorded.replace(/[\x00-\x1f\x7f-\x9f\u2028\u2029]/g, '?'))} (presets: ${Object.keys(UNET_PRESETS).join(', ')}); pass --model-config`);
  }
  return parseUnetConfigText(recorded, `${path} (metadata unet_config)`);
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
