/**
 * `dnf extract <inputs...> -o <dir>`: Diffusion Noise Features of image files and folders.
 *
 * Each input image is decoded (alone: a bad file is reported in one line and the job goes on),
 * resized to the UNet's resolution, run through the UNet in batches (eps at t = 0 by default, or a
 * DDIM inversion with --steps), and written under the output folder at its relative path:
 * - png (default): the released 8-bit quantisation, lossless PNG whatever the input format;
 * - safetensors: one file per image with the float32 tensor `dnf` of shape [3, R, R].
 * Outputs are written atomically; outputs that exist are skipped (re-running resumes) unless
 * --overwrite. Exit status: 0 all done, 1 some inputs failed, 2 usage or setup error, 130 Ctrl-C.
 */
import { basename } from 'node:path';
import { Option, type Command } from 'commander';
import { dnfOfImages, quantizedDnfs } from '../pipeline/dnf-images.js';
import { decodeImageFile } from '../image/decode-node.js';
import { encodePng } from '../image/encode-node.js';
import type { RgbImage } from '../image/pixels.js';
import type { DdpmUnet } from '../models/ddpm-unet.js';
import { acquireGpu, releaseGpu } from '../node/acquire.js';
import { collectInputs, IMAGE_EXTENSIONS } from '../node/batch/inputs.js';
import { interruptOnSigint } from '../node/batch/interrupt.js';
import { decodedImageLimits } from '../node/batch/memory.js';
import { OutputClaims } from '../node/batch/claims.js';
import { isCompleteOutput, planOutputs, type PlannedItem } from '../node/batch/plan.js';
import { ItemSkipped, runBatches, type Prepared } from '../node/batch/runner.js';
import { openSafetensors, writeFileAtomic, writeSafetensorsFile } from '../node/files.js';
import { formatSummary, Progress, type JobCounts, type ProgressOptions } from '../node/progress.js';
import { addUnetOptions, antialiasOption, loadUnet, positiveInt, resolveUnet, type UnetOptions } from './unet-options.js';

export const DNF_FORMATS = ['png', 'safetensors'] as const;
export type DnfFormat = (typeof DNF_FORMATS)[number];

export interface ExtractOptions extends UnetOptions {
  /** The output folder. */
  output: string;
  format: DnfFormat;
  /** Images per GPU batch (default: the UNet's defaultBatch). */
  batch?: number;
  overwrite: boolean;
  /** The GPU backend (--backend of the program). */
  backend?: string;
}

export interface ExtractHooks {
  /** Where and how often progress is shown (default: stderr). */
  progress?: Omit<ProgressOptions, 'label'>;
  /** Stops the job after the batch in flight (default: the first Ctrl-C). */
  signal?: AbortSignal;
}

export interface ExtractReport extends JobCounts {
  interrupted: boolean;
}

/** Runs extract over `inputs`; prints progress, failures and the summary on stderr. */
export async function runExtract(inputs: string[], opts: ExtractOptions, hooks: ExtractHooks = {}): Promise<ExtractReport> {
  const setup = await resolveUnet(opts);
  const unetPath = setup.path;
  const items = await collectInputs(inputs, IMAGE_EXTENSIONS, { exclude: [opts.output] });
  const plan = await planOutputs(items, opts.output, opts.format, { overwrite: opts.overwrite });
  const progressOptions = { ...hooks.progress, label: 'extract' };
  const say = (text: string) => (progressOptions.sink ?? process.stderr).write(`${text}\n`);
  if (plan.todo.length === 0) {
    const report = { done: 0, skipped: plan.skipped.length, failed: 0, remaining: 0, elapsedMs: 0, interrupted: false };
    say(formatSummary('extract', report));
    return report;
  }

  if (setup.note) say(`extract: ${setup.note}`);
  const gpu = await acquireGpu({ backend: opts.backend });
  let unet: DdpmUnet | undefined;
  try {
    unet = await loadUnet(gpu, setup);
    const batchSize = opts.batch ?? unet.defaultBatch;
    say(`extract: ${plan.todo.length} to do, ${plan.skipped.length} already done; batch ${batchSize}, ${gpu.describe().backend}, ${basename(unetPath)}`);

    const progress = new Progress(plan.todo.length, progressOptions);
    const interrupt = hooks.signal ? null : interruptOnSigint((line) => progress.message(line));
    const claims = new OutputClaims(opts.overwrite ? async () => false : isCompleteOutput); // --overwrite redoes finished outputs
    const writer = dnfWriter(unet, opts, unetPath, claims);
    let outcome;
    try {
      outcome = await runBatches({
        items: plan.todo,
        batchSize,
        name: (item) => item.path,
        prepare: async (item) => {
          const claim = await claims.take(item.output);
          if (claim !== 'claimed') throw new ItemSkipped(claim);
          return decodeImageFile(item.path);
        },
        ...decodedImageLimits((item: PlannedItem) => item.path),
        processBatch: writer,
        signal: hooks.signal ?? interrupt!.signal,
        progress,
      });
    } finally {
      interrupt?.dispose();
      progress.finish();
      await claims.releaseAll();
    }
    if (outcome.skipped.length) say(`extract: ${outcome.skipped.length} left to another run writing into ${opts.output}`);
    const report: ExtractReport = {
      done: outcome.done.length,
      skipped: plan.skipped.length + outcome.skipped.length,
      failed: outcome.failed.length,
      remaining: outcome.remaining,
      elapsedMs: progress.elapsedMs,
      interrupted: outcome.interrupted,
    };
    say(formatSummary('extract', report));
    return report;
  } finally {
    unet?.dispose();
    await releaseGpu(gpu);
  }
}

/** processBatch for extract: the DNFs of a batch of decoded images, each written to its output. */
function dnfWriter(unet: DdpmUnet, opts: ExtractOptions, unetPath: string, claims: OutputClaims) {
  const size = unet.config.resolution;
  return async (entries: Prepared<PlannedItem, RgbImage>[]): Promise<string[]> => {
    const images = entries.map((e) => e.data);
    if (opts.format === 'png') {
      const dnfs = await quantizedDnfs(unet, images, opts);
      await Promise.all(entries.map(async (e, i) => {
        await writeFileAtomic(e.item.output, [await encodePng(dnfs[i])]);
        await claims.release(e.item.output);
      }));
    } else {
      const dnf = dnfOfImages(unet, images, opts);
      try {
        const all = await dnf.read();
        const per = 3 * size * size;
        await Promise.all(entries.map(async (e, i) => {
          await writeSafetensorsFile(
            e.item.output,
            [{ name: 'dnf', dtype: 'F32', shape: [3, size, size], data: all.subarray(i * per, (i + 1) * per) }],
            { source: e.item.rel, unet: basename(unetPath), steps: String(opts.steps), feature: opts.feature, antialias: String(opts.antialias) },
          );
          await claims.release(e.item.output);
        }));
      } finally {
        dnf.dispose();
      }
    }
    return entries.map((e) => e.item.output);
  };
}

interface CliOpts extends Omit<ExtractOptions, 'antialias' | 'backend'> {
  antialias?: boolean;
}

export function register(program: Command): void {
  const cmd = program
    .command('extract')
    .description('compute the Diffusion Noise Features of images (files or folders, searched recursively) into an output folder that mirrors them')
    .argument('<inputs...>', `image files or folders (${IMAGE_EXTENSIONS.join(', ')}; hidden files skipped)`)
    .requiredOption('-o, --output <dir>', 'the output folder; each DNF goes to the input\'s relative path with the new extension')
    .addOption(new Option('--format <format>', 'png: the released 8-bit DNF as lossless PNG; safetensors: float32 tensor "dnf" [3, H, W]').choices(DNF_FORMATS).default('png'))
    .option('--batch <n>', 'images per GPU batch (default: what the GPU\'s storage bindings hold, at most 16; on a CPU adapter, what 512 MiB of activations hold)', positiveInt('--batch'));
  addUnetOptions(cmd)
    .option('--overwrite', 'recompute outputs that exist (default: skip them, so a re-run resumes)')
    .action(async (inputs: string[], cli: CliOpts) => {
      const report = await runExtract(inputs, {
        ...cli,
        ...antialiasOption(cli.antialias),
        overwrite: !!cli.overwrite,
        backend: program.opts().backend,
      });
      process.exitCode = report.interrupted ? 130 : report.failed > 0 ? 1 : 0;
    });
}
