/**
 * `dnf extract <inputs...> -o <dir>`: Diffusion Noise Features of image files and folders.
 *
 * Each input image is decoded (alone: a bad file is reported in one line and the job goes on),
 * resized to the UNet's resolution, run through the UNet in batches (eps at t = 0 by default, or a
 * DDIM inversion with --steps), and written under the output folder at its relative path:
 * - png (default): the released 8-bit quantisation, lossless PNG whatever the input format;
 * - safetensors: one file per image with the float32 tensor `dnf` of shape [3, R, R].
 * --feature dire writes DIRE instead (src/cli/extract-dire.ts: 8-bit PNG, or the float map as safetensors).
 * Inputs whose output names would clash (a.bmp and a.tiff in one folder) keep their extension
 * (a.bmp.png, a.tiff.png; --keep-ext: every input does), with a note (src/node/batch/plan.ts).
 * Outputs are written atomically; outputs that exist are skipped (re-running resumes) unless
 * --overwrite. Exit status: 0 all done, 1 some inputs failed, 2 usage or setup error, 130 Ctrl-C.
 *
 * Across machines: --shard I/N (or auto, from a Kubernetes Indexed Job or a Slurm array) does only
 * the inputs that hash to shard I (src/node/batch/shard.ts); output names are still decided over
 * all inputs, so N shards write exactly the files of one plain run. --verify checks, without a
 * model or GPU, that every expected output exists complete (exit 0) or lists what is not (exit 1).
 * --equalize jpeg:Q and --perturb SPEC change each decoded image before its DNF (src/image/perturb.ts).
 */
import { basename } from 'node:path';
import { Option, type Command } from 'commander';
import { dnfOfImages, quantizedDnfs } from '../pipeline/dnf-images.js';
import { encodePng } from '../image/encode-node.js';
import type { RgbImage } from '../image/pixels.js';
import type { DdpmUnet } from '../models/ddpm-unet.js';
import type { Gpu } from '../gpu/gpu.js';
import { acquireGpu, releaseGpu } from '../node/acquire.js';
import { collectInputs, IMAGE_EXTENSIONS } from '../node/batch/inputs.js';
import { interruptOnSigint } from '../node/batch/interrupt.js';
import { decodedImageLimits } from '../node/batch/memory.js';
import { OutputClaims } from '../node/batch/claims.js';
import { isCompleteOutput, planOutputs, renamedNote, type PlannedItem } from '../node/batch/plan.js';
import { ItemSkipped, runBatches, type BatchJob, type Prepared } from '../node/batch/runner.js';
import { formatShard, inShard, parseShard, type Shard } from '../node/batch/shard.js';
import { verifyLines, verifyOutputs } from '../node/batch/verify.js';
import { openSafetensors, writeFileAtomic, writeSafetensorsFile } from '../node/files.js';
import { formatSummary, Progress, type JobCounts, type ProgressOptions } from '../node/progress.js';
import { formatSpec } from '../image/perturb-spec.js';
import { addPerturbOptions, decodePerturbed, inputSteps, perturbedLimits, type PerturbOptions } from './perturb-options.js';
import { addUnetOptions, antialiasOption, loadUnet, positiveInt, resolveUnet, type UnetOptions } from './unet-options.js';
import { DNF_FEATURES, type DnfFeature } from '../diffusion/dnf.js';
import { direSteps, direWriter } from './extract-dire.js';

export const DNF_FORMATS = ['png', 'safetensors'] as const;
export type DnfFormat = (typeof DNF_FORMATS)[number];

/** What extract computes: a DNF feature, or DIRE. */
export type ExtractFeature = DnfFeature | 'dire';
export const EXTRACT_FEATURES: readonly ExtractFeature[] = [...DNF_FEATURES, 'dire'];

export interface ExtractOptions extends Omit<UnetOptions, 'feature'>, PerturbOptions {
  feature: ExtractFeature;
  /** The output folder. */
  output: string;
  format: DnfFormat;
  /** Images per GPU batch (default: the UNet's defaultBatch). */
  batch?: number;
  overwrite: boolean;
  /** Every output keeps its input's extension (a.bmp -> a.bmp.png); without it only clashing names do. */
  keepExt?: boolean;
  /** The GPU backend (--backend of the program). */
  backend?: string;
  /** Only this shard's inputs (--shard). */
  shard?: Shard;
}

export interface ExtractHooks {
  /** Where and how often progress is shown (default: stderr). */
  progress?: Omit<ProgressOptions, 'label'>;
  /** Stops the job after the batch in flight (default: the first Ctrl-C). */
  signal?: AbortSignal;
  /** Runs on this GPU (kept open) instead of acquiring one for the job (benchmarks, embedding). */
  gpu?: Gpu;
}

export interface ExtractReport extends JobCounts {
  interrupted: boolean;
}

/** Runs extract over `inputs`; prints progress, failures and the summary on stderr. */
export async function runExtract(inputs: string[], opts: ExtractOptions, hooks: ExtractHooks = {}): Promise<ExtractReport> {
  // DIRE checks its K as a DNF inversion would (the schedule must reach it); 0 means DIRE's 20.
  const setup = await resolveUnet(opts.feature === 'dire' ? { ...opts, feature: 'first', steps: direSteps(opts.steps) } : { ...opts, feature: opts.feature });
  const unetPath = setup.path;
  const items = await collectInputs(inputs, IMAGE_EXTENSIONS, { exclude: [opts.output] });
  const shard = opts.shard;
  const select = shard ? (item: { rel: string }) => inShard(item.rel, shard) : undefined;
  const plan = await planOutputs(items, opts.output, opts.format, { overwrite: opts.overwrite, keepExt: opts.keepExt, select });
  const progressOptions = { ...hooks.progress, label: 'extract' };
  const say = (text: string) => (progressOptions.sink ?? process.stderr).write(`${text}\n`);
  /** The summary, naming the shard: 'extract: shard 2/4: 25 of 100 inputs; 25 done, ...'. */
  const summary = (report: ExtractReport) => {
    const text = formatSummary('extract', report);
    if (!shard) return text;
    const mine = plan.todo.length + plan.skipped.length;
    return text.replace(/^extract: /, `extract: shard ${formatShard(shard)}: ${mine} of ${items.length} inputs; `);
  };
  const note = opts.keepExt ? null : renamedNote(plan.renamed);
  if (note) say(`extract: ${note}`);
  if (plan.todo.length === 0) {
    const report = { done: 0, skipped: plan.skipped.length, failed: 0, remaining: 0, elapsedMs: 0, interrupted: false };
    say(summary(report));
    return report;
  }

  if (setup.note) say(`extract: ${setup.note}`);
  const gpu = hooks.gpu ?? (await acquireGpu({ backend: opts.backend }));
  let unet: DdpmUnet | undefined;
  try {
    unet = await loadUnet(gpu, setup);
    const batchSize = opts.batch ?? unet.defaultBatch;
    say(`extract: ${plan.todo.length} to do, ${plan.skipped.length} already done; batch ${batchSize}, ${gpu.describe().backend}, ${basename(unetPath)}`);

    const progress = new Progress(plan.todo.length, progressOptions);
    const interrupt = hooks.signal ? null : interruptOnSigint((line) => progress.message(line), 'extract');
    const claims = new OutputClaims(opts.overwrite ? async () => false : isCompleteOutput); // --overwrite redoes finished outputs
    const stages = dnfWriter(unet, opts, unetPath, claims);
    let outcome;
    try {
      outcome = await runBatches({
        items: plan.todo,
        batchSize,
        name: (item) => item.path,
        prepare: async (item) => {
          const claim = await claims.take(item.output);
          if (claim !== 'claimed') throw new ItemSkipped(claim);
          return decodePerturbed(item.path, inputSteps(opts));
        },
        ...perturbedLimits(decodedImageLimits((item: PlannedItem) => item.path), inputSteps(opts)),
        ...stages,
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
    say(summary(report));
    return report;
  } finally {
    unet?.dispose();
    if (!hooks.gpu) await releaseGpu(gpu);
  }
}

/**
 * `--verify`: whether every output of `inputs` (this shard's with opts.shard) exists complete in
 * opts.output; prints one line per missing or incomplete output (capped) and the totals. Needs no
 * model: the UNet options are not looked at.
 */
export async function runVerify(
  inputs: string[],
  opts: Pick<ExtractOptions, 'output' | 'format' | 'keepExt' | 'shard'>,
  sink: { write(text: string): unknown } = process.stderr,
): Promise<boolean> {
  const items = await collectInputs(inputs, IMAGE_EXTENSIONS, { exclude: [opts.output] });
  const shard = opts.shard;
  const report = await verifyOutputs(items, opts.output, opts.format, {
    keepExt: opts.keepExt,
    select: shard ? (item) => inShard(item.rel, shard) : undefined,
  });
  const label = shard ? `extract: shard ${formatShard(shard)}` : 'extract';
  for (const line of verifyLines(label, report)) sink.write(`${line}\n`);
  return report.missing.length === 0 && report.incomplete.length === 0;
}

/**
 * extract's two batch stages: processBatch computes the DNFs of a batch of decoded images on the
 * GPU and reads them back; finishBatch encodes and writes each to its output (and releases its
 * claim, if any), while the runner has the GPU on the next batch. DIRE runs as one stage. Also
 * `dnf worker`'s (src/node/queue/worker.ts), without claims.
 */
export function dnfWriter(unet: DdpmUnet, opts: Pick<ExtractOptions, 'format' | 'steps' | 'feature' | 'antialias' | 'perturb' | 'equalize'>, unetPath: string, claims?: OutputClaims): ExtractStages {
  const feature = opts.feature;
  if (feature === 'dire') return { processBatch: direWriter(unet, opts, unetPath, claims), finishBatch: async (_, written) => written as string[] };
  const dnfOpts = { ...opts, feature };
  const size = unet.config.resolution;
  const per = 3 * size * size;
  const metadata = (item: PlannedItem) => ({
    source: item.rel, unet: basename(unetPath), steps: String(opts.steps), feature: opts.feature, antialias: String(opts.antialias),
    ...(inputSteps(opts).length ? { perturb: formatSpec(inputSteps(opts)) } : {}),
  });
  const write = async (item: PlannedItem, dnf: RgbImage | Float32Array): Promise<string> => {
    if (dnf instanceof Float32Array) await writeSafetensorsFile(item.output, [{ name: 'dnf', dtype: 'F32', shape: [3, size, size], data: dnf }], metadata(item));
    else await writeFileAtomic(item.output, [await encodePng(dnf)]);
    await claims?.release(item.output);
    return item.output;
  };
  return {
    processBatch: async (entries): Promise<ExtractComputed[]> => {
      const images = entries.map((e) => e.data);
      if (opts.format === 'png') return quantizedDnfs(unet, images, dnfOpts);
      const dnf = dnfOfImages(unet, images, dnfOpts);
      try {
        const all = await dnf.read();
        return entries.map((_, i) => all.subarray(i * per, (i + 1) * per));
      } finally {
        dnf.dispose();
      }
    },
    // One item's failed write fails that item alone.
    finishBatch: (items, dnfs) => Promise.all(items.map(async (item, i) => {
      const dnf = dnfs[i];
      return typeof dnf === 'string' ? dnf : write(item, dnf).catch((e: unknown) => (e instanceof Error ? e : new Error(String(e))));
    })),
  };
}

/** What extract's processBatch computes per image: a DNF to write (8-bit or float), or the path DIRE's one stage wrote. */
export type ExtractComputed = RgbImage | Float32Array | string;

/** The batch stages of extract and `dnf worker`, each item's result the output path written. */
export type ExtractStages = Required<Pick<BatchJob<PlannedItem, RgbImage, string, ExtractComputed>, 'processBatch' | 'finishBatch'>>;

interface CliOpts extends Omit<ExtractOptions, 'antialias' | 'backend' | 'shard'> {
  antialias?: boolean;
  shard?: string;
  verify?: boolean;
}

export function register(program: Command): void {
  const cmd = program
    .command('extract')
    .description('compute the Diffusion Noise Features of images (files or folders, searched recursively) into an output folder that mirrors them')
    .argument('<inputs...>', `image files or folders (${IMAGE_EXTENSIONS.join(', ')}; hidden files skipped)`)
    .requiredOption('-o, --output <dir>', 'the output folder; each DNF goes to the input\'s relative path with the new extension')
    .addOption(new Option('--format <format>', 'png: the released 8-bit DNF as lossless PNG; safetensors: float32 tensor "dnf" [3, H, W]').choices(DNF_FORMATS).default('png'))
    .option('--batch <n>', 'images per GPU batch (default: what the GPU\'s storage bindings hold, at most 16; on a CPU adapter, what 512 MiB of activations hold)', positiveInt('--batch'));
  addPerturbOptions(addUnetOptions(cmd, EXTRACT_FEATURES), true)
    .option('--overwrite', 'recompute outputs that exist (default: skip them, so a re-run resumes)')
    .option('--keep-ext', 'keep each input\'s extension in its output name (a.bmp -> a.bmp.png); by default only inputs whose names would clash (a.bmp, a.tiff) keep it')
    .option('--shard <I/N|auto>', 'do only shard I of N (0 <= I < N) of the inputs, by a stable hash of each relative path; auto: the index from JOB_COMPLETION_INDEX (Kubernetes Indexed Job; N from auto/N or DNF_SHARD_COUNT) or SLURM_ARRAY_TASK_ID (Slurm array; N from SLURM_ARRAY_TASK_COUNT)')
    .option('--verify', 'compute nothing: check that every output of the inputs (with --shard, of that shard) exists complete in the output folder, list what is missing; exit 0 complete, 1 not (no model or GPU needed)')
    .action(async (inputs: string[], cli: CliOpts) => {
      const shard = cli.shard === undefined ? undefined : parseShard(cli.shard);
      if (cli.verify) {
        const complete = await runVerify(inputs, { output: cli.output, format: cli.format, keepExt: !!cli.keepExt, shard });
        process.exitCode = complete ? 0 : 1;
        return;
      }
      const report = await runExtract(inputs, {
        ...cli,
        shard,
        ...antialiasOption(cli.antialias),
        overwrite: !!cli.overwrite,
        keepExt: !!cli.keepExt,
        backend: program.opts().backend,
      });
      process.exitCode = report.interrupted ? 130 : report.failed > 0 ? 1 : 0;
    });
}
