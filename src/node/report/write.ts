/**
 * `dnf eval --report DIR`: renders the curves of every subset and of all images pooled, the
 * thumbnails of the most confident mistakes, and writes DIR/report.html atomically (a temp file
 * renamed: an interrupted run leaves the previous report or none, never half a page). The page
 * itself: src/node/report/html.ts.
 */
import { join } from 'node:path';
import { ranking } from '../../metrics-roc.js';
import { writeFileAtomic } from '../files.js';
import { renderVegaLiteSvg } from '../../plot-svg.js';
import { curvesSpec } from './curves.js';
import { reportHtml, type CurvesFigure, type ReportRow, type RobustnessSection } from './html.js';
import type { MistakeCollector } from './mistakes.js';

export const REPORT_FILE = 'report.html';

export interface EvalReportInput {
  title: string;
  /** The test root: file names are shown relative to it. */
  root?: string;
  facts: ReadonlyArray<readonly [string, string]>;
  rows: readonly ReportRow[];
  /** Every classified image; the curves are drawn per subset (in `subsets` order) and pooled. */
  predictions: ReadonlyArray<{ subset: string; label: 0 | 1; prob: number }>;
  subsets: readonly string[];
  mistakes: MistakeCollector | null;
  failures: ReadonlyArray<{ file: string; error: string }>;
  /** The format check's findings (undefined: not checked). */
  formatFindings?: readonly string[];
  robustness?: RobustnessSection;
}

/** The curves of one set of predictions, or the reason it has none. */
async function figure(name: string, preds: EvalReportInput['predictions'], row: ReportRow | undefined): Promise<CurvesFigure> {
  const r = ranking(preds.map((p) => p.label), preds.map((p) => p.prob));
  const spec = curvesSpec(name, r, row?.auc ?? null, row?.ap ?? null);
  if (!spec) return { name, svg: null, note: `no curves: ${r.negatives} real and ${r.positives} generated images (both are needed)` };
  return { name, svg: await renderVegaLiteSvg(spec) };
}

/** Writes DIR/report.html; returns its path. */
export async function writeEvalReport(dir: string, input: EvalReportInput): Promise<string> {
  const rowOf = (name: string, kind: ReportRow['kind']) => input.rows.find((r) => r.subset === name && r.kind === kind);
  const curves: CurvesFigure[] = [];
  for (const name of input.subsets) curves.push(await figure(name, input.predictions.filter((p) => p.subset === name), rowOf(name, 'subset')));
  if (input.subsets.length > 1) curves.push(await figure('all images (total)', input.predictions, rowOf('total', 'total')));
  const html = reportHtml({
    title: input.title,
    root: input.root,
    facts: input.facts,
    rows: input.rows,
    curves,
    mistakes: input.mistakes ? await input.mistakes.cards() : null,
    formatFindings: input.formatFindings,
    robustness: input.robustness,
    failures: input.failures,
  });
  const path = join(dir, REPORT_FILE);
  await writeFileAtomic(path, [new TextEncoder().encode(html)]);
  return path;
}
