/**
 * The HTML of `dnf eval --report`: one self-contained page that opens offline from disk. The CSS
 * is inline, every plot and thumbnail is a data: URI, and there is no script; a Content Security
 * Policy (nothing but inline style and data: images) makes the browser refuse anything else, so
 * a page that shows must have needed nothing from outside. Pure: the same content gives the same
 * bytes (no date; the caller passes the facts it wants shown).
 *
 * Sections, in order: the facts of the run, the metrics table (every row of `dnf eval`, every
 * metric, with their definitions), the format check, the robustness sweep, the curves per set,
 * the most confident mistakes, the images that failed. The format check and the robustness
 * sweep come from other parts of `dnf eval`; when a run gives none the section says so.
 */
import type { EvalMetrics } from '../../metrics-eval.js';
import type { MistakeCard, MistakeCards } from './mistakes.js';

/** One row of the metrics table: a subset, the mean over subsets (no counts) or the pooled total. */
export interface ReportRow extends Omit<EvalMetrics, 'count' | 'real' | 'fake'> {
  subset: string;
  kind: 'subset' | 'mean' | 'total';
  count: number | null;
  real: number | null;
  fake: number | null;
}

/** A robustness sweep's plot (an SVG document, e.g. metric against perturbation strength) and what it shows. */
export interface RobustnessSection {
  svg: string;
  caption?: string;
}

/** The curves of one set: an SVG document, or null with the reason when the set has none. */
export interface CurvesFigure {
  name: string;
  svg: string | null;
  note?: string;
}

export interface ReportContent {
  title: string;
  /** File names under this folder are shown relative to it. */
  root?: string;
  /** Label and value lines shown at the top (root, classifier, threshold, counts). */
  facts: ReadonlyArray<readonly [string, string]>;
  rows: readonly ReportRow[];
  curves: readonly CurvesFigure[];
  mistakes: MistakeCards | null;
  /** The format check's findings: undefined when it did not run, empty when it found nothing. */
  formatFindings?: readonly string[];
  robustness?: RobustnessSection;
  failures: ReadonlyArray<{ file: string; error: string }>;
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
export const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => ESCAPES[c]);

/** An SVG document as an image's data: URI (its ids stay its own). */
export const svgDataUri = (svg: string) => `data:image/svg+xml;base64,${Buffer.from(svg, 'utf8').toString('base64')}`;

const percent = (v: number | null) => (v === null ? 'n/a' : (100 * v).toFixed(2));
const count = (v: number | null) => (v === null ? '' : String(v));

const COLUMNS: ReadonlyArray<readonly [string, (r: ReportRow) => string]> = [
  ['subset', (r) => r.subset],
  ['images', (r) => count(r.count)],
  ['real', (r) => count(r.real)],
  ['fake', (r) => count(r.fake)],
  ['acc %', (r) => percent(r.acc)],
  ['AP %', (r) => percent(r.ap)],
  ['real acc %', (r) => percent(r.realAcc)],
  ['fake acc %', (r) => percent(r.fakeAcc)],
  ['AUC %', (r) => percent(r.auc)],
  ['oracle acc %', (r) => percent(r.oracleAcc)],
  ['oracle threshold', (r) => (r.oracleThreshold === null ? '' : r.oracleThreshold.toPrecision(4))],
  ['TPR@1%FPR %', (r) => percent(r.tprAtFpr1)],
  ['TPR@5%FPR %', (r) => percent(r.tprAtFpr5)],
  ['ECE %', (r) => percent(r.ece)],
];

const CSS = `
body { font: 14px/1.45 system-ui, sans-serif; color: #222; margin: 0 auto; padding: 16px 24px 48px; max-width: 1280px; }
h1 { font-size: 22px; margin: 8px 0 4px; } h2 { font-size: 18px; margin: 28px 0 8px; border-bottom: 1px solid #ddd; } h3 { font-size: 15px; margin: 16px 0 6px; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 2px 14px; margin: 8px 0; } dl.facts dt { color: #666; } dl.facts dd { margin: 0; overflow-wrap: anywhere; }
.scroll { overflow-x: auto; }
table.metrics { border-collapse: collapse; font-variant-numeric: tabular-nums; }
table.metrics th, table.metrics td { padding: 3px 7px; border-bottom: 1px solid #eee; text-align: right; white-space: nowrap; }
table.metrics thead th { white-space: normal; vertical-align: bottom; max-width: 6.5em; }
table.metrics th:first-child, table.metrics td:first-child { text-align: left; }
table.metrics tr.mean > *, table.metrics tr.total > * { font-weight: 600; background: #f6f6f6; }
.notes { color: #555; font-size: 13px; } .notes dt { font-weight: 600; } .notes dd { margin: 0 0 4px 16px; }
.empty { color: #777; font-style: italic; }
ul.findings li { margin: 2px 0; } ul.findings li::marker { content: '\\26A0  '; color: #b36b00; }
.figures { display: flex; flex-wrap: wrap; gap: 16px; } .figures figure { margin: 0; } .figures img { display: block; max-width: 100%; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(290px, 1fr)); gap: 10px; }
.card { border: 1px solid #ddd; border-radius: 6px; padding: 8px; }
.card .pair { display: flex; gap: 8px; } .card .pair div { text-align: center; font-size: 12px; color: #666; }
.card img, .card .none { width: 128px; height: 128px; object-fit: contain; image-rendering: pixelated; background: #f3f3f3; display: block; }
.card .none { display: flex; align-items: center; justify-content: center; font-size: 12px; color: #888; }
.card .prob { font-weight: 600; margin-top: 4px; } .card .file { font-size: 12px; color: #555; overflow-wrap: anywhere; }
`;

const DEFINITIONS: ReadonlyArray<readonly [string, string]> = [
  ['acc, real acc, fake acc', 'accuracy at the threshold (an image is called generated when P(generated) > threshold) over all images, the real ones and the generated ones'],
  ['AP', 'average precision, sklearn\'s average_precision_score'],
  ['AUC', 'area under the ROC curve, sklearn\'s roc_auc_score: the share of (real, generated) pairs ranked rightly, ties counting one half'],
  ['oracle acc', 'the best accuracy of any threshold, chosen on these same images (as UniversalFakeDetect reports its best-threshold accuracy): optimistic, a bound rather than a result; oracle threshold: the highest P(generated) that best threshold still calls real'],
  ['TPR@x%FPR', 'the largest share of generated images a threshold catches while calling at most x% of the real images generated (a point of the ROC curve, not interpolated)'],
  ['ECE', 'expected calibration error (Guo et al. 2017): 10 equal-width bins of the predicted class\'s probability max(p, 1 - p); the sum over bins of (bin share of images) x |accuracy - mean confidence|'],
  ['mean, total', 'mean: each rate averaged over the subsets where it is defined; total: all images pooled'],
  ['n/a', 'undefined: AP, AUC, oracle and TPR need both real and generated images; a class accuracy needs images of that class'],
];

function metricsTable(rows: readonly ReportRow[]): string {
  const head = COLUMNS.map(([name]) => `<th scope="col">${escapeHtml(name)}</th>`).join('');
  const body = rows.map((r) => `<tr class="${r.kind}" data-subset="${escapeHtml(r.subset)}">${COLUMNS.map(([, cell], c) => (c === 0 ? `<th scope="row">${escapeHtml(cell(r))}</th>` : `<td>${escapeHtml(cell(r))}</td>`)).join('')}</tr>`).join('\n');
  return `<div class="scroll"><table class="metrics" id="metrics-table"><thead><tr>${head}</tr></thead><tbody>\n${body}\n</tbody></table></div>`;
}

function definitions(): string {
  return `<dl class="notes">${DEFINITIONS.map(([t, d]) => `<dt>${escapeHtml(t)}</dt><dd>${escapeHtml(d)}</dd>`).join('')}</dl>`;
}

function formatSection(findings: readonly string[] | undefined): string {
  if (findings === undefined) return '<p class="empty">The format check did not run.</p>';
  if (!findings.length) return '<p class="empty">No difference in file format, JPEG quality or image size between real and generated images was found.</p>';
  return `<ul class="findings">${findings.map((f) => `<li>${escapeHtml(f)}</li>`).join('')}</ul>`;
}

function robustnessSection(r: RobustnessSection | undefined): string {
  if (!r) return '<p class="empty">No robustness sweep in this run.</p>';
  const caption = r.caption ? `<figcaption>${escapeHtml(r.caption)}</figcaption>` : '';
  return `<figure class="robustness"><img alt="robustness plot" src="${svgDataUri(r.svg)}">${caption}</figure>`;
}

function curvesSection(figures: readonly CurvesFigure[]): string {
  const items = figures.map((f) => (f.svg
    ? `<figure data-set="${escapeHtml(f.name)}"><img alt="ROC and precision-recall curves of ${escapeHtml(f.name)}" src="${svgDataUri(f.svg)}"></figure>`
    : `<figure data-set="${escapeHtml(f.name)}"><figcaption><b>${escapeHtml(f.name)}</b>: <span class="empty">${escapeHtml(f.note ?? 'no curves')}</span></figcaption></figure>`));
  return `<div class="figures">${items.join('\n')}</div>`;
}

/** `file` relative to `root` when it lies inside (POSIX or Windows separators), else as it is. */
export function shownPath(file: string, root: string | undefined): string {
  if (!root) return file;
  const base = root.replace(/[\\/]+$/, '');
  return file.startsWith(base) && /^[\\/]/.test(file.slice(base.length)) ? file.slice(base.length + 1) : file;
}

function card(m: MistakeCard, root: string | undefined): string {
  const img = (uri: string | null, what: string) => (uri ? `<img alt="${what} of ${escapeHtml(m.file)}" src="${uri}">` : `<span class="none">${what === 'source' ? 'input is a DNF' : 'none'}</span>`);
  return `<div class="card"><div class="pair"><div>${img(m.source, 'source')}source</div><div>${img(m.dnf, 'DNF')}DNF</div></div>` +
    `<div class="prob">P(generated) ${m.prob.toFixed(4)}</div><div class="file" title="${escapeHtml(m.file)}">${escapeHtml(shownPath(m.file, root))}</div></div>`;
}

function mistakesSection(m: MistakeCards | null, root: string | undefined): string {
  if (!m) return '<p class="empty">No mistakes collected.</p>';
  const group = (id: string, title: string, cards: MistakeCard[], total: number) => {
    const shown = total > cards.length ? `the ${cards.length} most confident of ${total}` : `${total}`;
    const body = cards.length ? `<div class="cards">${cards.map((c) => card(c, root)).join('\n')}</div>` : '<p class="empty">None.</p>';
    return `<section id="${id}"><h3>${escapeHtml(title)} (${shown})</h3>${body}</section>`;
  };
  return `<p>At threshold ${m.threshold}: the images the classifier was surest about and wrong, at most ${m.limit} of each kind.</p>` +
    group('real-called-generated', 'Real images called generated', m.realCalledFake, m.realCalledFakeTotal) +
    group('generated-called-real', 'Generated images called real', m.fakeCalledReal, m.fakeCalledRealTotal);
}

function failuresSection(failures: ReportContent['failures'], root: string | undefined): string {
  if (!failures.length) return '';
  const items = failures.map((f) => `<li><code>${escapeHtml(shownPath(f.file, root))}</code>: ${escapeHtml(f.error)}</li>`).join('');
  return `<section id="failures"><h2>Images that failed (${failures.length}, left out of the metrics)</h2><ul>${items}</ul></section>`;
}

/** The page. */
export function reportHtml(c: ReportContent): string {
  const facts = c.facts.map(([k, v]) => `<dt>${escapeHtml(k)}</dt><dd>${escapeHtml(v)}</dd>`).join('');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(c.title)}</title>
<style>${CSS}</style>
</head>
<body>
<header><h1>${escapeHtml(c.title)}</h1><dl class="facts">${facts}</dl></header>
<section id="metrics"><h2>Metrics</h2>${metricsTable(c.rows)}${definitions()}</section>
<section id="format"><h2>Format check</h2>${formatSection(c.formatFindings)}</section>
<section id="robustness"><h2>Robustness</h2>${robustnessSection(c.robustness)}</section>
<section id="curves"><h2>ROC and precision-recall curves</h2>${curvesSection(c.curves)}</section>
<section id="mistakes"><h2>Most confident mistakes</h2>${mistakesSection(c.mistakes, c.root)}</section>
${failuresSection(c.failures, c.root)}
</body>
</html>
`;
}
