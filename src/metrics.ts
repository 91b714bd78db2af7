/**
 * Detection metrics of the evaluation protocol (reference section 5), browser-safe. Labels are
 * 0 (real) and 1 (generated, the positive class); scores are probabilities of being generated.
 *
 * - accuracy: the fraction of images whose prediction (score > threshold) equals the label:
 *   sklearn's `accuracy_score(y_true, y_pred > threshold)`; real / fake accuracy restrict it to
 *   the images of one label, as CNNDetection's evaluation does.
 * - average precision: sklearn's `average_precision_score(y_true, y_score)`, the sum over the
 *   distinct score thresholds, taken from high to low, of (R_n - R_{n-1}) * P_n, where images with
 *   equal scores enter together (ties are one threshold).
 * A metric over no images is undefined and returned as null. AP is undefined as well when one
 * label is missing, and null here (sklearn warns and reports 0 without generated images, 1
 * without real ones: numbers that measure nothing).
 */

export type BinaryLabel = 0 | 1;

export interface DetectionMetrics {
  /** Images evaluated. */
  count: number;
  /** Of which real (label 0) and generated (label 1). */
  real: number;
  fake: number;
  /** Accuracy at the threshold over all images; null without images. */
  acc: number | null;
  /** Average precision; null unless both labels occur. */
  ap: number | null;
  /** Accuracy over the real images (specificity); null without real images. */
  realAcc: number | null;
  /** Accuracy over the generated images (recall); null without generated images. */
  fakeAcc: number | null;
}

/** Throws unless labels are 0 or 1, no score is NaN and the lengths agree. */
export function checkScores(labels: ArrayLike<number>, scores: ArrayLike<number>): void {
  if (labels.length !== scores.length) throw new Error(`metrics: ${labels.length} labels for ${scores.length} scores`);
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] !== 0 && labels[i] !== 1) throw new Error(`metrics: label ${labels[i]} at ${i} is neither 0 nor 1`);
    if (Number.isNaN(scores[i])) throw new Error(`metrics: score ${i} is NaN`);
  }
}

/** Accuracy of `score > threshold` against the labels, over the images whose label is `only` (all when undefined). */
export function accuracy(labels: ArrayLike<number>, scores: ArrayLike<number>, threshold: number, only?: BinaryLabel): number | null {
  checkScores(labels, scores);
  let n = 0;
  let right = 0;
  for (let i = 0; i < labels.length; i++) {
    if (only !== undefined && labels[i] !== only) continue;
    n++;
    if ((scores[i] > threshold ? 1 : 0) === labels[i]) right++;
  }
  return n ? right / n : null;
}

/**
 * sklearn's average_precision_score (1.2), step by step: scores sorted descending, one point per
 * distinct score with the cumulative true and false positives there, precision tp / (tp + fp),
 * recall tp / positives, AP = sum of (recall_n - recall_{n-1}) * precision_n up to full recall.
 * Null when a label is missing.
 */
export function averagePrecision(labels: ArrayLike<number>, scores: ArrayLike<number>): number | null {
  checkScores(labels, scores);
  const n = labels.length;
  let positives = 0;
  for (let i = 0; i < n; i++) positives += labels[i];
  if (positives === 0 || positives === n) return null;
  // Descending; a comparison rather than a difference, so that infinite scores sort too.
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => (scores[a] > scores[b] ? -1 : scores[a] < scores[b] ? 1 : 0));
  let tp = 0;
  let fp = 0;
  let prevRecall = 0;
  let ap = 0;
  for (let k = 0; k < n; k++) {
    const i = order[k];
    if (labels[i] === 1) tp++;
    else fp++;
    if (k + 1 < n && scores[order[k + 1]] === scores[i]) continue; // a tie: one threshold
    const recall = tp / positives;
    ap += (recall - prevRecall) * (tp / (tp + fp));
    prevRecall = recall;
    if (tp === positives) break; // full recall: later points add nothing
  }
  return ap;
}

/** All metrics of one set of images. */
export function detectionMetrics(labels: ArrayLike<number>, scores: ArrayLike<number>, threshold: number): DetectionMetrics {
  checkScores(labels, scores);
  let fake = 0;
  for (let i = 0; i < labels.length; i++) fake += labels[i];
  return {
    count: labels.length,
    real: labels.length - fake,
    fake,
    acc: accuracy(labels, scores, threshold),
    ap: averagePrecision(labels, scores),
    realAcc: accuracy(labels, scores, threshold, 0),
    fakeAcc: accuracy(labels, scores, threshold, 1),
  };
}

/** The mean of each rate over the sets where it is defined (null where it is nowhere). */
export function meanMetrics(sets: readonly DetectionMetrics[]): Pick<DetectionMetrics, 'acc' | 'ap' | 'realAcc' | 'fakeAcc'> {
  const mean = (key: 'acc' | 'ap' | 'realAcc' | 'fakeAcc') => {
    const vals = sets.map((s) => s[key]).filter((v): v is number => v !== null);
    return vals.length ? vals.reduce((a, b) => a + b, 0) / vals.length : null;
  };
  return { acc: mean('acc'), ap: mean('ap'), realAcc: mean('realAcc'), fakeAcc: mean('fakeAcc') };
}
