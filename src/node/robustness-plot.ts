/**
 * The robustness plot of `dnf eval --robustness`: one panel per perturbation kind (JPEG quality,
 * blur sigma, resize factor, crop size on x), a row of panels per metric (accuracy, AP), one
 * line per subset (JPEG quality falls to the right: stronger compression), and each subset's
 * unperturbed value as a dashed rule of its colour. Sweep
 * entries that combine steps (jpeg:75+blur:1) have no single strength and are left to the table.
 *
 * Rendered as curves.ts renders the training curves: a Vega-Lite spec (a plain object tests can
 * inspect) compiled and drawn to an SVG string by vega with no canvas or DOM, lazily imported,
 * deterministic (SVG id counters reset before each render).
 */
import type { TopLevelSpec } from 'vega-lite';
import { renderVegaLiteSvg } from '../plot-svg.js';

/** One measured point: a subset (or 'mean' / 'total') under a perturbation, or unperturbed (kind null). */
export interface RobustnessPoint {
  subset: string;
  kind: string | null;
  strength: number | null;
  acc: number | null;
  ap: number | null;
}

const AXIS_TITLES: Record<string, string> = { jpeg: 'JPEG quality', blur: 'blur sigma (px)', resize: 'resize factor', crop: 'crop size (px)' };

const finite = (v: number | null) => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/** The Vega-Lite spec of the plot. */
export function robustnessSpec(points: readonly RobustnessPoint[], title = 'robustness'): TopLevelSpec {
  const kinds = [...new Set(points.filter((p) => p.kind && p.strength !== null).map((p) => p.kind!))];
  const metrics = [['acc', 'accuracy'], ['ap', 'AP']] as const;
  const long = (pred: (p: RobustnessPoint) => boolean) => points.filter(pred).flatMap((p) =>
    metrics.map(([key, name]) => ({ subset: p.subset, kind: p.kind, strength: p.strength, metric: name, value: finite(p[key]) })));
  const measured = long((p) => p.kind !== null && p.strength !== null);
  const base = long((p) => p.kind === null);
  const panel = (kind: string, metric: string) => ({
    title: `${metric}: ${AXIS_TITLES[kind] ?? kind}`,
    width: 220,
    height: 160,
    layer: [
      {
        data: { values: measured.filter((r) => r.kind === kind && r.metric === metric) },
        mark: { type: 'line', point: true },
        encoding: {
          x: { field: 'strength', type: 'quantitative', title: AXIS_TITLES[kind] ?? kind, scale: { zero: false, reverse: kind === 'jpeg' }, axis: { format: '~g' } },
          y: { field: 'value', type: 'quantitative', title: metric, scale: { domain: [0, 1] } },
          color: { field: 'subset', type: 'nominal', title: 'subset' },
        },
      },
      {
        data: { values: base.filter((r) => r.metric === metric) },
        mark: { type: 'rule', strokeDash: [4, 3], opacity: 0.7 },
        encoding: { y: { field: 'value', type: 'quantitative' }, color: { field: 'subset', type: 'nominal' } },
      },
    ],
  });
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: { text: title, subtitle: 'dashed: unperturbed' },
    vconcat: metrics.map(([, metric]) => ({ hconcat: kinds.map((k) => panel(k, metric)) })),
    resolve: { scale: { color: 'shared' } },
    config: { font: 'sans-serif', background: 'white' },
  } as TopLevelSpec;
}

/** The plot as an SVG document. Same points, same bytes. */
export async function renderRobustnessSvg(points: readonly RobustnessPoint[], title?: string): Promise<string> {
  return renderVegaLiteSvg(robustnessSpec(points, title));
}
