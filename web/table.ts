/**
 * The results as a table: one row per image (#, file, P(generated), logit, label, time, error),
 * sorted by the column whose header was clicked last (again: the other way round). Images
 * without a value in that column (failures, or no classifier) stay at the bottom either way.
 */
import { labelOf } from '../src/index.js';
import type { PageResult } from './result.js';

export type SortKey = 'index' | 'name' | 'prob' | 'logit' | 'label' | 'ms' | 'error';

/** A row's value in a column; undefined sorts last. */
function value(r: PageResult, index: number, key: SortKey, threshold: number): string | number | undefined {
  switch (key) {
    case 'index':
      return index;
    case 'name':
      return r.name;
    case 'label':
      return r.prob === undefined ? undefined : labelOf(r.prob, threshold);
    default:
      return r[key];
  }
}

export class ResultsTable {
  private key: SortKey = 'index';
  private descending = false;
  private readonly body: HTMLTableSectionElement;

  /** `onSort` runs after a header click re-sorts the rows. */
  constructor(private readonly table: HTMLTableElement, private readonly onSort: () => void) {
    this.body = table.tBodies[0];
    for (const th of table.querySelectorAll<HTMLTableCellElement>('th[data-key]')) {
      th.querySelector('button')!.addEventListener('click', () => {
        const key = th.dataset.key as SortKey;
        this.descending = key === this.key ? !this.descending : key === 'prob' || key === 'logit' || key === 'ms';
        this.key = key;
        this.onSort();
      });
    }
  }

  /** Shows `results` in the current order, labelled at `threshold`. */
  render(results: readonly PageResult[], threshold: number): void {
    for (const th of this.table.querySelectorAll<HTMLTableCellElement>('th[data-key]')) {
      if (th.dataset.key === this.key) th.setAttribute('aria-sort', this.descending ? 'descending' : 'ascending');
      else th.removeAttribute('aria-sort');
    }
    const order = results.map((r, i) => ({ r, i, v: value(r, i, this.key, threshold) }));
    const sign = this.descending ? -1 : 1;
    order.sort((a, b) => {
      if (a.v === undefined || b.v === undefined) return a.v === undefined ? (b.v === undefined ? a.i - b.i : 1) : -1;
      const c = typeof a.v === 'number' && typeof b.v === 'number' ? a.v - b.v : String(a.v).localeCompare(String(b.v));
      return c === 0 ? a.i - b.i : sign * c;
    });
    this.body.replaceChildren(...order.map(({ r, i }) => row(r, i, threshold)));
  }
}

function cell(text: string, className = ''): HTMLTableCellElement {
  const td = document.createElement('td');
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function row(r: PageResult, index: number, threshold: number): HTMLTableRowElement {
  const tr = document.createElement('tr');
  tr.dataset.index = String(index);
  const label = r.prob === undefined ? '' : labelOf(r.prob, threshold);
  tr.append(
    cell(String(index + 1), 'num'),
    cell(r.name, 'file'),
    cell(r.prob === undefined ? '' : r.prob.toFixed(4), 'num prob'),
    cell(r.logit === undefined ? '' : r.logit.toFixed(3), 'num'),
    cell(label, label ? `label ${label}` : 'label'),
    cell(r.ms === undefined ? '' : `${Math.round(r.ms)} ms`, 'num'),
    cell(r.error ?? '', 'error'),
  );
  return tr;
}
