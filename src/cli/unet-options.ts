/**
 * What the commands that compute DNFs (extract, detect, eval) share: the UNet options and their
 * checks (the config itself is chosen by src/pipeline/unet.ts, as for the library and the page).
 * Checks run before any work so that a bad setup fails at once (exit 2).
 */
import { access } from 'node:fs/promises';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { ddimTimesteps } from '../diffusion/schedule.js';
import { DNF_FEATURES, type DnfFeature } from '../diffusion/dnf.js';
import { DnfError } from '../errors.js';
import type { Gpu } from '../gpu/gpu.js';
import { DEFAULT_ANTIALIAS } from '../pipeline/preprocess.js';
import type { DdpmUnet } from '../models/ddpm-unet.js';
import { isUnetPreset, type UnetConfig } from '../models/unet-config.js';
import { chooseUnetConfig, loadUnetFrom } from '../pipeline/unet.js';
import { openSafetensors } from '../node/files.js';
import { loadUnetConfig } from '../node/unet-config.js';
import { defaultWeightsDir, weightsPath } from '../node/weights.js';
import { DEFAULT_WEIGHTS } from '../weights/registry.js';
import type { SafetensorsFile } from '../weights/safetensors.js';

export interface UnetOptions {
  /** UNet weights (default: $DNF_WEIGHTS, else weights/lsun_bedroom.safetensors of the weights folder). */
  unet?: string;
  /** A preset name or a JSON config file (default: the config the weights file records, else the one its tensor shapes imply). */
  modelConfig?: string;
  /** 0: eps at t = 0; K > 0: a K-step DDIM inversion. */
  steps: number;
  feature: DnfFeature;
  /** torch's antialiased bicubic for resizing images (and DNFs, for the classifier), up or down. */
  antialias: boolean;
  /**
   * --antialias or --no-antialias was given: it then also wins over a classifier's recorded
   * dnf.antialias (detect, eval). Otherwise the classifier's record decides its resize.
   */
  antialiasGiven?: boolean;
}

/** The UNet to load: its file and config, checked. */
export interface UnetSetup {
  path: string;
  config: UnetConfig;
  /** Where the config comes from, for errors ('preset lsun-bedroom-256', a file's path). */
  configName: string;
  /** A line for the user when part of the config is a guess (see chooseUnetConfig). */
  note?: string;
}

/** The UNet file to use: --unet, else $DNF_WEIGHTS, else the default weights of the weights folder. */
export function defaultUnetPath(): string {
  return process.env.DNF_WEIGHTS || weightsPath(defaultWeightsDir(), DEFAULT_WEIGHTS);
}

/**
 * The weights file must exist and have a valid safetensors header (checked before the GPU
 * starts). Returns the header (its metadata, keys and shapes).
 */
async function requireWeights(path: string): Promise<SafetensorsFile> {
  if (!(await access(path).then(() => true, () => false))) {
    throw new DnfError(
      `${path}: UNet weights not found; download them with \`dnf weights fetch ${DEFAULT_WEIGHTS}\`, ` +
        `or convert a checkpoint you have with \`dnf convert model-2388000.ckpt -o ${path}\`, or pass --unet FILE`,
    );
  }
  const { file, close } = await openSafetensors(path);
  await close();
  return file;
}

/** --steps and --feature go together: a feature other than the first needs an inversion, whose K divides the schedule. */
export function checkDnfSettings(opts: Pick<UnetOptions, 'steps' | 'feature'>): void {
  if (opts.steps === 0 && opts.feature !== 'first') {
    throw new DnfError(`--feature ${opts.feature} needs an inversion: give --steps K (e.g. --steps 20)`);
  }
  if (opts.steps > 0) ddimTimesteps(opts.steps); // throws when K does not divide the schedule evenly
}

/**
 * Checks the DNF options, finds the weights and their config (--model-config, else the one the
 * file records, else the one its tensor shapes imply: src/pipeline/unet.ts), and compares it with
 * the weights' header; fails before any work or allocation (exit 2).
 */
export async function resolveUnet(opts: UnetOptions): Promise<UnetSetup> {
  checkDnfSettings(opts);
  const path = opts.unet ?? defaultUnetPath();
  const file = await requireWeights(path);
  const given = opts.modelConfig
    ? {
        config: await loadUnetConfig(opts.modelConfig),
        name: `--model-config ${opts.modelConfig}`,
        configName: isUnetPreset(opts.modelConfig) ? `preset ${opts.modelConfig}` : opts.modelConfig,
        fix: 'drop --model-config, or pass the matching config',
      }
    : undefined;
  const { config, configName, note } = chooseUnetConfig(file, given);
  return note ? { path, config, configName, note } : { path, config, configName };
}

/** The UNet of `setup` on `gpu`. */
export async function loadUnet(gpu: Gpu, setup: UnetSetup): Promise<DdpmUnet> {
  const { file, close } = await openSafetensors(setup.path);
  try {
    return await loadUnetFrom(gpu, file, setup);
  } finally {
    await close();
  }
}

export const positiveInt = (what: string) => (v: string): number => {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError(`${what} must be a positive integer.`);
  return n;
};

const stepsArg = (v: string): number => (v === '0' ? 0 : positiveInt('--steps')(v));

/**
 * Adds --unet, --model-config, --steps, --feature and --antialias / --no-antialias to `cmd`;
 * `features`: the --feature choices (extract adds 'dire').
 */
export function addUnetOptions(cmd: Command, features: readonly string[] = DNF_FEATURES): Command {
  const dire = features.includes('dire') ? '; dire: DIRE, |x - DDIM reconstruction| (--steps default 20)' : '';
  return cmd
    .option('--unet <file>', 'UNet weights as safetensors (default: $DNF_WEIGHTS, else lsun_bedroom.safetensors in the weights folder)')
    .option('--model-config <preset|file>', 'UNet config: a preset (lsun-bedroom-256, cifar10-32) or a JSON file (default: the config the weights file records, as `dnf weights fetch` writes, else the one its tensor shapes imply)')
    .option('--steps <k>', '0: one UNet evaluation at t = 0 (the released DNF); K: a K-step DDIM inversion', stepsArg, 0)
    .addOption(new Option('--feature <which>', `which noise estimate of the inversion: first (the released DNF), last, or mean${dire}`).choices(features).default('first'))
    .option('--antialias', `resize with torch's antialiased bicubic, as the reference code on torchvision >= 0.17: a = -0.5 cubic, stretched when downsizing; upscaling changes too${DEFAULT_ANTIALIAS ? ' (default)' : ''}`)
    .option('--no-antialias', `plain bicubic (a = -0.75), as torchvision <= 0.16${DEFAULT_ANTIALIAS ? '' : ' (default)'}; either flag also overrides a classifier's recorded dnf.antialias`);
}

/** The resolved --antialias / --no-antialias: the flag when given (and a note that it was), else the default. */
export function antialiasOption(given: boolean | undefined): Pick<UnetOptions, 'antialias' | 'antialiasGiven'> {
  return { antialias: given ?? DEFAULT_ANTIALIAS, antialiasGiven: given !== undefined };
}
