/** Workgroup counts for flat work: splits into x and y when x alone would exceed the limit. */
export function grid1d(items: number, wg: number, maxPerDim: number): { workgroups: [number, number]; row: number } {
  const groups = Math.ceil(items / wg);
  if (groups <= maxPerDim) return { workgroups: [groups, 1], row: groups * wg };
  const y = Math.ceil(groups / maxPerDim);
  const x = Math.ceil(groups / y);
  return { workgroups: [x, y], row: x * wg };
}

/** Smallest power-of-two workgroup (8..64) that covers `items` invocations: small dispatches get small workgroups. */
export function workgroupFor(items: number): number {
  return Math.min(64, Math.max(8, 2 ** Math.ceil(Math.log2(Math.max(1, items)))));
}

export function ceilDiv(a: number, b: number): number {
  return Math.ceil(a / b);
}
