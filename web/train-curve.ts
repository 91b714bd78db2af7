/**
 * The Train view's live curve: the training loss of every step (left axis, from 0) and the
 * validation accuracy and AP after every epoch (right axis, 0 to 1, points joined by lines), over
 * the steps taken, as an inline SVG redrawn after each step, as wide as its box in CSS pixels (so
 * its text keeps its size on a phone). The legend is the view's HTML, which wraps.
 *
 * Why not src/train/curves.ts's vega-lite spec (what `dnf train` writes as curves.svg): rendering
 * it in the page costs vega and vega-lite, 820 KB of minified script (283 KB gzipped; esbuild
 * --bundle --minify of renderCurvesSvg), for one chart of a few hundred points; this file is 1.9 KB
 * minified (1 KB gzipped) and draws the loss per step rather than per epoch.
 */

export interface StepPoint {
  step: number;
  loss: number;
}

export interface EpochMark {
  epoch: number;
  step: number;
  acc: number | null;
  ap: number | null;
}

const NS = 'http://www.w3.org/2000/svg';
const H = 260;
const PAD = { left: 40, right: 40, top: 14, bottom: 24 };

function el<K extends keyof SVGElementTagNameMap>(name: K, attrs: Record<string, string | number>, text?: string): SVGElementTagNameMap[K] {
  const e = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

/** A round axis top for `max` (1, 2 or 5 times a power of ten). */
function niceMax(max: number): number {
  if (!(max > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(max));
  return [1, 2, 5, 10].map((m) => m * p).find((v) => v >= max)!;
}

/** Draws the curve into `svg` (emptied first). */
export function drawCurve(svg: SVGSVGElement, steps: readonly StepPoint[], epochs: readonly EpochMark[]): void {
  svg.replaceChildren();
  const W = Math.max(280, Math.round(svg.clientWidth || 640));
  svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
  const x0 = PAD.left;
  const x1 = W - PAD.right;
  const y0 = H - PAD.bottom;
  const y1 = PAD.top;
  const lastStep = Math.max(1, steps.at(-1)?.step ?? 0, epochs.at(-1)?.step ?? 0);
  const lossMax = niceMax(Math.max(0, ...steps.map((s) => (Number.isFinite(s.loss) ? s.loss : 0))));
  const sx = (step: number) => x0 + ((x1 - x0) * step) / lastStep;
  const sLoss = (v: number) => y0 - ((y0 - y1) * Math.min(v, lossMax)) / lossMax;
  const sUnit = (v: number) => y0 - (y0 - y1) * v;

  svg.append(el('rect', { x: x0, y: y1, width: x1 - x0, height: y0 - y1, class: 'frame' }));
  for (const f of [0, 0.5, 1]) {
    const y = y0 - (y0 - y1) * f;
    svg.append(el('line', { x1: x0, x2: x1, y1: y, y2: y, class: 'grid' }));
    svg.append(el('text', { x: x0 - 6, y: y + 4, 'text-anchor': 'end', class: 'tick tick-loss' }, String(+(lossMax * f).toPrecision(3))));
    svg.append(el('text', { x: x1 + 6, y: y + 4, class: 'tick' }, `${Math.round(100 * f)}%`));
  }
  svg.append(el('text', { x: x0, y: H - 8, class: 'tick' }, '0'));
  svg.append(el('text', { x: x1, y: H - 8, 'text-anchor': 'end', class: 'tick' }, `step ${lastStep}`));
  for (const e of epochs) svg.append(el('line', { x1: sx(e.step), x2: sx(e.step), y1: y1, y2: y0, class: 'epoch' }));

  if (steps.length) {
    svg.append(el('polyline', { points: steps.map((s) => `${sx(s.step).toFixed(1)},${sLoss(s.loss).toFixed(1)}`).join(' '), class: 'loss' }));
  }
  for (const [key, cls] of [['acc', 'acc'], ['ap', 'ap']] as const) {
    const pts = epochs.filter((e) => e[key] !== null).map((e) => [sx(e.step), sUnit(e[key]!)]);
    if (pts.length > 1) svg.append(el('polyline', { points: pts.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(' '), class: cls }));
    for (const [x, y] of pts) svg.append(el('circle', { cx: x, cy: y, r: 4, class: cls }));
  }
}
