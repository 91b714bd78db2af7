/** Plain-text output of the detect and eval commands: CSV lines and aligned tables. */

/** One CSV field (RFC 4180): quoted when it holds a comma, a quote, a line break or edge spaces. */
export function csvField(v: string | number | null): string {
  const s = v === null ? '' : String(v);
  return /[",\r\n]|^\s|\s$/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function csvLine(values: ReadonlyArray<string | number | null>): string {
  return values.map(csvField).join(',');
}

/**
 * Rows (the first is the header) padded into columns two spaces apart; `right` columns are
 * right-aligned. The last column is not padded, so lines carry no trailing spaces.
 */
export function formatTable(rows: readonly string[][], right: readonly boolean[]): string[] {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  return rows.map((r) =>
    r.map((cell, c) => (c === r.length - 1 && !right[c] ? cell : right[c] ? cell.padStart(widths[c]) : cell.padEnd(widths[c]))).join('  ').trimEnd());
}
