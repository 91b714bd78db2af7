/**
 * Training curves for `dnf train`: RUN_DIR/curves.svg, rewritten after every epoch.
 *
 * Two panels side by side, epochs (integers) on x in both:
 *   1. mean train loss per epoch, line + points. Linear from 0 while the positive losses span at
 *      most two decades; a log scale beyond that, because BCE starts near ln 2 = 0.69 and an
 *      overfitting run reaches 1e-3 and below, where a linear axis flattens everything after the
 *      first few epochs into the floor.
 *   2. validation accuracy, AP, and the real / generated per-class accuracies (dashed), one line
 *      per metric with a legend, y in [0, 1]. A null is a gap in its line (AP is null when the
 *      validation set has one class only).
 * A vertical rule in both panels marks each epoch whose lr differs from the previous epoch's (the
 * reference divides lr by 10 at early stopping), labelled with the new lr.
 *
 * Why vega-lite + vega: a declarative spec is a plain object that tests can inspect
 * (`curvesSpec`), and vega renders it to an SVG string with no canvas and no DOM
 * (View with renderer 'none', then `toSVG()`), the same in Node and in a browser. Both packages
 * are imported lazily, so nothing that merely loads this module (the CLI at startup) pays for
 * them. The output is deterministic: no dates, no random ids, and vega's SVG id counters are reset
 * before each render.
 */
import { renderVegaLiteSvg } from '../plot-svg.js';

/** One finished epoch, as the trainer logs it. */
export interface EpochPoint {
  epoch: number;
  /** Optimiser steps taken by the end of the epoch. */
  step: number;
  /** Learning rate used during the epoch. */
  lr: number;
  /** Mean training loss over the epoch. */
  trainLoss: number;
  /** Validation accuracy at threshold 0.5, or null when not evaluated. */
  valAcc: number | null;
  /** Validation average precision, or null (not evaluated, or one class only). */
  valAp: number | null;
  /** Accuracy on the real / generated validation images, or null when that class is absent. */
  realAcc: number | null;
  fakeAcc: number | null;
}

const WIDTH = 360;
const HEIGHT = 240;
const METRICS = ['accuracy', 'AP', 'real acc', 'fake acc'] as const;
const METRIC_COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd'];
const METRIC_DASH = [[1, 0], [1, 0], [4, 3], [4, 3]];

/** A finite number, else null (NaN and +-Infinity would leak "NaN" into the SVG). */
function finite(v: number | null | undefined): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

/** A short label for a learning rate: 1e-4, 2.5e-5, 0.001 -> 1e-3. */
export function formatLr(lr: number): string {
  if (!Number.isFinite(lr)) return String(lr);
  if (lr === 0) return '0';
  return Number(lr.toPrecision(3)).toExponential().replace('e+', 'e');
}

/** Epochs at which the lr differs from the previous epoch's (non-finite lrs are skipped), with the new lr. */
export function lrChanges(points: readonly EpochPoint[]): { epoch: number; lr: number; label: string }[] {
  const out: { epoch: number; lr: number; label: string }[] = [];
  let prev: number | null = null;
  for (const p of points) {
    const lr = finite(p.lr);
    const epoch = finite(p.epoch);
    if (lr === null || epoch === null) continue;
    if (prev !== null && lr !== prev) out.push({ epoch, lr, label: `lr ${formatLr(lr)}` });
    prev = lr;
  }
  return out;
}

/** True when the loss axis should be logarithmic: the positive losses span more than two decades. */
export function lossUsesLog(points: readonly EpochPoint[]): boolean {
  const pos = points.map((p) => finite(p.trainLoss)).filter((v): v is number => v !== null && v > 0);
  if (pos.length < 2) return false;
  return Math.max(...pos) / Math.min(...pos) > 100;
}

/** The x domain shared by both panels: the epochs' range, at least one epoch wide. */
function epochDomain(points: readonly EpochPoint[]): [number, number] {
  const es = points.map((p) => finite(p.epoch)).filter((v): v is number => v !== null);
  if (es.length === 0) return [0, 1];
  const lo = Math.min(...es);
  const hi = Math.max(...es);
  return [lo, Math.max(hi, lo + 1)];
}

/** The vega-lite spec of the curves (pure: same points, same spec). */
export function curvesSpec(points: readonly EpochPoint[], title = 'dnf train'): object {
  const log = lossUsesLog(points);
  const loss = points
    .map((p) => ({ epoch: finite(p.epoch), loss: finite(p.trainLoss) }))
    .filter((r) => r.epoch !== null)
    .map((r) => ({ ...r, loss: log && r.loss !== null && r.loss <= 0 ? null : r.loss }));
  const val = points.flatMap((p) => {
    const e = finite(p.epoch);
    if (e === null) return [];
    const vs = [p.valAcc, p.valAp, p.realAcc, p.fakeAcc].map(finite);
    return METRICS.map((metric, i) => ({ epoch: e, metric, value: vs[i] }));
  });
  const lr = lrChanges(points);
  // Points shrink as epochs crowd, so that they do not hide the lines (30 px^2 down to 6).
  const size = Math.round(Math.min(30, Math.max(6, (WIDTH / Math.max(1, loss.length)) ** 2 / 2)));
  const x = {
    field: 'epoch',
    type: 'quantitative',
    title: 'epoch',
    scale: { domain: epochDomain(points), nice: false, zero: false },
    axis: { format: 'd', tickMinStep: 1 },
  };
  // Rules and their labels in each panel; y in pixels so they need no y scale.
  const lrLayers = (panel: string) => [
    { name: `${panel}_lr_rule`, data: { name: 'lr' }, mark: { type: 'rule', color: '#888', strokeDash: [2, 2] }, encoding: { x } },
    {
      name: `${panel}_lr_label`,
      data: { name: 'lr' },
      mark: { type: 'text', align: 'left', baseline: 'top', dx: 3, y: 2, fontSize: 10, color: '#555' },
      encoding: { x, text: { field: 'label' } },
    },
  ];
  const legend = { symbolType: 'stroke', symbolStrokeWidth: 2, symbolSize: 300 };
  const valY = { field: 'value', type: 'quantitative', title: 'validation', scale: { domain: [0, 1], nice: false } };
  const color = { field: 'metric', type: 'nominal', title: 'metric', scale: { domain: [...METRICS], range: METRIC_COLORS }, legend };
  const strokeDash = { field: 'metric', type: 'nominal', title: 'metric', scale: { domain: [...METRICS], range: METRIC_DASH }, legend };
  const lossY = {
    field: 'loss',
    type: 'quantitative',
    title: log ? 'mean train loss (log)' : 'mean train loss',
    scale: log ? { type: 'log' } : { zero: true, ...(loss.some((r) => r.loss !== null) ? {} : { domain: [0, 1] }) },
  };
  const spec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: title },
    datasets: { loss, val, lr },
    config: { view: { stroke: '#ddd' } },
    spacing: 40,
    hconcat: [
      {
        width: WIDTH,
        height: HEIGHT,
        layer: [
          { name: 'loss_line', data: { name: 'loss' }, mark: { type: 'line', invalid: 'break-paths-show-domains' }, encoding: { x, y: lossY } },
          { name: 'loss_point', data: { name: 'loss' }, mark: { type: 'point', filled: true, opacity: 1, size }, encoding: { x, y: lossY } },
          ...lrLayers('loss'),
        ],
      },
      {
        width: WIDTH,
        height: HEIGHT,
        layer: [
          { name: 'val_line', data: { name: 'val' }, mark: { type: 'line', invalid: 'break-paths-show-domains' }, encoding: { x, y: valY, color, strokeDash } },
          // Points too, so that a value between two gaps still shows (the legend merges with the lines').
          { name: 'val_point', data: { name: 'val' }, mark: { type: 'point', filled: true, opacity: 1, size }, encoding: { x, y: valY, color } },
          ...lrLayers('val'),
        ],
      },
    ],
  };
  return spec;
}

/** The curves as an SVG document (a string starting with `<svg`). Same points, same bytes. */
export async function renderCurvesSvg(points: readonly EpochPoint[], title?: string): Promise<string> {
  return renderVegaLiteSvg(curvesSpec(points, title));
}
