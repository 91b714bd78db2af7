/**
 * `dnf eval <root> --robustness "jpeg:95,75,50 blur:1,2 resize:0.5"`: the evaluation once under
 * each perturbation of the sweep (src/image/perturb-spec.ts), each run exactly `dnf eval
 * --perturb P`, then once as the images are (with --equalize, if given; with --report, this run
 * writes the report, the robustness plot in it). With --cache, each
 * perturbation's DNFs are kept in their own subfolder (cacheName: DIR/jpeg-75/...), so a
 * re-run computes nothing twice. The format-bias check runs once, before the first run.
 * Output: one row per perturbation and subset (then mean and total) with images, accuracy, AP,
 * real and generated accuracy, and ROC-AUC where the metrics give it; a table on stdout (JSON
 * lines with --json), a CSV (default <root>-robustness.csv) and the plot beside it (.svg,
 * src/node/robustness-plot.ts).
 */
import { basename, resolve } from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { DnfError } from '../errors.js';
import { parseSweep, type SweepEntry } from '../image/perturb-spec.js';
import { writeFileAtomic } from '../node/files.js';
import { renderRobustnessSvg, type RobustnessPoint } from '../node/robustness-plot.js';
import { IMAGE_EXTENSIONS } from '../node/batch/inputs.js';
import { findEvalSets } from '../node/eval-layout.js';
import { findFormatBias, type BiasFinding } from '../node/format-bias.js';
import { runEval, type EvalHooks, type EvalOptions, type EvalRow } from './eval.js';
import { csvLine, formatTable } from './text-output.js';

export const robustnessArg = (v: string): SweepEntry[] => {
  try {
    return parseSweep(v);
  } catch (e) {
    throw new InvalidArgumentError(e instanceof Error ? e.message : String(e));
  }
};

/** Adds --robustness to eval's command. */
export function addRobustnessOption(cmd: Command): Command {
  return cmd.option('--robustness <sweep>', 'evaluate again under each perturbation, e.g. "jpeg:95,75,50 blur:1,2 resize:0.5": a row per subset and perturbation, CSV <root>-robustness.csv and plot <root>-robustness.svg (with --cache, DNFs per perturbation in a subfolder)', robustnessArg);
}

/** <root folder name>-robustness.csv in the current folder. */
export const defaultRobustnessCsv = (root: string) => `${basename(resolve(root))}-robustness.csv`;

/** One line of the sweep: an eval row under one perturbation ('none': unperturbed). */
export interface RobustnessRow {
  perturbation: string;
  kind: string | null;
  strength: number | null;
  row: EvalRow;
}

export interface RobustnessReport {
  rows: RobustnessRow[];
  failed: number;
  interrupted: boolean;
  csv: string | null;
  plot: string | null;
  /** The plot's SVG document (for a report page), or null. */
  svg: string | null;
  /** The format-bias findings of the first run. */
  formatBias: BiasFinding[];
}

/** ROC-AUC of a row when the metrics give one (a field `auc`), else null. */
const aucOf = (r: EvalRow): number | null => {
  const v = (r as { auc?: unknown }).auc;
  return typeof v === 'number' ? v : null;
};

const fields = (r: RobustnessRow) => ({
  perturbation: r.perturbation, kind: r.kind, strength: r.strength, subset: r.row.subset, row: r.row.kind, images: r.row.count,
  acc: r.row.acc, ap: r.row.ap, real_acc: r.row.realAcc, fake_acc: r.row.fakeAcc, auc: aucOf(r.row),
});

const percent = (v: number | null) => (v === null ? 'n/a' : (100 * v).toFixed(2));

function tableText(rows: RobustnessRow[]): string {
  const withAuc = rows.some((r) => aucOf(r.row) !== null);
  const head = ['perturbation', 'subset', 'images', 'acc %', 'AP %', 'real acc %', 'fake acc %', ...(withAuc ? ['AUC %'] : [])];
  const body = rows.map((r) => [r.perturbation, r.row.subset, r.row.count === null ? '' : String(r.row.count), percent(r.row.acc), percent(r.row.ap),
    percent(r.row.realAcc), percent(r.row.fakeAcc), ...(withAuc ? [percent(aucOf(r.row))] : [])]);
  return formatTable([head, ...body], head.map((_, i) => i >= 2)).join('\n') + '\n';
}

/** Runs the sweep; `hooks` as runEval's (out gets the combined table). With opts.report, the unperturbed run writes the report, the plot in it. */
export async function runRobustness(root: string, opts: EvalOptions, sweep: SweepEntry[], hooks: EvalHooks = {}, plot?: string | null): Promise<RobustnessReport> {
  if (opts.perturb?.length) throw new DnfError('--robustness evaluates under each perturbation of its sweep: put the --perturb steps into the --robustness list instead');
  if (opts.fromDnf) throw new DnfError('--robustness perturbs source images before their DNF; with --from-dnf the inputs are DNFs already: give the source images');
  const say = (text: string) => (hooks.progress?.sink ?? process.stderr).write(`eval: ${text}\n`);
  // The format check once, before anything is computed.
  const layout = await findEvalSets(root, IMAGE_EXTENSIONS, opts.cache ? [opts.cache] : []);
  const formatBias = await findFormatBias(layout.subsets, opts.equalize);
  for (const f of formatBias) say(`warning: ${f.message}`);
  const title = `robustness: ${basename(resolve(root))}`;
  const pointsOf = (rows: RobustnessRow[]): RobustnessPoint[] => rows.filter((r) => r.row.kind !== 'total') // subsets and their mean
    .map((r) => ({ subset: r.row.subset, kind: r.kind, strength: r.strength, acc: r.row.acc, ap: r.row.ap }));
  // The perturbed runs first, the unperturbed one last: the report it writes (--report) holds the whole plot.
  const runs: Array<{ label: string; entry: SweepEntry | null }> = [...sweep.map((e) => ({ label: e.label, entry: e })), { label: 'none', entry: null }];
  const perturbed: RobustnessRow[] = [];
  let base: RobustnessRow[] = [];
  let svg: string | null = null;
  let failed = 0;
  for (const [i, run] of runs.entries()) {
    say(`robustness ${i + 1} of ${runs.length}: ${run.label === 'none' ? 'unperturbed' : run.label}`);
    const rowsOf = (rows: EvalRow[]) => rows.map((row) => ({ perturbation: run.label, kind: run.entry?.kind ?? null, strength: run.entry?.strength ?? null, row }));
    const robustness = async (rows: EvalRow[]) => {
      svg = await renderRobustnessSvg(pointsOf([...rowsOf(rows), ...perturbed]), title);
      return { svg, caption: `accuracy and AP under ${sweep.map((e) => e.label).join(', ')}; dashed: unperturbed` };
    };
    const last = run.entry === null;
    const report = await runEval(root, { ...opts, perturb: run.entry?.spec, csv: null, json: false, predictions: undefined, report: last ? opts.report : undefined },
      { ...hooks, out: { write: () => true }, formatBias, robustness: last ? robustness : undefined });
    failed += report.failed;
    if (report.interrupted) return { rows: [...base, ...perturbed], failed, interrupted: true, csv: null, plot: null, svg: null, formatBias };
    if (last) base = rowsOf(report.rows);
    else perturbed.push(...rowsOf(report.rows));
  }
  const rows = [...base, ...perturbed];
  (hooks.out ?? process.stdout).write(opts.json ? rows.map((r) => JSON.stringify(fields(r)) + '\n').join('') : tableText(rows));
  const enc = new TextEncoder();
  if (opts.csv && rows.length) await writeFileAtomic(opts.csv, [enc.encode([csvLine(Object.keys(fields(rows[0]))), ...rows.map((r) => csvLine(Object.values(fields(r))))].join('\n') + '\n')]);
  const plotPath = plot === undefined ? (opts.csv ? opts.csv.replace(/(\.csv)?$/i, '.svg') : defaultRobustnessCsv(root).replace(/\.csv$/, '.svg')) : plot;
  if (rows.length) {
    svg ??= await renderRobustnessSvg(pointsOf(rows), title);
    if (plotPath) await writeFileAtomic(plotPath, [enc.encode(svg)]);
  }
  say(`robustness: ${runs.length} runs${opts.csv ? `; wrote ${opts.csv}` : ''}${plotPath ? `${opts.csv ? ',' : '; wrote'} ${plotPath}` : ''}`);
  return { rows, failed, interrupted: false, csv: opts.csv, plot: plotPath, svg, formatBias };
}
