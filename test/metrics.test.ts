/**
 * src/metrics.ts against scikit-learn 1.2 (tools/golden/metrics.py): every case's expected values
 * are `accuracy_score(y, s > threshold)`, the same restricted to each label, and
 * `average_precision_score(y, s)`, computed in float64 on the float32 scores stored in the fixture.
 * Tolerance 1e-12: both sides sum the same float64 terms, in another order (numpy's pairwise sum
 * from the lowest threshold vs ours from the highest); accuracies are exact ratios.
 */
import { describe, expect, it } from 'vitest';
import { accuracy, averagePrecision, detectionMetrics, meanMetrics } from '../src/metrics.js';
import { loadGolden } from './gpu/helpers.js';

const golden = loadGolden('metrics');
const CASES = ['distinct', 'ties', 'saturated', 'one_score', 'threshold_0.3', 'only_real', 'only_fake', 'single'];

interface Expected {
  threshold: number;
  acc: number | null;
  real_acc: number | null;
  fake_acc: number | null;
  ap: number | null;
  sklearn_ap: number;
}

const near = (got: number | null, want: number | null) => {
  if (want === null) expect(got).toBeNull();
  else expect(Math.abs(got! - want)).toBeLessThanOrEqual(1e-12);
};

describe('metrics', () => {
  it.each(CASES)('%s equals sklearn', async (name) => {
    const g = await golden;
    const want = JSON.parse(g.metadata[name]) as Expected;
    const labels = g.get(`${name}.labels`);
    const scores = g.get(`${name}.scores`);
    const m = detectionMetrics(labels, scores, want.threshold);
    near(m.acc, want.acc);
    near(m.realAcc, want.real_acc);
    near(m.fakeAcc, want.fake_acc);
    near(m.ap, want.ap);
    const fake = labels.reduce((a, b) => a + b, 0);
    expect([m.count, m.real, m.fake]).toEqual([labels.length, labels.length - fake, fake]);
  });

  it('counts a score equal to the threshold as real, and ties enter the curve together', () => {
    expect(accuracy([0, 1], [0.5, 0.5], 0.5)).toBe(0.5);
    // One threshold holding both images: P = 1/2 at R = 1.
    expect(averagePrecision([0, 1], [0.5, 0.5])).toBe(0.5);
    // Ranked apart, the generated one first: AP 1; also with infinite scores (e.g. logits).
    expect(averagePrecision([0, 1], [0.4, 0.5])).toBe(1);
    expect(averagePrecision([1, 0, 1], [Infinity, -Infinity, Infinity])).toBe(1);
    expect(averagePrecision([0, 1], [Infinity, -Infinity])).toBe(0.5);
  });

  it('leaves AP undefined (null) when a label is missing, where sklearn reports 0 or 1', async () => {
    const g = await golden;
    expect(Math.abs(JSON.parse(g.metadata.only_real).sklearn_ap)).toBe(0); // sklearn gives -0.0
    expect(JSON.parse(g.metadata.only_fake).sklearn_ap).toBe(1);
    expect(averagePrecision([0, 0], [0.1, 0.9])).toBeNull();
    expect(averagePrecision([], [])).toBeNull();
    expect(detectionMetrics([], [], 0.5)).toEqual({ count: 0, real: 0, fake: 0, acc: null, ap: null, realAcc: null, fakeAcc: null });
  });

  it('averages each rate over the sets where it is defined', () => {
    const a = detectionMetrics([0, 1], [0.2, 0.9], 0.5); // all right, AP 1
    const b = detectionMetrics([0, 0], [0.7, 0.1], 0.5); // half right, no AP, no fake accuracy
    expect(meanMetrics([a, b])).toEqual({ acc: 0.75, ap: 1, realAcc: 0.75, fakeAcc: 1 });
    expect(meanMetrics([b])).toEqual({ acc: 0.5, ap: null, realAcc: 0.5, fakeAcc: null });
  });

  it('refuses labels other than 0 and 1, NaN scores and mismatched lengths', () => {
    expect(() => averagePrecision([0, 2], [0.1, 0.2])).toThrow(/neither 0 nor 1/);
    expect(() => accuracy([0, 1], [0.1, NaN], 0.5)).toThrow(/NaN/);
    expect(() => detectionMetrics([0], [0.1, 0.2], 0.5)).toThrow(/1 labels for 2 scores/);
  });
});
