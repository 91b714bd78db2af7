/**
 * --perturb SPEC and --equalize jpeg:Q, shared by extract, detect, eval and train: parsing, and
 * the decode that applies them (src/image/perturb.ts) between decoding a source image and the
 * resize to the model's input. --equalize (the dataset's format made one, before its DNF) comes
 * first, then --perturb (a robustness condition). A cache of DNFs computed under them lives in a
 * subfolder named by the normalised steps (cacheName: 'jpeg-75+blur-1').
 */
import { join } from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { DnfError } from '../errors.js';
import { decodeImageFile } from '../image/decode-node.js';
import { perturbImage } from '../image/perturb.js';
import { cacheName, formatSpec, GRAMMAR, parseSpec, type PerturbSpec } from '../image/perturb-spec.js';
import type { RgbImage } from '../image/pixels.js';

export interface PerturbOptions {
  /** --perturb: steps applied to every decoded source image. */
  perturb?: PerturbSpec;
  /** --equalize: one jpeg:Q step applied first to every input of both classes. */
  equalize?: PerturbSpec;
}

const asUsageError = (parse: () => PerturbSpec): PerturbSpec => {
  try {
    return parse();
  } catch (e) {
    throw new InvalidArgumentError(e instanceof Error ? e.message : String(e));
  }
};

export const perturbArg = (v: string): PerturbSpec => asUsageError(() => parseSpec(v, '--perturb'));

export const equalizeArg = (v: string): PerturbSpec => asUsageError(() => {
  const spec = parseSpec(v, '--equalize');
  if (spec.length !== 1 || spec[0].kind !== 'jpeg') throw new DnfError(`--equalize ${JSON.stringify(v)}: takes one jpeg:Q (e.g. jpeg:75), which re-encodes every input of both classes at quality Q; other perturbations go to --perturb (${GRAMMAR})`);
  return spec;
});

/** Adds --perturb (and with `equalize`, --equalize) to `cmd`. */
export function addPerturbOptions(cmd: Command, equalize: boolean): Command {
  cmd.option('--perturb <spec>', 'perturb every source image before its DNF: jpeg:Q (PIL\'s JPEG at quality Q), blur:SIGMA (scipy\'s Gaussian), resize:F (bicubic), crop:N (centre crop), joined with + (e.g. jpeg:75+blur:1)', perturbArg);
  if (equalize) cmd.option('--equalize <jpeg:Q>', 're-encode every input of both classes as JPEG at quality Q before its DNF, so the file format carries no label (see the format-bias warning)', equalizeArg);
  return cmd;
}

/** The steps every input goes through: --equalize, then --perturb. */
export function inputSteps(opts: PerturbOptions): PerturbSpec {
  return [...(opts.equalize ?? []), ...(opts.perturb ?? [])];
}

/** Decodes a source image and applies `steps` (errors name the file). */
export async function decodePerturbed(path: string, steps: PerturbSpec): Promise<RgbImage> {
  const img = await decodeImageFile(path);
  return steps.length ? perturbImage(img, steps, path) : img;
}

/** The cache folder for DNFs computed under `steps`: `dir` itself without steps, else dir/<cacheName>. */
export function stepsCacheDir(dir: string, steps: PerturbSpec): string {
  return steps.length ? join(dir, cacheName(steps)) : dir;
}

/**
 * A batch job's memory limits (src/node/batch/memory.ts decodedImageLimits) for images that
 * `steps` may enlarge: resize:F > 1 multiplies the pixels held by F^2 (the cost counts them).
 */
export function perturbedLimits<T, L extends { cost: (item: T) => Promise<number> }>(limits: L & { cost: (item: T) => Promise<number> }, steps: PerturbSpec): L {
  const growth = steps.reduce((g, s) => (s.kind === 'resize' ? g * Math.max(1, s.factor * s.factor) : g), 1);
  const cost = limits.cost;
  return growth === 1 ? limits : { ...limits, cost: async (item: T) => (await cost(item)) * growth };
}

/** Refuses --perturb / --equalize where the inputs are DNFs already. */
export function refuseOnDnfs(opts: PerturbOptions, fromDnf: boolean, where: string): void {
  const steps = inputSteps(opts);
  if (fromDnf && steps.length) {
    throw new DnfError(`${opts.equalize ? '--equalize' : '--perturb'} ${formatSpec(opts.equalize ?? opts.perturb ?? [])} changes source images before their DNF; ${where} the inputs are DNFs already: drop it, or give the source images`);
  }
}
