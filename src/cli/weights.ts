/**
 * `dnf weights list` and `dnf weights fetch <name>`: the published UNet checkpoints
 * (src/weights/registry.ts), downloaded, MD5-checked and converted into the weights folder
 * (--dir, else $DNF_WEIGHTS_DIR, else the package's weights/ folder).
 */
import type { Command } from 'commander';
import { DnfError } from '../errors.js';
import { formatBytes } from '../node/download.js';
import { defaultWeightsDir, fetchWeights, weightsFiles, type WeightsFiles } from '../node/weights.js';
import { DEFAULT_WEIGHTS, WEIGHTS, weightsEntry } from '../weights/registry.js';

const DIR_HELP = 'the weights folder (default: $DNF_WEIGHTS_DIR, else weights/ in the dnf-webgpu package)';

interface FetchOpts { dir?: string; url?: string; keepCheckpoint?: boolean; timeout: string }

/** 'converted', 'checkpoint only', 'partial 12.0 MiB', or '-'. */
function state(f: WeightsFiles): string {
  if (f.safetensors !== undefined) return 'converted';
  if (f.checkpoint !== undefined) return 'checkpoint only';
  if (f.partial !== undefined) return `partial ${formatBytes(f.partial)}`;
  return '-';
}

/** Where a classifier comes from: none is published, so `weights list` says how to get one. */
export const CLASSIFIER_NOTE =
  'classifiers: none is published (the paper\'s were never released); train one on your data with `dnf train` (README: "Train a detector"), then `dnf detect --classifier RUN/best.safetensors`';

export function register(program: Command): void {
  const weights = program
    .command('weights')
    .description('list the published UNet checkpoints, or download one into the weights folder');

  weights
    .command('list')
    .description('show the known checkpoints and which of them are in the weights folder')
    .option('--dir <folder>', DIR_HELP)
    .action(async (opts: { dir?: string }) => {
      const dir = opts.dir ?? defaultWeightsDir();
      const rows = [['name', 'config', 'download', 'in folder', 'description']];
      for (const e of WEIGHTS) {
        rows.push([e.name, e.config, `~${formatBytes(e.parameters * 4)}`, state(await weightsFiles(dir, e.name)), e.description]);
      }
      const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
      console.log(`weights folder: ${dir}`);
      for (const r of rows) console.log(r.map((cell, c) => (c < r.length - 1 ? cell.padEnd(widths[c]) : cell)).join('  '));
      console.log(CLASSIFIER_NOTE);
    });

  weights
    .command('fetch')
    .description('download a checkpoint, check its MD5, and convert it to <dir>/<name>.safetensors; an interrupted download resumes when run again')
    .argument('[name]', 'which checkpoint (see `dnf weights list`)', DEFAULT_WEIGHTS)
    .option('--dir <folder>', DIR_HELP)
    .option('--url <url>', 'download from this address instead (a mirror of the same file: its MD5 must match)')
    .option('--keep-checkpoint', 'keep the downloaded <dir>/<name>.ckpt after converting it')
    .option('--timeout <seconds>', 'give up on a connection that sends nothing, or under 64 KiB, for this long (then resume)', '60')
    .action(async (name: string, opts: FetchOpts) => {
      const entry = weightsEntry(name);
      const timeout = Number(opts.timeout);
      if (!(timeout > 0)) throw new DnfError(`--timeout ${opts.timeout}: expected a positive number of seconds`);
      const dir = opts.dir ?? defaultWeightsDir();
      const r = await fetchWeights(entry, { dir, url: opts.url, keepCheckpoint: opts.keepCheckpoint, download: { idleTimeoutMs: timeout * 1000, stallMs: timeout * 1000 } });
      if (r.status === 'present') {
        console.log(`${name}: ${r.output} is already there; delete it to fetch it again`);
        return;
      }
      const c = r.conversion;
      const got = r.downloaded ? `downloaded ${formatBytes(r.downloaded.bytes)} (MD5 ok)` : `checked ${r.checkpoint} (MD5 ok)`;
      console.log(`${name}: ${got}, converted to ${r.output} (${c.tensorCount} tensors, ${c.parameters.toLocaleString('en-US')} parameters); ` +
        (r.keptCheckpoint ? `kept ${r.checkpoint}` : 'deleted the checkpoint'));
    });
}
