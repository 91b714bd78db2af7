/**
 * Threshold-free detection metrics (browser-safe), from the ranking of the scores: the ROC and
 * precision-recall curves, ROC-AUC, the TPR at a fixed FPR and the oracle accuracy. Labels are 0
 * (real) and 1 (generated, the positive class); scores are probabilities of being generated.
 *
 * Every metric starts from the operating points of `score >= t` for t running over the distinct
 * scores from high to low (images with equal scores enter together: a tie is one point), after
 * the origin (t above every score: nothing called generated). Each point counts the false
 * positives fp (real images called generated) and true positives tp; FPR = fp / reals and
 * TPR = tp / fakes. This is sklearn's `roc_curve(y, s, drop_intermediate=False)`.
 *
 * - ROC-AUC: sklearn's `roc_auc_score`, the trapezoidal area under that curve. Computed here in
 *   counts, as the Mann-Whitney statistic: the fraction of (real, generated) pairs the scores
 *   order rightly, a tied pair counting one half; the one division is at the end.
 * - TPR at FPR x (x = 1%, 5%): the highest TPR of any operating point whose FPR is at most x,
 *   i.e. the ROC curve's TPR at the largest FPR <= x, without interpolation: a rate some
 *   threshold actually reaches on these images.
 * - Oracle accuracy: the best plain accuracy (correct / images) of any threshold, chosen on the
 *   very images it is measured on, as UniversalFakeDetect reports its "best threshold" accuracy:
 *   optimistic by construction, a bound on what a threshold could do, not a result. Their
 *   validate.py searches `score >= t` over the scores and then reports the accuracy of
 *   `score > t` at the threshold found (which moves the images scoring exactly t to real), and
 *   takes a midpoint when the first half of its arrays is below the second; here the maximum is
 *   taken over every cut of the ranking, so the value does not depend on the images' order and
 *   is never below theirs (on the goldens: equal on 350 images with ties, 1/n above on 2000
 *   distinct scores, far above where the halves shortcut misfires). The threshold reported is the highest score called real by the best cut (the first,
 *   i.e. highest, when several tie), so `score > threshold` reproduces it; null when the best
 *   cut calls every image generated.
 * - PR curve: sklearn's `precision_recall_curve`, the points AP sums over (src/metrics.ts).
 * All are undefined (null) unless both labels occur: a one-class subset has no ROC curve.
 */
import { checkScores } from './metrics.js';

/** The operating points, origin first: thresholds descending, fp and tp cumulative counts. */
export interface Ranking {
  /** Real (negative) and generated (positive) images. */
  negatives: number;
  positives: number;
  /** thresholds[0] is +Infinity (the origin); then the distinct scores, descending. */
  thresholds: number[];
  fp: number[];
  tp: number[];
}

/** The operating points of `score >= t` over the distinct scores (with the origin). */
export function ranking(labels: ArrayLike<number>, scores: ArrayLike<number>): Ranking {
  checkScores(labels, scores);
  const n = labels.length;
  // Descending; a comparison rather than a difference, so that infinite scores sort too.
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => (scores[a] > scores[b] ? -1 : scores[a] < scores[b] ? 1 : 0));
  const r: Ranking = { negatives: 0, positives: 0, thresholds: [Infinity], fp: [0], tp: [0] };
  let tp = 0;
  let fp = 0;
  for (let k = 0; k < n; k++) {
    const i = order[k];
    if (labels[i] === 1) tp++;
    else fp++;
    if (k + 1 < n && scores[order[k + 1]] === scores[i]) continue; // a tie: one point
    r.thresholds.push(scores[i]);
    r.fp.push(fp);
    r.tp.push(tp);
  }
  r.negatives = fp;
  r.positives = tp;
  return r;
}

const bothLabels = (r: Ranking) => r.negatives > 0 && r.positives > 0;

/** sklearn's roc_curve(drop_intermediate=False): FPR, TPR and thresholds (the first +Infinity); null unless both labels occur. */
export function rocCurve(r: Ranking): { fpr: number[]; tpr: number[]; thresholds: number[] } | null {
  if (!bothLabels(r)) return null;
  return { fpr: r.fp.map((f) => f / r.negatives), tpr: r.tp.map((t) => t / r.positives), thresholds: [...r.thresholds] };
}

/**
 * sklearn's precision_recall_curve (1.2): one point per distinct score from the lowest to the
 * highest (recall decreasing; the points past full recall stay), then the point (recall 0,
 * precision 1) without a threshold. Null unless both labels occur.
 */
export function prCurve(r: Ranking): { precision: number[]; recall: number[]; thresholds: number[] } | null {
  if (!bothLabels(r)) return null;
  const out = { precision: [] as number[], recall: [] as number[], thresholds: [] as number[] };
  for (let k = r.tp.length - 1; k >= 1; k--) {
    out.precision.push(r.tp[k] / (r.tp[k] + r.fp[k]));
    out.recall.push(r.tp[k] / r.positives);
    out.thresholds.push(r.thresholds[k]);
  }
  out.precision.push(1);
  out.recall.push(0);
  return out;
}

/** ROC-AUC (sklearn's roc_auc_score): rightly ordered (real, generated) pairs, ties one half, over all pairs. */
export function rocAuc(r: Ranking): number | null {
  if (!bothLabels(r)) return null;
  let pairs = 0; // twice the count, so that it stays an integer
  for (let k = 1; k < r.fp.length; k++) pairs += (r.fp[k] - r.fp[k - 1]) * (r.tp[k] + r.tp[k - 1]);
  return pairs / (2 * r.negatives * r.positives);
}

/** The highest TPR of an operating point whose FPR is at most `maxFpr`; null unless both labels occur. */
export function tprAtFpr(r: Ranking, maxFpr: number): number | null {
  if (!bothLabels(r)) return null;
  let best = 0;
  for (let k = 0; k < r.fp.length && r.fp[k] / r.negatives <= maxFpr; k++) best = r.tp[k];
  return best / r.positives;
}

/** The oracle accuracy and the threshold reaching it (see the header); null unless both labels occur. */
export function oracleAccuracy(r: Ranking): { acc: number; threshold: number | null } | null {
  if (!bothLabels(r)) return null;
  const n = r.negatives + r.positives;
  let bestRight = -1;
  let bestK = 0;
  for (let k = 0; k < r.fp.length; k++) {
    const right = r.tp[k] + (r.negatives - r.fp[k]);
    if (right > bestRight) [bestRight, bestK] = [right, k];
  }
  // Cut k calls the scores >= thresholds[k] generated: the highest score called real is the next one.
  return { acc: bestRight / n, threshold: bestK + 1 < r.thresholds.length ? r.thresholds[bestK + 1] : null };
}
