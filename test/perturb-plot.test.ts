/** The robustness plot's spec (src/node/robustness-plot.ts) and its rendering. */
import { describe, expect, it } from 'vitest';
import { renderRobustnessSvg, robustnessSpec, type RobustnessPoint } from '../src/node/robustness-plot.js';

const points: RobustnessPoint[] = ['a', 'b'].flatMap((subset, s) => [
  { subset, kind: null, strength: null, acc: 0.9 - s / 10, ap: 0.95 },
  { subset, kind: 'jpeg', strength: 90, acc: 0.8, ap: 0.9 },
  { subset, kind: 'jpeg', strength: 50, acc: 0.6 - s / 10, ap: null },
  { subset, kind: 'blur', strength: 2, acc: 0.7, ap: Number.NaN },
  { subset, kind: 'jpeg:75+blur:1', strength: null, acc: 0.5, ap: 0.5 },
]);

describe('robustness plot', () => {
  it('a panel per kind and metric, one line per subset, the unperturbed values as rules; combined specs left out', () => {
    const spec = robustnessSpec(points) as unknown as { vconcat: Array<{ hconcat: Array<{ title: string; layer: Array<{ data: { values: Array<Record<string, unknown>> }; mark: { type: string } }> }> }> };
    expect(spec.vconcat.map((r) => r.hconcat.map((p) => p.title))).toEqual([['accuracy: JPEG quality', 'accuracy: blur sigma (px)'], ['AP: JPEG quality', 'AP: blur sigma (px)']]);
    const [line, rule] = spec.vconcat[0].hconcat[0].layer;
    expect(line.mark.type).toBe('line');
    expect(line.data.values.map((v) => [v.subset, v.strength, v.value])).toEqual([['a', 90, 0.8], ['a', 50, 0.6], ['b', 90, 0.8], ['b', 50, 0.5]]);
    expect(rule.data.values.map((v) => [v.subset, v.value])).toEqual([['a', 0.9], ['b', 0.8]]);
    // null and NaN become gaps, never "NaN" in the SVG.
    expect(spec.vconcat[1].hconcat[1].layer[0].data.values.map((v) => v.value)).toEqual([null, null]);
  });

  it('renders to a deterministic SVG', async () => {
    const [a, b] = [await renderRobustnessSvg(points, 't'), await renderRobustnessSvg(points, 't')];
    expect(a.startsWith('<svg')).toBe(true);
    expect(a).toBe(b);
    expect(a).not.toContain('NaN');
  });
});
