/**
 * Calibration of the classifier's probabilities (browser-safe): the expected calibration error of
 * Guo et al., "On Calibration of Modern Neural Networks" (ICML 2017), with M equal-width bins.
 *
 * For each image, the predicted class is the more probable one (generated when P(generated) > 0.5,
 * so 0.5 itself predicts real, as everywhere in the project) and its confidence is that class's
 * probability, max(p, 1 - p), in [0.5, 1]. Bin m (1..M) holds the confidences in ((m-1)/M, m/M];
 * ECE = sum over the bins of |B_m| / n * |accuracy(B_m) - mean confidence(B_m)|, 0 for a
 * perfectly calibrated classifier. This is the multi-class definition applied to two classes (the
 * one most papers report), not the calibration of P(generated) alone, and it does not depend on
 * --threshold: a probability is calibrated or not whatever threshold a user picks. With two classes
 * only the bins above 0.4 can fill (confidence 0.5 falls in (0.4, 0.5]). Defined for any non-empty
 * set, one-class sets included; null without images.
 */
import { checkScores } from './metrics.js';

/** Guo et al.'s ECE of P(generated) against the labels, in `bins` equal-width confidence bins. */
export function expectedCalibrationError(labels: ArrayLike<number>, scores: ArrayLike<number>, bins = 10): number | null {
  checkScores(labels, scores);
  if (!Number.isInteger(bins) || bins < 1) throw new Error(`metrics: ${bins} calibration bins`);
  const n = labels.length;
  if (n === 0) return null;
  const count = new Float64Array(bins);
  const right = new Float64Array(bins);
  const confSum = new Float64Array(bins);
  for (let i = 0; i < n; i++) {
    const p = scores[i];
    const predicted = p > 0.5 ? 1 : 0;
    const conf = predicted === 1 ? p : 1 - p;
    const m = binOf(Math.min(1, Math.max(0, conf)), bins);
    count[m]++;
    confSum[m] += conf;
    if (predicted === labels[i]) right[m]++;
  }
  let ece = 0;
  for (let m = 0; m < bins; m++) {
    if (count[m]) ece += (count[m] / n) * Math.abs(right[m] / count[m] - confSum[m] / count[m]);
  }
  return ece;
}

/** The bin index m - 1 with (m-1)/M < c <= m/M, the edges compared as the numbers k/M (0 goes to the first bin). */
function binOf(c: number, bins: number): number {
  let m = Math.min(bins - 1, Math.max(0, Math.ceil(c * bins) - 1)); // a guess that rounding may miss by one
  while (m > 0 && c <= m / bins) m--;
  while (m < bins - 1 && c > (m + 1) / bins) m++;
  return m;
}
