/**
 * The results of a run, under the form: a summary line, the threshold that labels them (live:
 * label = P(generated) > threshold, as `dnf detect --threshold`), the results as cards or as a
 * sortable table, and the downloads (CSV, JSON lines, a zip of the DNF PNGs).
 */
import { labelOf } from '../src/index.js';
import { renderCard } from './card.js';
import { dnfZip, resultsCsv, resultsJsonLines, saveFile } from './exports.js';
import type { PageResult } from './result.js';
import { ResultsTable } from './table.js';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

/** '850 ms', '34.2 s', '2 min 5 s'. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)} min ${s % 60} s`;
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/** '11 images: 4 generated, 6 real at threshold 0.50, 1 failed, in 34.2 s' (no classifier: '10 DNFs computed'). */
export function summaryLine(results: readonly PageResult[], threshold: number, elapsedMs: number): string {
  const failed = results.filter((r) => r.error !== undefined).length;
  const probs = results.flatMap((r) => (r.prob === undefined ? [] : [r.prob]));
  const generated = probs.filter((p) => labelOf(p, threshold) === 'generated').length;
  const verdicts = probs.length ? `${generated} generated, ${probs.length - generated} real at threshold ${threshold.toFixed(2)}` : `${plural(results.length - failed, 'DNF')} computed`;
  return `${plural(results.length, 'image')}: ${verdicts}, ${failed} failed, in ${formatDuration(elapsedMs)}`;
}

export class ResultsView {
  private readonly ui = {
    outcome: $('outcome'),
    summary: $('summary'),
    threshold: $<HTMLInputElement>('threshold'),
    thresholdLabel: $('threshold-label'),
    thresholdValue: $<HTMLOutputElement>('threshold-value'),
    showCards: $<HTMLButtonElement>('show-cards'),
    showTable: $<HTMLButtonElement>('show-table'),
    cards: $('results'),
    tableWrap: $('table-wrap'),
    saveCsv: $<HTMLButtonElement>('save-csv'),
    saveJson: $<HTMLButtonElement>('save-json'),
    saveZip: $<HTMLButtonElement>('save-zip'),
  };
  private readonly table = new ResultsTable($<HTMLTableElement>('table'), () => this.refresh());
  private results: PageResult[] = [];
  private elapsedMs = 0;

  constructor() {
    const { ui } = this;
    ui.threshold.addEventListener('input', () => this.refresh());
    ui.showCards.addEventListener('click', () => this.show('cards'));
    ui.showTable.addEventListener('click', () => this.show('table'));
    ui.saveCsv.addEventListener('click', () => saveFile('dnf-detect.csv', resultsCsv(this.results, this.threshold), 'text/csv'));
    ui.saveJson.addEventListener('click', () => saveFile('dnf-detect.jsonl', resultsJsonLines(this.results, this.threshold), 'application/x-ndjson'));
    ui.saveZip.addEventListener('click', () => {
      ui.saveZip.disabled = true;
      dnfZip(this.results)
        .then((zip) => saveFile('dnf-images.zip', zip as BlobPart, 'application/zip'))
        .finally(() => this.refresh());
    });
  }

  /** label = prob > threshold. */
  get threshold(): number {
    return Number(this.ui.threshold.value);
  }

  /** A new run: no results yet. */
  clear(): void {
    this.results = [];
    this.elapsedMs = 0;
    this.ui.cards.replaceChildren();
    this.refresh();
  }

  /** One more image's result, `elapsedMs` into the run. */
  add(r: PageResult, elapsedMs: number): void {
    this.results.push(r);
    this.elapsedMs = elapsedMs;
    const card = renderCard({ name: r.name, input: r.input, dnf: r.dnfImage, prob: r.prob, label: r.prob === undefined ? undefined : labelOf(r.prob, this.threshold), ms: r.ms, error: r.error });
    card.dataset.index = String(this.results.length - 1);
    this.ui.cards.append(card);
    this.refresh();
  }

  private show(view: 'cards' | 'table'): void {
    this.ui.showCards.setAttribute('aria-pressed', String(view === 'cards'));
    this.ui.showTable.setAttribute('aria-pressed', String(view === 'table'));
    this.ui.cards.hidden = view !== 'cards';
    this.ui.tableWrap.hidden = view !== 'table';
    this.refresh();
  }

  /** Brings the summary, labels, table and buttons up to date with the results and the threshold. */
  private refresh(): void {
    const { ui, results } = this;
    const t = this.threshold;
    ui.outcome.hidden = results.length === 0;
    ui.thresholdValue.value = t.toFixed(2);
    // Without a classifier nothing is labelled: no threshold to set.
    ui.thresholdLabel.hidden = !results.some((r) => r.prob !== undefined);
    ui.summary.textContent = summaryLine(results, t, this.elapsedMs);
    for (const card of ui.cards.querySelectorAll<HTMLElement>('.card[data-index]')) {
      const prob = results[Number(card.dataset.index)]?.prob;
      const verdict = card.querySelector('.verdict');
      if (prob === undefined || !verdict) continue;
      const label = labelOf(prob, t);
      verdict.textContent = label;
      verdict.className = `verdict ${label}`;
    }
    if (!ui.tableWrap.hidden) this.table.render(results, t);
    ui.saveCsv.disabled = ui.saveJson.disabled = results.length === 0;
    ui.saveZip.disabled = !results.some((r) => r.dnfImage);
  }
}
