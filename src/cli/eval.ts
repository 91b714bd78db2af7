/**
 * `dnf eval <root> --classifier FILE`: the evaluation protocol of reference section 5 on a test
 * root (layouts in src/node/eval-layout.ts: CNNDetection's <subset>/0_real|1_fake, nested class
 * folders allowed, or GenImage's nature|ai).
 *
 * Every image is classified as `dnf detect` does (DNF computed by the UNet, or read from the DNF
 * images themselves with --from-dnf). With --cache DIR, DNF PNGs are kept at DIR/<path relative to
 * the root>.png, the layout `dnf extract <root> -o DIR` writes, and reused when present (the cache
 * is keyed by path only: use one folder per UNet and DNF setting). Per subset, over all subsets
 * averaged ('mean', when there are several) and pooled ('total'): images, real, fake, accuracy at
 * the threshold, average precision (sklearn's), real and fake accuracy (src/metrics.ts), and the
 * threshold-free ROC-AUC, oracle accuracy, TPR at 1% and 5% FPR and calibration error
 * (src/metrics-eval.ts). With --report DIR, also DIR/report.html (src/node/report/).
 * Output: a table on stdout (or JSON lines with --json), and a CSV file: --csv FILE, by default
 * <root folder name>-eval.csv in the current folder (--no-csv: none); with --predictions FILE,
 * one CSV line per image in input order (file, subset, true label, probability, logit, verdict,
 * and for an image that failed its error instead of the scores). Images that fail are
 * reported, left out of the metrics, and make the exit status 1. Ctrl-C stops after the batch in
 * flight (exit 130) without metrics; cached DNFs stay for the next run.
 * Before computing anything, each subset's classes are compared by their file headers (format,
 * JPEG quality, size: src/node/format-bias.ts) and a difference is warned about. --equalize
 * jpeg:Q and --perturb SPEC change every source image before its DNF (src/cli/perturb-options.ts;
 * the cache then lives in a subfolder named by them); --robustness runs a sweep of them
 * (src/cli/robustness.ts).
 */
import { basename, resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { DEFAULT_THRESHOLD } from '../pipeline/classify.js';
import { DnfError } from '../errors.js';
import type { Gpu } from '../gpu/gpu.js';
import { decodeImageFile } from '../image/decode-node.js';
import { encodePng } from '../image/encode-node.js';
import type { RgbImage } from '../image/pixels.js';
import { evalMetrics, meanEvalMetrics, type EvalMetrics } from '../metrics-eval.js';
import { IMAGE_EXTENSIONS } from '../node/batch/inputs.js';
import { interruptOnSigint } from '../node/batch/interrupt.js';
import { decodedImageLimits } from '../node/batch/memory.js';
import { planOutputs } from '../node/batch/plan.js';
import { runBatches, type Prepared } from '../node/batch/runner.js';
import { findEvalSets, type EvalItem } from '../node/eval-layout.js';
import { writeFileAtomic } from '../node/files.js';
import { MISTAKES_PER_KIND, MistakeCollector } from '../node/report/mistakes.js';
import type { RobustnessSection } from '../node/report/html.js';
import { writeEvalReport } from '../node/report/write.js';
import { formatDuration, formatSpeed, Progress, type ProgressOptions } from '../node/progress.js';
import { failureText, thresholdArg } from './detect.js';
import { Detector } from './detector.js';
import { csvLine, formatTable } from './text-output.js';
import type { SweepEntry } from '../image/perturb-spec.js';
import { findFormatBias, type BiasFinding } from '../node/format-bias.js';
import { addPerturbOptions, decodePerturbed, inputSteps, perturbedLimits, refuseOnDnfs, stepsCacheDir, type PerturbOptions } from './perturb-options.js';
import { addRobustnessOption, defaultRobustnessCsv, runRobustness } from './robustness.js';
import { addUnetOptions, antialiasOption, positiveInt, resolveUnet, type UnetOptions } from './unet-options.js';

export interface EvalOptions extends UnetOptions, PerturbOptions {
  classifier: string;
  /** The root holds DNF images (e.g. `dnf extract`'s output of a test root). */
  fromDnf: boolean;
  threshold: number;
  /** JSON lines on stdout instead of the table. */
  json: boolean;
  /** Where the CSV goes; null: no CSV. */
  csv: string | null;
  /** Where the per-image CSV goes, if anywhere. */
  predictions?: string;
  /** Folder of cached DNF PNGs (extract's layout). */
  cache?: string;
  /** Folder for report.html (metrics, curves, most confident mistakes). */
  report?: string;
  batch?: number;
  backend?: string;
}

export interface EvalHooks {
  /** Where the table or JSON goes (default: stdout). */
  out?: { write(text: string): unknown };
  progress?: Omit<ProgressOptions, 'label'>;
  signal?: AbortSignal;
  /** Runs on this GPU (left open) instead of acquiring one. */
  gpu?: Gpu;
  /** Format-bias findings checked and reported already (a robustness sweep checks once): not checked again. */
  formatBias?: BiasFinding[];
  /** The report's robustness section, from this run's rows (a robustness sweep's unperturbed run). */
  robustness?: (rows: EvalRow[]) => Promise<RobustnessSection>;
}

/** One line of the results: a subset, the mean over subsets (no counts) or the pooled total. */
export interface EvalRow extends Omit<EvalMetrics, 'count' | 'real' | 'fake'> {
  subset: string;
  kind: 'subset' | 'mean' | 'total';
  count: number | null;
  real: number | null;
  fake: number | null;
}

export interface EvalReport {
  /** Empty when interrupted. */
  rows: EvalRow[];
  /** Every classified image, in input order. */
  predictions: Prediction[];
  failed: number;
  remaining: number;
  interrupted: boolean;
  /** Subsets whose real and generated files differ in format, JPEG quality or size (src/node/format-bias.ts). */
  formatBias: BiasFinding[];
  elapsedMs: number;
  /** The CSV written, if any. */
  csv: string | null;
  /** The report.html written, if any. */
  html: string | null;
}

/** One classified image: its true label, the classifier's logit and prob = sigmoid(logit). */
export interface Prediction {
  file: string;
  subset: string;
  label: 0 | 1;
  prob: number;
  logit: number;
}

/** An image that failed, with its one-line message (without the file name). */
interface FailedPrediction {
  file: string;
  subset: string;
  label: 0 | 1;
  error: string;
}

const labelName = (label: 0 | 1) => (label === 1 ? 'generated' : 'real');

/** <root folder name>-eval.csv in the current folder. */
export function defaultCsvPath(root: string): string {
  return `${basename(resolve(root))}-eval.csv`;
}

/** An image to classify, and where its DNF PNG is (cached) or goes (--cache). */
interface Work extends EvalItem {
  dnfPath: string | null;
  cached: boolean;
}

/** The file an item's classifier input comes from: its cached DNF, or the image itself. */
const fileOf = (w: Work): string => (w.cached && w.dnfPath ? w.dnfPath : w.path);

async function planWork(items: EvalItem[], opts: EvalOptions): Promise<Work[]> {
  const cacheDir = opts.cache && stepsCacheDir(opts.cache, inputSteps(opts)); // perturbed DNFs: a subfolder per perturbation
  if (!cacheDir) return items.map((it) => ({ ...it, dnfPath: null, cached: opts.fromDnf }));
  // planOutputs refuses clashing names, removes a killed run's temp files and finds what exists.
  // Clashing names keep their extension there, as extract names them.
  const plan = await planOutputs(items, cacheDir, 'png');
  const outputOf = new Map([...plan.todo, ...plan.skipped].map((p) => [p.path, p.output]));
  const cached = new Set(plan.skipped.map((p) => p.output));
  return items.map((it) => {
    const dnfPath = outputOf.get(it.path)!;
    return { ...it, dnfPath, cached: cached.has(dnfPath) };
  });
}

export async function runEval(root: string, opts: EvalOptions, hooks: EvalHooks = {}): Promise<EvalReport> {
  if (opts.fromDnf && opts.cache) throw new DnfError('--cache keeps DNFs computed from images; with --from-dnf the inputs are DNFs already: drop one of the two');
  const progressOptions = { ...hooks.progress, label: 'eval' };
  const say = (text: string) => (progressOptions.sink ?? process.stderr).write(`eval: ${text}\n`);
  const layout = await findEvalSets(root, IMAGE_EXTENSIONS, opts.cache ? [opts.cache] : []);
  if (layout.outside) say(`left out ${layout.outside} images outside 0_real/1_fake/nature/ai folders`);
  for (const dir of layout.skippedTrain) say(`skipped the training split ${dir}`);
  refuseOnDnfs(opts, opts.fromDnf, 'with --from-dnf');
  const formatBias = hooks.formatBias ?? (opts.fromDnf ? [] : await findFormatBias(layout.subsets, opts.equalize));
  if (!hooks.formatBias) for (const f of formatBias) say(`warning: ${f.message}`);
  const work = await planWork(layout.subsets.flatMap((s) => s.items), opts);
  const cachedCount = work.filter((w) => w.cached).length;
  const setup = work.length > cachedCount ? await resolveUnet(opts) : null;

  const detector = await Detector.open({ classifier: opts.classifier, unet: setup, dnf: opts, backend: opts.backend, batch: opts.batch, gpu: hooks.gpu, say });
  try {
    const batchSize = detector.batchSize();
    const cacheNote = opts.cache ? ` (${cachedCount} DNFs cached in ${opts.cache})` : '';
    say(`${work.length} images in ${layout.subsets.length} subsets${cacheNote}; batch ${batchSize}, ${detector.describe()}`);
    const mistakes = opts.report ? new MistakeCollector(opts.threshold, MISTAKES_PER_KIND, opts.fromDnf) : null;
    const progress = new Progress(work.length, progressOptions);
    const interrupt = hooks.signal ? null : interruptOnSigint((line) => progress.message(line), 'eval');
    let outcome;
    /** Every image that was tried, in input order, for --predictions. */
    const perImage: Array<Prediction | FailedPrediction> = [];
    try {
      outcome = await runBatches({
        items: work,
        batchSize,
        name: (w: Work) => w.path,
        prepare: (w) => (w.cached ? decodeImageFile(fileOf(w)) : decodePerturbed(w.path, inputSteps(opts))),
        ...perturbedLimits(decodedImageLimits(fileOf), inputSteps(opts)),
        processBatch: (entries) => classifyBatch(detector, entries, mistakes),
        settled: (ends) => {
          for (const { item, result, failure } of ends) {
            const base = { file: item.path, subset: item.subset, label: item.label };
            perImage.push(failure ? { ...base, error: failureText(item.path, failure.message) } : { ...base, ...result! });
          }
        },
        signal: hooks.signal ?? interrupt!.signal,
        progress,
      });
    } finally {
      interrupt?.dispose();
      progress.finish();
    }
    const predictions = outcome.done.map(({ item, result }): Prediction => ({ file: item.path, subset: item.subset, label: item.label, ...result }));
    const report: EvalReport = {
      rows: [], predictions, failed: outcome.failed.length, remaining: outcome.remaining, interrupted: outcome.interrupted, elapsedMs: progress.elapsedMs, csv: null, html: null, formatBias,
    };
    if (!report.interrupted && predictions.length) {
      report.rows = evalRows(layout.subsets.map((s) => s.name), predictions, opts.threshold);
      (hooks.out ?? process.stdout).write(opts.json ? jsonLines(report.rows) : tableText(report.rows));
      if (opts.csv) {
        await writeFileAtomic(opts.csv, [new TextEncoder().encode(csvText(report.rows))]);
        report.csv = opts.csv;
      }
      if (opts.report) {
        report.html = await writeEvalReport(opts.report, {
          title: `dnf eval: ${basename(resolve(root))}`,
          root,
          facts: [
            ['root', resolve(root)], ['classifier', opts.classifier], ['threshold', String(opts.threshold)], ['run', detector.describe()],
            ['images', `${predictions.length} classified in ${layout.subsets.length} subsets, ${report.failed} failed`],
          ],
          rows: report.rows,
          predictions,
          subsets: layout.subsets.map((s) => s.name),
          mistakes,
          failures: perImage.filter((p): p is FailedPrediction => 'error' in p),
          formatFindings: opts.fromDnf ? undefined : formatBias.map((f) => f.message),
          robustness: await hooks.robustness?.(report.rows),
        });
      }
    }
    if (opts.predictions && predictions.length) {
      await writeFileAtomic(opts.predictions, [new TextEncoder().encode(predictionsCsv(perImage, opts.threshold))]);
    }
    say(summary(report, layout.subsets.length));
    return report;
  } finally {
    await detector.dispose();
  }
}

/** processBatch: DNFs of the images not cached (written to the cache, if any), then the classifier; mistakes offered to the report's collector. */
async function classifyBatch(detector: Detector, entries: Prepared<Work, RgbImage>[], mistakes: MistakeCollector | null): Promise<Array<{ prob: number; logit: number }>> {
  const todo = entries.filter((e) => !e.item.cached);
  const fresh = todo.length ? await detector.dnfs(todo.map((e) => e.data)) : [];
  await Promise.all(todo.map(async (e, i) => {
    if (e.item.dnfPath) await writeFileAtomic(e.item.dnfPath, [await encodePng(fresh[i])]);
  }));
  const dnfs = entries.map((e) => (e.item.cached ? e.data : fresh[todo.indexOf(e)]));
  const verdicts = (await detector.classify(dnfs)).map((v) => ({ prob: v.prob, logit: v.logit }));
  if (mistakes) verdicts.forEach((v, i) => mistakes.offer({ file: entries[i].item.path, subset: entries[i].item.subset, label: entries[i].item.label, prob: v.prob }, dnfs[i]));
  return verdicts;
}

/** One row per subset (in `names` order), then the mean over subsets (when several) and the pooled total. */
export function evalRows(names: string[], predictions: EvalReport['predictions'], threshold: number): EvalRow[] {
  const rowOf = (subset: string, kind: EvalRow['kind'], preds: EvalReport['predictions']): EvalRow =>
    ({ subset, kind, ...evalMetrics(preds.map((p) => p.label), preds.map((p) => p.prob), threshold) });
  const rows = names.map((name) => rowOf(name, 'subset', predictions.filter((p) => p.subset === name)));
  const subsets = rows.map((r) => ({ ...r, count: r.count!, real: r.real!, fake: r.fake! }));
  if (rows.length > 1) rows.push({ subset: 'mean', kind: 'mean', count: null, real: null, fake: null, oracleThreshold: null, ...meanEvalMetrics(subsets) });
  rows.push(rowOf('total', 'total', predictions));
  return rows;
}

const percent = (v: number | null) => (v === null ? 'n/a' : (100 * v).toFixed(2));
const count = (v: number | null) => (v === null ? '' : String(v));

/**
 * Two tables, each within 80 columns for short subset names: the metrics at the threshold, then
 * the threshold-free ones (the JSON and CSV hold both in one row, plus the oracle's threshold).
 */
function tableText(rows: EvalRow[]): string {
  const lines = formatTable(
    [
      ['subset', 'images', 'real', 'fake', 'acc %', 'AP %', 'real acc %', 'fake acc %'],
      ...rows.map((r) => [r.subset, count(r.count), count(r.real), count(r.fake), percent(r.acc), percent(r.ap), percent(r.realAcc), percent(r.fakeAcc)]),
    ],
    [false, true, true, true, true, true, true, true],
  );
  if (rows.some((r) => r.ap === null)) lines.push('AP n/a: average precision needs both real and generated images; accuracies n/a: no images of that kind');
  lines.push('', ...formatTable(
    [
      ['subset', 'AUC %', 'oracle acc %', 'TPR@1%FPR %', 'TPR@5%FPR %', 'ECE %'],
      ...rows.map((r) => [r.subset, percent(r.auc), percent(r.oracleAcc), percent(r.tprAtFpr1), percent(r.tprAtFpr5), percent(r.ece)]),
    ],
    [false, true, true, true, true, true],
  ));
  lines.push(
    'oracle acc: the best accuracy of any threshold, chosen on these same images (optimistic)',
    'TPR@x%FPR: the most generated images caught while at most x% of the real ones are called generated',
    'ECE: expected calibration error (Guo et al. 2017), 10 bins of the predicted class\'s probability',
  );
  if (rows.some((r) => r.auc === null)) lines.push('n/a: AUC, oracle accuracy and TPR need both real and generated images');
  return lines.join('\n') + '\n';
}

/** The fields of a row in JSON and CSV order. */
const fields = (r: EvalRow) => ({
  subset: r.subset, kind: r.kind, images: r.count, real: r.real, fake: r.fake, acc: r.acc, ap: r.ap, real_acc: r.realAcc, fake_acc: r.fakeAcc,
  auc: r.auc, oracle_acc: r.oracleAcc, oracle_threshold: r.oracleThreshold, tpr_at_fpr_1: r.tprAtFpr1, tpr_at_fpr_5: r.tprAtFpr5, ece: r.ece,
});

function jsonLines(rows: EvalRow[]): string {
  return rows.map((r) => JSON.stringify(fields(r)) + '\n').join('');
}

function csvText(rows: EvalRow[]): string {
  return [csvLine(Object.keys(fields(rows[0]))), ...rows.map((r) => csvLine(Object.values(fields(r))))].join('\n') + '\n';
}

/**
 * One line per image tried, in input order: file, subset, true label, P(generated), the logit,
 * verdict at the threshold; an image that failed has empty scores and its error.
 */
function predictionsCsv(rows: Array<Prediction | FailedPrediction>, threshold: number): string {
  const lines = rows.map((p) => 'error' in p
    ? csvLine([p.file, p.subset, labelName(p.label), null, null, null, p.error])
    : csvLine([p.file, p.subset, labelName(p.label), p.prob, p.logit, labelName(p.prob > threshold ? 1 : 0), null]));
  return [csvLine(['file', 'subset', 'label', 'prob', 'logit', 'predicted', 'error']), ...lines].join('\n') + '\n';
}

/** 'eval: 1200 images classified in 5 subsets, 2 failed (left out of the metrics) in 1m20s (15.0 images/s); wrote x-eval.csv' */
function summary(r: EvalReport, subsets: number): string {
  const n = r.predictions.length;
  let text = `${n} images classified in ${subsets} subset${subsets === 1 ? '' : 's'}, ${r.failed} failed${r.failed ? ' (left out of the metrics)' : ''} ` +
    `in ${formatDuration(r.elapsedMs)} (${formatSpeed(n / Math.max(1e-3, r.elapsedMs / 1000))})`;
  if (r.csv) text += `; wrote ${r.csv}`;
  if (r.html) text += `${r.csv ? ' and' : '; wrote'} ${r.html}`;
  if (r.interrupted) text += `\neval: interrupted with ${r.remaining} left, no metrics; run the same command again (with --cache, DNFs done are kept)`;
  else if (!n) text += '\neval: no image could be classified, no metrics';
  return text;
}

interface CliOpts extends Omit<EvalOptions, 'antialias' | 'backend' | 'fromDnf' | 'json' | 'csv'> {
  robustness?: SweepEntry[];
  antialias?: boolean;
  fromDnf?: boolean;
  json?: boolean;
  csv?: string | boolean;
}

export function register(program: Command): void {
  const cmd = program
    .command('eval')
    .description('evaluate the classifier on a test root: accuracy, AP, real and fake accuracy, ROC-AUC, TPR at 1%/5% FPR, calibration error per subset (CNNDetection 0_real/1_fake or GenImage nature/ai layout)')
    .argument('<root>', 'the test root: <root>/<subset>/0_real and 1_fake (class folders may be nested), or <root>/<subset>/.../nature and ai')
    .addOption(new Option('--classifier <file>', 'the classifier: RUN/best.safetensors of `dnf train` (train one on your data: no published DNF classifier exists), safetensors from `dnf convert`, or a PyTorch checkpoint (converted in memory)').env('DNF_CLASSIFIER').makeOptionMandatory())
    .option('--from-dnf', 'the root holds DNF images (e.g. `dnf extract <root> -o DIR` output): no UNet')
    .option('--cache <dir>', 'keep DNF PNGs in this folder (the layout of `dnf extract <root> -o DIR`) and reuse those present')
    .option('--threshold <p>', 'call an image generated when its probability is above this', thresholdArg, DEFAULT_THRESHOLD)
    .option('--json', 'JSON lines on stdout instead of the table: one object per subset, then mean and total')
    .option('--csv <file>', 'write the results as CSV here (default: <root folder name>-eval.csv in the current folder)')
    .option('--no-csv', 'write no CSV file')
    .option('--report <dir>', 'also write DIR/report.html: one self-contained page (opens offline) with the metrics, ROC and PR curves per subset, and the most confident mistakes')
    .option('--predictions <file>', 'also write one CSV line per image: file, subset, label, prob, logit, predicted, error')
    .option('--batch <n>', 'images per GPU batch (default: what the GPU\'s storage bindings hold, at most 16; on a CPU adapter, what 512 MiB of activations hold)', positiveInt('--batch'));
  addRobustnessOption(addPerturbOptions(addUnetOptions(cmd), true)).action(async (root: string, cli: CliOpts) => {
    if (cli.robustness) {
      const csv = cli.csv === false ? null : typeof cli.csv === 'string' ? cli.csv : defaultRobustnessCsv(root);
      const sweep = await runRobustness(root, { ...cli, fromDnf: !!cli.fromDnf, json: !!cli.json, csv, ...antialiasOption(cli.antialias), backend: program.opts().backend }, cli.robustness);
      process.exitCode = sweep.interrupted ? 130 : sweep.failed > 0 ? 1 : 0;
      return;
    }
    const report = await runEval(root, {
      ...cli,
      fromDnf: !!cli.fromDnf,
      json: !!cli.json,
      csv: cli.csv === false ? null : typeof cli.csv === 'string' ? cli.csv : defaultCsvPath(root),
      ...antialiasOption(cli.antialias),
      backend: program.opts().backend,
    });
    process.exitCode = report.interrupted ? 130 : report.failed > 0 || !report.predictions.length ? 1 : 0;
  });
}
