/**
 * src/metrics-roc.ts, src/metrics-calibration.ts and src/metrics-eval.ts against scikit-learn 1.2
 * and an independent numpy ECE (tools/golden/metrics_ranking.py, which states each definition).
 * Tolerance 1e-12 for AUC, ECE and the curves' rates: sklearn's AUC is a float64 trapezoid sum
 * (np.trapz over the rates) where ours divides one integer pair count; ECE sums the same float64
 * terms per bin in another order (numpy's pairwise mean vs a running sum). Measured: AUC 1.1e-16,
 * ECE and the curves' rates exact; 1e-12 is the bound of n * eps for a running sum over 2000
 * terms (4.4e-13), which another platform's order of operations could reach. The TPR at a fixed FPR, the oracle accuracy and its threshold are ratios of
 * the same integer counts or the stored scores themselves: compared exactly.
 * Plus properties on random sets (fast-check): AUC equals the brute-force pair count, the oracle
 * accuracy equals the best accuracy over every threshold tried one by one.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { accuracy } from '../src/metrics.js';
import { expectedCalibrationError } from '../src/metrics-calibration.js';
import { evalMetrics, meanEvalMetrics } from '../src/metrics-eval.js';
import { oracleAccuracy, prCurve, ranking, rocAuc, rocCurve, tprAtFpr } from '../src/metrics-roc.js';
import { loadGolden } from './gpu/helpers.js';

const golden = loadGolden('metrics_ranking');
const CASES = ['distinct', 'ties', 'saturated', 'one_score', 'separable', 'inverted', 'fpr_grid', 'imbalanced', 'large', 'only_real', 'only_fake', 'single'];
const TOL = 1e-12;

interface Expected {
  auc: number | null;
  tpr_at_fpr: Record<'0.01' | '0.05', number | null>;
  best_acc: number | null;
  best_threshold: number | null;
  ufd_best_acc?: number;
  ece: number | null;
  roc?: { fpr: number[]; tpr: number[]; thresholds: Array<number | null> };
  pr?: { precision: number[]; recall: number[]; thresholds: number[] };
}

const near = (got: number | null, want: number | null) => {
  if (want === null) expect(got).toBeNull();
  else expect(Math.abs(got! - want)).toBeLessThanOrEqual(TOL);
};
const nearAll = (got: number[], want: number[]) => {
  expect(got.length).toBe(want.length);
  got.forEach((v, i) => near(v, want[i]));
};

async function caseOf(name: string): Promise<{ labels: Float32Array; scores: Float32Array; want: Expected }> {
  const g = await golden;
  return { labels: g.get(`${name}.labels`), scores: g.get(`${name}.scores`), want: JSON.parse(g.metadata[name]) as Expected };
}

describe('ranking metrics', () => {
  it.each(CASES)('%s equals sklearn', async (name) => {
    const { labels, scores, want } = await caseOf(name);
    const r = ranking(labels, scores);
    near(rocAuc(r), want.auc);
    expect(tprAtFpr(r, 0.01)).toBe(want.tpr_at_fpr['0.01']);
    expect(tprAtFpr(r, 0.05)).toBe(want.tpr_at_fpr['0.05']);
    const oracle = oracleAccuracy(r);
    expect(oracle?.acc ?? null).toBe(want.best_acc);
    expect(oracle?.threshold ?? null).toBe(want.best_threshold);
    if (oracle) {
      // The threshold reproduces the accuracy with the project's `score > threshold`, and the
      // oracle is never below UniversalFakeDetect's procedure.
      if (oracle.threshold !== null) expect(accuracy(labels, scores, oracle.threshold)).toBe(oracle.acc);
      expect(oracle.acc).toBeGreaterThanOrEqual(want.ufd_best_acc!);
    }
    near(expectedCalibrationError(labels, scores), want.ece);
    if (want.roc) {
      const roc = rocCurve(r)!;
      nearAll(roc.fpr, want.roc.fpr);
      nearAll(roc.tpr, want.roc.tpr);
      expect(roc.thresholds).toEqual([Infinity, ...want.roc.thresholds.slice(1)]);
    }
    if (want.pr) {
      const pr = prCurve(r)!;
      nearAll(pr.precision, want.pr.precision);
      nearAll(pr.recall, want.pr.recall);
      expect(pr.thresholds).toEqual(want.pr.thresholds);
    }
    if (want.auc === null) {
      expect(rocCurve(r)).toBeNull();
      expect(prCurve(r)).toBeNull();
    }
  });

  it('evalMetrics gathers them all, and the means skip undefined values', async () => {
    const { labels, scores, want } = await caseOf('distinct');
    const m = evalMetrics(labels, scores, 0.5);
    expect(m).toMatchObject({ count: labels.length, oracleAcc: want.best_acc, oracleThreshold: want.best_threshold, tprAtFpr1: want.tpr_at_fpr['0.01'], tprAtFpr5: want.tpr_at_fpr['0.05'] });
    near(m.auc, want.auc);
    near(m.ece, want.ece);
    const real = evalMetrics([0, 0], [0.2, 0.9], 0.5); // ECE: bin (0.7, 0.8] right at 0.8, bin (0.8, 0.9] wrong at 0.9
    expect(real).toMatchObject({ auc: null, oracleAcc: null, oracleThreshold: null, tprAtFpr1: null, tprAtFpr5: null });
    near(real.ece, 0.5 * 0.2 + 0.5 * 0.9);
    const mean = meanEvalMetrics([m, real]);
    expect(mean.auc).toBe(m.auc);
    expect(mean.ece).toBe((m.ece! + real.ece!) / 2);
    expect(meanEvalMetrics([real]).tprAtFpr5).toBeNull();
    expect(evalMetrics([], [], 0.5)).toMatchObject({ count: 0, auc: null, ece: null, oracleAcc: null });
  });

  it('ECE: 0.5 predicts real with confidence 0.5; saturated right answers are perfectly calibrated', () => {
    expect(expectedCalibrationError([0, 0], [0.5, 0.5])).toBe(0.5); // accuracy 1, confidence 0.5
    expect(expectedCalibrationError([1, 0], [1, 0])).toBe(0);
    expect(expectedCalibrationError([1, 0], [0, 1])).toBe(1);
    expect(() => expectedCalibrationError([0], [0.5], 0)).toThrow(/0 calibration bins/);
  });

  it('AUC is the fraction of rightly ordered pairs (ties one half), the oracle the best of all thresholds (random sets)', () => {
    const sets = fc.array(fc.tuple(fc.constantFrom(0, 1), fc.integer({ min: 0, max: 8 })), { minLength: 2, maxLength: 40 })
      .filter((xs) => xs.some(([y]) => y === 0) && xs.some(([y]) => y === 1));
    fc.assert(fc.property(sets, (xs) => {
      const labels = xs.map(([y]) => y);
      const scores = xs.map(([, s]) => s / 8); // few levels: many ties
      let pairs = 0;
      let total = 0;
      for (const [y0, s0] of xs) for (const [y1, s1] of xs) {
        if (y0 !== 0 || y1 !== 1) continue;
        total++;
        pairs += s1 > s0 ? 1 : s1 === s0 ? 0.5 : 0;
      }
      const r = ranking(labels, scores);
      expect(Math.abs(rocAuc(r)! - pairs / total)).toBeLessThanOrEqual(TOL);
      const best = Math.max(...[-1, ...scores].map((t) => accuracy(labels, scores, t)!));
      expect(oracleAccuracy(r)!.acc).toBe(best);
    }), { seed: 10, numRuns: 300 });
  });
});
