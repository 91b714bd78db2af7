/**
 * Node side of the weights registry (src/weights/registry.ts): the weights folder, which files of
 * an entry are in it, and fetching an entry: download the checkpoint to `<dir>/<name>.ckpt`
 * (resumable, MD5-checked, see download.ts), convert it to `<dir>/<name>.safetensors`, and delete
 * the checkpoint unless asked to keep it. A kept checkpoint is reused (after an MD5 check) instead of
 * downloaded again; an existing .safetensors is left alone.
 */
import { stat, unlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DnfError } from '../errors.js';
import type { WeightsEntry } from '../weights/registry.js';
import { convertCheckpoint, type ConvertSummary } from './convert.js';
import { download, md5File, type DownloadOptions, type DownloadResult } from './download.js';

/** $DNF_WEIGHTS_DIR, or the `weights/` folder of the package. */
export function defaultWeightsDir(): string {
  const dir = process.env.DNF_WEIGHTS_DIR;
  return dir ? resolve(dir) : fileURLToPath(new URL('../../weights', import.meta.url));
}

/** The converted file of weights `name` in `dir`. */
export function weightsPath(dir: string, name: string): string {
  return join(dir, `${name}.safetensors`);
}

/** Sizes in bytes of an entry's files in `dir`; absent when the file is not there. */
export interface WeightsFiles {
  safetensors?: number;
  /** A checkpoint kept by `--keep-checkpoint` (or left by a failed conversion). */
  checkpoint?: number;
  /** An unfinished download. */
  partial?: number;
}

export async function weightsFiles(dir: string, name: string): Promise<WeightsFiles> {
  const size = (file: string) => stat(join(dir, file)).then((s) => (s.isFile() ? s.size : undefined), () => undefined);
  const [safetensors, checkpoint, partial] = await Promise.all([`${name}.safetensors`, `${name}.ckpt`, `${name}.ckpt.part`].map(size));
  return { safetensors, checkpoint, partial };
}

export interface FetchWeightsOptions {
  /** The weights folder (created when missing). */
  dir: string;
  /** Download from this address instead of the entry's (a mirror); the MD5 must still match. */
  url?: string;
  /** Keep `<dir>/<name>.ckpt` after converting it. */
  keepCheckpoint?: boolean;
  /** Progress, timeouts and retries of the download (its label defaults to the entry's name). */
  download?: Omit<DownloadOptions, 'md5' | 'size'>;
}

export type FetchWeightsResult =
  | { status: 'present'; output: string }
  | {
    status: 'fetched';
    output: string;
    /** What was downloaded; absent when a kept checkpoint was converted instead. */
    downloaded?: DownloadResult;
    /** The checkpoint, and whether it is still there. */
    checkpoint: string;
    keptCheckpoint: boolean;
    conversion: ConvertSummary;
  };

/** Makes `<dir>/<entry.name>.safetensors` from the published checkpoint (see the file header). */
export async function fetchWeights(entry: WeightsEntry, opts: FetchWeightsOptions): Promise<FetchWeightsResult> {
  const output = weightsPath(opts.dir, entry.name);
  const files = await weightsFiles(opts.dir, entry.name);
  if (files.safetensors !== undefined) return { status: 'present', output };

  const checkpoint = join(opts.dir, `${entry.name}.ckpt`);
  const dl: DownloadOptions = { label: entry.name, ...opts.download, md5: entry.md5, size: entry.bytes };
  const sink = dl.progress === undefined ? process.stderr : dl.progress;
  const say = (text: string) => sink?.write(`${dl.label}: ${text}\n`);
  let downloaded: DownloadResult | undefined;
  if (files.checkpoint !== undefined) {
    say(`checking the MD5 of ${checkpoint}`);
    const md5 = await md5File(checkpoint);
    if (md5 !== entry.md5) {
      throw new DnfError(`${checkpoint}: its MD5 is ${md5}, not the expected ${entry.md5}: it is another file or damaged; delete it and run again`);
    }
  } else {
    const urls = opts.url ? [opts.url] : entry.urls;
    for (const [i, url] of urls.entries()) {
      say(`downloading ${url} to ${checkpoint}`);
      try {
        downloaded = await download(url, checkpoint, dl);
        break;
      } catch (e) {
        if (!(e instanceof DnfError) || i === urls.length - 1) throw e;
        say(`${e.message}; trying the next address`);
      }
    }
  }

  say(`converting ${checkpoint} to ${output}`);
  const conversion = await convertCheckpoint(checkpoint, output, {
    metadata: { source: entry.file, source_md5: entry.md5, weights: entry.name, unet_config: entry.config },
  });
  if (!opts.keepCheckpoint) await unlink(checkpoint);
  return { status: 'fetched', output, downloaded, checkpoint, keptCheckpoint: !!opts.keepCheckpoint, conversion };
}
