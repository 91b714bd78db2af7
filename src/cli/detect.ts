/**
 * `dnf detect <inputs...> --classifier FILE`: is each image generated?
 *
 * Images (files and folders, searched recursively) are decoded one by one (a bad file is reported
 * in one line and the job goes on), their DNFs computed in batches by the UNet (as `dnf extract`
 * does; with --from-dnf the inputs are DNF images already, e.g. extract's PNGs), and each DNF,
 * as the 8-bit image extract writes, classified: prob = sigmoid(ResNet(DNF resized to 256 / 255)),
 * or to the input size (and with the antialiasing) that the classifier's safetensors metadata names
 * (src/classifier-metadata.ts: what `dnf train` records).
 * An image is called generated when prob > --threshold. So `detect image` prints exactly what
 * `detect --from-dnf` prints for the PNG that `extract` wrote for that image.
 *
 * Results go to stdout in input order as they come: a table (default), JSON lines
 * ({"file", "prob", "logit", "label"}, or {"file", "error"} for an input that failed) or CSV
 * (file,prob,logit,label,error); logit is the classifier's raw score, prob = sigmoid(logit), for
 * fusing and calibrating scores. Progress, failures and the summary go to stderr (failures also
 * in JSON and CSV rows, not in the table). The classifier is a safetensors file from `dnf convert`, or a PyTorch checkpoint, which
 * is converted in memory. Exit status: 0 all classified, 1 some inputs failed, 2 usage or setup
 * error, 130 Ctrl-C. --perturb SPEC changes each decoded image before its DNF (src/image/perturb.ts).
 */
import { InvalidArgumentError, Option, type Command } from 'commander';
import { DEFAULT_THRESHOLD, labelOf, type Label } from '../pipeline/classify.js';
import type { Gpu } from '../gpu/gpu.js';
import type { RgbImage } from '../image/pixels.js';
import { collectInputs, IMAGE_EXTENSIONS, type InputItem } from '../node/batch/inputs.js';
import { interruptOnSigint } from '../node/batch/interrupt.js';
import { decodedImageLimits } from '../node/batch/memory.js';
import { runBatches, type Prepared } from '../node/batch/runner.js';
import { formatDuration, formatSpeed, Progress, type ProgressOptions } from '../node/progress.js';
import { Detector } from './detector.js';
import { csvLine } from './text-output.js';
import { addPerturbOptions, decodePerturbed, inputSteps, perturbedLimits, refuseOnDnfs, type PerturbOptions } from './perturb-options.js';
import { addUnetOptions, antialiasOption, positiveInt, resolveUnet, type UnetOptions } from './unet-options.js';

export const DETECT_FORMATS = ['table', 'json', 'csv'] as const;
export type DetectFormat = (typeof DETECT_FORMATS)[number];

export interface DetectOptions extends UnetOptions, PerturbOptions {
  /** The classifier file. */
  classifier: string;
  /** The inputs are DNF images (no UNet). */
  fromDnf: boolean;
  threshold: number;
  format: DetectFormat;
  /** Images per GPU batch (default: what the UNet takes, at most 16). */
  batch?: number;
  backend?: string;
}

export interface DetectHooks {
  /** Where results go (default: stdout). */
  out?: { write(text: string): unknown };
  /** Where and how often progress is shown (default: stderr). */
  progress?: Omit<ProgressOptions, 'label'>;
  /** Stops the job after the batch in flight (default: the first Ctrl-C). */
  signal?: AbortSignal;
  /** Runs on this GPU (left open) instead of acquiring one. */
  gpu?: Gpu;
}

export interface DetectResult {
  file: string;
  logit: number;
  prob: number;
  label: Label;
}

export interface DetectReport {
  results: DetectResult[];
  failed: number;
  /** Inputs left undone by an interruption. */
  remaining: number;
  interrupted: boolean;
  elapsedMs: number;
}

/** A table row: fixed widths, since rows are printed batch by batch ('generated' is the longer label). */
const tableRow = (prob: string, label: string, file: string) => `${prob.padStart(6)}  ${label.padEnd(9)}  ${file}`;

/** An input that could not be classified, with its one-line message (without the file name). */
export interface DetectFailure {
  file: string;
  error: string;
}

/** The CSV columns: a failed input leaves prob, logit and label empty and fills error. */
export const DETECT_CSV_HEADER = ['file', 'prob', 'logit', 'label', 'error'] as const;

/** A failure's message without the `<file>: ` that starts it (the row names the file already). */
export function failureText(file: string, message: string): string {
  return message.startsWith(`${file}: `) ? message.slice(file.length + 2) : message;
}

/**
 * Formats results: headers come with the first batch, rows follow as they come, in input order.
 * JSON and CSV, read by programs, carry every input: a failed one as {"file", "error"} (CSV: the
 * error column). The table is for people and lists classified inputs only: failures are the
 * one-line messages on stderr, which a terminal shows beside it.
 */
function resultWriter(format: DetectFormat, out: { write(text: string): unknown }) {
  let first = true;
  return (rows: Array<DetectResult | DetectFailure>) => {
    const lines: string[] = [];
    if (format === 'json') {
      lines.push(...rows.map((r) => JSON.stringify('error' in r ? { file: r.file, error: r.error } : { file: r.file, prob: r.prob, logit: r.logit, label: r.label })));
    } else if (format === 'csv') {
      if (first) lines.push(csvLine(DETECT_CSV_HEADER));
      lines.push(...rows.map((r) => csvLine('error' in r ? [r.file, null, null, null, r.error] : [r.file, r.prob, r.logit, r.label, null])));
    } else {
      if (first) lines.push(tableRow('prob', 'label', 'file'));
      for (const r of rows) if (!('error' in r)) lines.push(tableRow(r.prob.toFixed(4), r.label, r.file));
    }
    first = false;
    if (lines.length) out.write(lines.join('\n') + '\n');
  };
}

/** Runs detect over `inputs`; results on hooks.out, progress, failures and the summary on stderr. */
export async function runDetect(inputs: string[], opts: DetectOptions, hooks: DetectHooks = {}): Promise<DetectReport> {
  refuseOnDnfs(opts, opts.fromDnf, 'with --from-dnf');
  const setup = opts.fromDnf ? null : await resolveUnet(opts);
  const items = await collectInputs(inputs, IMAGE_EXTENSIONS);
  const progressOptions = { ...hooks.progress, label: 'detect' };
  const say = (text: string) => (progressOptions.sink ?? process.stderr).write(`detect: ${text}\n`);
  const detector = await Detector.open({ classifier: opts.classifier, unet: setup, dnf: opts, backend: opts.backend, batch: opts.batch, gpu: hooks.gpu, say });
  try {
    const batchSize = detector.batchSize();
    say(`${items.length} images; batch ${batchSize}, ${detector.describe()}`);
    const progress = new Progress(items.length, progressOptions);
    const interrupt = hooks.signal ? null : interruptOnSigint((line) => progress.message(line), 'detect');
    const write = resultWriter(opts.format, hooks.out ?? process.stdout);
    let outcome;
    try {
      outcome = await runBatches({
        items,
        batchSize,
        name: (item: InputItem) => item.path,
        prepare: (item) => decodePerturbed(item.path, inputSteps(opts)),
        ...perturbedLimits(decodedImageLimits((item: InputItem) => item.path), inputSteps(opts)),
        processBatch: async (entries: Prepared<InputItem, RgbImage>[]) => {
          const images = entries.map((e) => e.data);
          const verdicts = await detector.classify(opts.fromDnf ? images : await detector.dnfs(images));
          return verdicts.map((v, i): DetectResult => ({ file: entries[i].item.path, logit: v.logit, prob: v.prob, label: labelOf(v.prob, opts.threshold) }));
        },
        settled: (ends) => {
          progress.finish(); // clears a progress bar before results reach a shared terminal
          write(ends.map((e) => e.failure ? { file: e.item.path, error: failureText(e.item.path, e.failure.message) } : e.result));
        },
        signal: hooks.signal ?? interrupt!.signal,
        progress,
      });
    } finally {
      interrupt?.dispose();
      progress.finish();
    }
    const results = outcome.done.map((d) => d.result);
    const report: DetectReport = { results, failed: outcome.failed.length, remaining: outcome.remaining, interrupted: outcome.interrupted, elapsedMs: progress.elapsedMs };
    say(summary(report, opts.threshold));
    return report;
  } finally {
    await detector.dispose();
  }
}

/** 'detect: 10 classified (3 generated, 7 real at threshold 0.5), 1 failed in 12.0s (0.83 images/s)' */
function summary(r: DetectReport, threshold: number): string {
  const generated = r.results.filter((x) => x.label === 'generated').length;
  const rate = r.results.length / Math.max(1e-3, r.elapsedMs / 1000);
  let text = `${r.results.length} classified (${generated} generated, ${r.results.length - generated} real at threshold ${threshold}), ` +
    `${r.failed} failed in ${formatDuration(r.elapsedMs)} (${formatSpeed(rate)})`;
  if (r.remaining > 0) text += `\ndetect: interrupted with ${r.remaining} left`;
  return text;
}

export const thresholdArg = (v: string): number => {
  const t = Number(v);
  if (v.trim() === '' || !(t >= 0 && t <= 1)) throw new InvalidArgumentError('--threshold must be a number from 0 to 1.');
  return t;
};

interface CliOpts extends Omit<DetectOptions, 'antialias' | 'backend' | 'fromDnf' | 'format'> {
  antialias?: boolean;
  fromDnf?: boolean;
  json?: boolean;
  csv?: boolean;
}

export function register(program: Command): void {
  const cmd = program
    .command('detect')
    .description('tell generated images from real ones: DNF (or a DNF image given) through the classifier, one result per image')
    .argument('<inputs...>', `image files or folders (${IMAGE_EXTENSIONS.join(', ')}; hidden files skipped)`)
    .addOption(new Option('--classifier <file>', 'the classifier: RUN/best.safetensors of `dnf train` (train one on your data: no published DNF classifier exists), safetensors from `dnf convert`, or a PyTorch checkpoint (converted in memory)').env('DNF_CLASSIFIER').makeOptionMandatory())
    .option('--from-dnf', 'the inputs are DNF images (e.g. PNGs from `dnf extract`): no UNet')
    .option('--threshold <p>', 'call an image generated when its probability is above this', thresholdArg, DEFAULT_THRESHOLD)
    .addOption(new Option('--json', 'one JSON object per line: {"file", "prob", "logit", "label"}, or {"file", "error"} for an input that failed').conflicts('csv'))
    .option('--csv', 'CSV with a header line: file,prob,logit,label,error (error: why that input failed)')
    .option('--batch <n>', 'images per GPU batch (default: what the GPU\'s storage bindings hold, at most 16; on a CPU adapter, what 512 MiB of activations hold)', positiveInt('--batch'));
  addPerturbOptions(addUnetOptions(cmd), false).action(async (inputs: string[], cli: CliOpts) => {
    const report = await runDetect(inputs, {
      ...cli,
      fromDnf: !!cli.fromDnf,
      format: cli.json ? 'json' : cli.csv ? 'csv' : 'table',
      ...antialiasOption(cli.antialias),
      backend: program.opts().backend,
    });
    process.exitCode = report.interrupted ? 130 : report.failed > 0 ? 1 : 0;
  });
}
