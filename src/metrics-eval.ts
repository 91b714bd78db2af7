/**
 * Everything `dnf eval` reports about one set of images (browser-safe): the protocol's metrics at
 * the threshold (src/metrics.ts: accuracy, AP, real and fake accuracy), the threshold-free ones of
 * src/metrics-roc.ts (ROC-AUC, TPR at 1% and 5% FPR, the oracle accuracy and its threshold) and the
 * calibration error of src/metrics-calibration.ts. The scores are ranked once per set.
 */
import { detectionMetrics, type DetectionMetrics } from './metrics.js';
import { expectedCalibrationError } from './metrics-calibration.js';
import { oracleAccuracy, ranking, rocAuc, tprAtFpr } from './metrics-roc.js';

export interface EvalMetrics extends DetectionMetrics {
  /** ROC-AUC (sklearn's roc_auc_score); null unless both labels occur. */
  auc: number | null;
  /** The best accuracy of any threshold, chosen on these images (an oracle, optimistic); null unless both labels occur. */
  oracleAcc: number | null;
  /** The highest score the oracle's cut calls real (`score > it` is that cut); null when it calls all generated, or undefined. */
  oracleThreshold: number | null;
  /** The best TPR of a threshold with FPR at most 1% and 5%; null unless both labels occur. */
  tprAtFpr1: number | null;
  tprAtFpr5: number | null;
  /** Expected calibration error (Guo et al. 2017, 10 equal-width bins); null without images. */
  ece: number | null;
}

/** The rates that average over sets (counts and the oracle's threshold do not). */
export const MEAN_KEYS = ['acc', 'ap', 'realAcc', 'fakeAcc', 'auc', 'oracleAcc', 'tprAtFpr1', 'tprAtFpr5', 'ece'] as const;
export type MeanKey = (typeof MEAN_KEYS)[number];

/** All metrics of one set of images at `threshold`. */
export function evalMetrics(labels: ArrayLike<number>, scores: ArrayLike<number>, threshold: number): EvalMetrics {
  const r = ranking(labels, scores);
  const oracle = oracleAccuracy(r);
  return {
    ...detectionMetrics(labels, scores, threshold),
    auc: rocAuc(r),
    oracleAcc: oracle?.acc ?? null,
    oracleThreshold: oracle?.threshold ?? null,
    tprAtFpr1: tprAtFpr(r, 0.01),
    tprAtFpr5: tprAtFpr(r, 0.05),
    ece: expectedCalibrationError(labels, scores),
  };
}

/** The mean of each rate over the sets where it is defined (null where it is nowhere). */
export function meanEvalMetrics(sets: readonly EvalMetrics[]): Record<MeanKey, number | null> {
  const out = {} as Record<MeanKey, number | null>;
  for (const key of MEAN_KEYS) {
    const vals = sets.map((s) => s[key]).filter((v): v is number => v !== null);
    out[key] = vals.length ? vals.reduce((a, b) => a + b, 0) / vals.length : null;
  }
  return out;
}
