/**
 * src/train/curves.ts: the vega-lite spec and its SVG, rendered in Node with no canvas and no DOM.
 * Marks are counted by the class vega gives each named layer's group (`<name>_marks`): one
 * <path> per point in a symbol mark, one <line> per rule.
 */
import { describe, expect, it, vi } from 'vitest';
import { curvesSpec, formatLr, lossUsesLog, lrChanges, renderCurvesSvg, type EpochPoint } from '../src/train/curves.js';

/** Rounded to 2 decimals, so that the SVG's aria labels show the values exactly. */
const r2 = (v: number) => Math.round(v * 100) / 100;

function run(n: number, over: (e: number) => Partial<EpochPoint> = () => ({})): EpochPoint[] {
  return Array.from({ length: n }, (_, i) => ({
    epoch: i,
    step: (i + 1) * 50,
    lr: 1e-4,
    trainLoss: r2(0.69 - 0.05 * i),
    valAcc: r2(0.5 + 0.03 * i),
    valAp: r2(0.55 + 0.03 * i),
    realAcc: r2(0.6 + 0.02 * i),
    fakeAcc: r2(0.4 + 0.04 * i),
    ...over(i),
  }));
}

/** The inside of the group of the layer named `name`. */
function group(svg: string, name: string): string {
  const m = new RegExp(`<g class="mark-\\w+ role-mark ${name}_marks"[^>]*?(/>|>(.*?)</g>)`).exec(svg);
  if (!m) throw new Error(`no mark group ${name} in the SVG`);
  return m[2] ?? '';
}

/** The elements `tag` inside the group of the layer named `name`. */
function marks(svg: string, name: string, tag: 'path' | 'line'): number {
  return group(svg, name).split(`<${tag} `).length - 1;
}

/** `svg` contains `s` (without printing the whole SVG when not). */
function has(svg: string, s: string): boolean {
  return svg.includes(s);
}

function checkSvg(svg: string, title: string) {
  expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
  expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
  expect(/NaN|Infinity|undefined/.exec(svg)?.[0]).toBeUndefined();
  expect(has(svg, `>${title}</text>`), `>${title}</text>`).toBe(true);
  for (const axis of ['epoch', 'mean train loss', 'validation']) expect(has(svg, `>${axis}`), `>${axis}`).toBe(true);
  // Balanced tags, as far as a regex can tell: every <g> closed or self-closed.
  expect(svg.match(/<g[ >]/g)!.length).toBe(svg.match(/<\/g>/g)!.length + (svg.match(/<g [^>]*\/>/g) ?? []).length);
}

describe('training curves', () => {
  it('draws one point per epoch and metric, with the title and axis titles', async () => {
    const points = run(6);
    const svg = await renderCurvesSvg(points, 'run-a');
    checkSvg(svg, 'run-a');
    expect(marks(svg, 'loss_point', 'path')).toBe(6);
    expect(marks(svg, 'val_point', 'path')).toBe(24);
    for (const name of ['accuracy', 'AP', 'real acc', 'fake acc']) expect(has(svg, `>${name}</text>`), `>${name}</text>`).toBe(true);
    for (const p of points) expect(svg).toContain(`epoch: ${p.epoch}; mean train loss: ${p.trainLoss}`);
    expect(svg).toContain('epoch: 5; validation: 0.7; metric: AP');
    expect(marks(svg, 'loss_lr_rule', 'line')).toBe(0);
  });

  it('renders the same bytes twice', async () => {
    const points = run(12, (e) => ({ lr: e < 8 ? 1e-4 : 1e-5 }));
    const a = await renderCurvesSvg(points, 'same');
    const b = await renderCurvesSvg(points, 'same');
    expect(b).toBe(a);
    expect(JSON.stringify(curvesSpec(points, 'same'))).toBe(JSON.stringify(curvesSpec(points, 'same')));
  });

  it('renders zero and one epoch', async () => {
    const empty = await renderCurvesSvg([], 'empty');
    checkSvg(empty, 'empty');
    expect(marks(empty, 'loss_point', 'path')).toBe(0);
    expect(marks(empty, 'val_point', 'path')).toBe(0);
    const one = await renderCurvesSvg(run(1), 'one');
    checkSvg(one, 'one');
    expect(marks(one, 'loss_point', 'path')).toBe(1);
    expect(marks(one, 'val_point', 'path')).toBe(4);
  });

  it('leaves gaps for nulls and non-finite values', async () => {
    // AP is null when the validation set has one class; then one class's accuracy is null too.
    const points = run(5, (e) => ({ valAp: null, fakeAcc: e === 2 ? null : 0.5, trainLoss: e === 3 ? Number.NaN : 0.5 }));
    const svg = await renderCurvesSvg(points, 'gaps');
    checkSvg(svg, 'gaps');
    expect(marks(svg, 'loss_point', 'path')).toBe(4);
    expect(marks(svg, 'val_point', 'path')).toBe(5 + 0 + 5 + 4);
    expect(has(group(svg, 'val_point'), 'metric: AP"'), 'an AP point').toBe(false);
    expect(has(group(svg, 'val_point'), 'epoch: 2; validation: 0.5; metric: fake acc'), 'a point at a gap').toBe(false);
    expect(has(group(svg, 'loss_point'), 'epoch: 3;'), 'a point at a NaN loss').toBe(false);
    expect(has(svg, '>AP</text>'), '>AP</text>').toBe(true); // still in the legend
  });

  it('draws an lr rule exactly where the lr changes, labelled with the new lr', async () => {
    const points = run(10, (e) => ({ lr: e < 4 ? 1e-4 : e < 7 ? 1e-5 : 1e-6 }));
    expect(lrChanges(points).map((c) => [c.epoch, c.label])).toEqual([[4, 'lr 1e-5'], [7, 'lr 1e-6']]);
    const svg = await renderCurvesSvg(points, 'lr');
    expect(marks(svg, 'loss_lr_rule', 'line')).toBe(2);
    expect(marks(svg, 'val_lr_rule', 'line')).toBe(2);
    expect(svg.split('>lr 1e-5</text>').length - 1).toBe(2);
    expect(svg.split('>lr 1e-6</text>').length - 1).toBe(2);
    expect(lrChanges(run(10))).toEqual([]);
    expect(formatLr(2.5e-5)).toBe('2.5e-5');
    expect(formatLr(0.001)).toBe('1e-3');
  });

  it('puts the loss on a log scale when it spans more than two decades', async () => {
    expect(lossUsesLog(run(5))).toBe(false);
    const steep = run(8, (e) => ({ trainLoss: 0.7 * 10 ** -(e / 2) }));
    expect(lossUsesLog(steep)).toBe(true);
    const svg = await renderCurvesSvg(steep, 'steep');
    checkSvg(svg, 'steep');
    expect(has(svg, '>mean train loss (log)</text>'), '>mean train loss (log)</text>').toBe(true);
    expect(marks(svg, 'loss_point', 'path')).toBe(8);
  });

  it('compiles without vega or vega-lite warnings', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    try {
      await renderCurvesSvg(run(3, (e) => ({ valAp: e === 1 ? null : 0.5, lr: e ? 1e-5 : 1e-4 })));
      expect(warn).not.toHaveBeenCalled();
    } finally {
      warn.mockRestore();
    }
  });
});
