/**
 * The report's ROC and precision-recall curves of one set of images, side by side, as an SVG
 * string: Vega-Lite specs rendered by vega in Node without a DOM or canvas (renderer 'none',
 * `toSVG()`), as src/train/curves.ts draws the training curves. Deterministic: vega's SVG id
 * counters are reset before each render (the report embeds each SVG as its own image, so equal ids
 * in two SVGs cannot clash).
 *
 * ROC: FPR against TPR from src/metrics-roc.ts, connected in threshold order (a tie is one
 * diagonal segment, whose area is what AUC counts), with the chance diagonal dashed; the points
 * where both counts' second differences vanish (inner points of a run of only real or only
 * generated images) are dropped, sklearn's roc_curve(drop_intermediate=True) rule, which leaves
 * the drawn path unchanged. PR: recall against precision as the step function average precision sums
 * (each precision held from its recall down to the next point's), with the share of generated
 * images (a random ranking's precision) dashed.
 */
import { prCurve, rocCurve, type Ranking } from '../../metrics-roc.js';

const SIZE = 200;

/** The indices of the points kept: the ends, and those where a second difference of the counts is not zero. */
export function cornerPoints(fp: readonly number[], tp: readonly number[]): number[] {
  const keep: number[] = [];
  for (let k = 0; k < fp.length; k++) {
    const ends = k === 0 || k === fp.length - 1;
    if (ends || fp[k + 1] - 2 * fp[k] + fp[k - 1] !== 0 || tp[k + 1] - 2 * tp[k] + tp[k - 1] !== 0) keep.push(k);
  }
  return keep;
}

/** The Vega-Lite spec of one set's curves, or null when the set lacks a label (no curves exist). */
export function curvesSpec(title: string, r: Ranking, auc: number | null, ap: number | null): object | null {
  const roc = rocCurve(r);
  const pr = prCurve(r);
  if (!roc || !pr) return null;
  const rocData = cornerPoints(r.fp, r.tp).map((k, i) => ({ i, fpr: roc.fpr[k], tpr: roc.tpr[k] }));
  const prData = pr.recall.map((recall, i) => ({ i, recall, precision: pr.precision[i] }));
  const share = r.positives / (r.positives + r.negatives);
  const unit = (field: string, name: string) => ({ field, type: 'quantitative', title: name, scale: { domain: [0, 1], nice: false } });
  const pct = (v: number | null) => (v === null ? 'n/a' : `${(100 * v).toFixed(2)}%`);
  const line = { type: 'line', color: '#1f77b4', strokeWidth: 2, clip: true };
  const chance = { type: 'rule', color: '#999', strokeDash: [4, 3] };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: title, anchor: 'start' },
    config: { view: { stroke: '#ddd' }, title: { fontSize: 13 } },
    spacing: 30,
    hconcat: [
      {
        title: { text: `ROC, AUC ${pct(auc)}`, fontSize: 11, fontWeight: 'normal' },
        width: SIZE,
        height: SIZE,
        layer: [
          { data: { values: [{ x: 0, y: 0, x2: 1, y2: 1 }] }, mark: chance, encoding: { x: unit('x', 'false positive rate'), y: unit('y', 'true positive rate'), x2: { field: 'x2' }, y2: { field: 'y2' } } },
          { data: { values: rocData }, mark: line, encoding: { x: unit('fpr', 'false positive rate'), y: unit('tpr', 'true positive rate'), order: { field: 'i' } } },
        ],
      },
      {
        title: { text: `precision-recall, AP ${pct(ap)}`, fontSize: 11, fontWeight: 'normal' },
        width: SIZE,
        height: SIZE,
        layer: [
          { data: { values: [{ y: share }] }, mark: chance, encoding: { y: unit('y', 'precision') } },
          { data: { values: prData }, mark: { ...line, interpolate: 'step-after' }, encoding: { x: unit('recall', 'recall'), y: unit('precision', 'precision'), order: { field: 'i' } } },
        ],
      },
    ],
  };
}

