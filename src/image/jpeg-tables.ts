/**
 * The IJG quantisation tables (JPEG standard Annex K, as libjpeg's jcparam.c holds them) and their
 * quality scaling, in both directions (browser-safe):
 *   - `ijgTables(Q)`: the two tables `jpeg_set_quality(Q, force_baseline=TRUE)` writes, which is what
 *     PIL's `save(quality=Q)` (and libjpeg-turbo's cjpeg -quality Q) puts in a file;
 *   - `estimateQuality(tables)`: the quality a file's luminance table came from, by inverting that
 *     scaling (scale = 100 T / base per coefficient, median over the 64), then checked against the
 *     exact tables of the qualities nearby. Files written by other encoders (cameras, Photoshop,
 *     mozjpeg's other tables) get the nearest IJG quality, flagged as not exact.
 * Tables here are in natural (row-major) order; DQT markers store zigzag order (see ZIGZAG).
 */

/** Annex K luminance table (K.1), natural order. */
export const STD_LUMINANCE: readonly number[] = [
  16, 11, 10, 16, 24, 40, 51, 61,
  12, 12, 14, 19, 26, 58, 60, 55,
  14, 13, 16, 24, 40, 57, 69, 56,
  14, 17, 22, 29, 51, 87, 80, 62,
  18, 22, 37, 56, 68, 109, 103, 77,
  24, 35, 55, 64, 81, 104, 113, 92,
  49, 64, 78, 87, 103, 121, 120, 101,
  72, 92, 95, 98, 112, 100, 103, 99,
];

/** Annex K chrominance table (K.2), natural order. */
export const STD_CHROMINANCE: readonly number[] = [
  17, 18, 24, 47, 99, 99, 99, 99,
  18, 21, 26, 66, 99, 99, 99, 99,
  24, 26, 56, 99, 99, 99, 99, 99,
  47, 66, 99, 99, 99, 99, 99, 99,
  ...new Array<number>(32).fill(99),
];

/** ZIGZAG[k]: the natural index of the k-th coefficient in zigzag (file) order. */
export const ZIGZAG: readonly number[] = [
  0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5,
  12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21, 28,
  35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51,
  58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
];

/** libjpeg's jpeg_quality_scaling: quality 1..100 to a percentage scale of the base tables. */
export function qualityScale(quality: number): number {
  const q = Math.min(100, Math.max(1, Math.trunc(quality)));
  return q < 50 ? Math.trunc(5000 / q) : 200 - 2 * q;
}

/** jpeg_add_quant_table with force_baseline: (base * scale + 50) / 100, kept in 1..255. */
function scaled(base: readonly number[], scale: number): number[] {
  return base.map((b) => Math.min(255, Math.max(1, Math.trunc((b * scale + 50) / 100))));
}

export interface QuantTables {
  /** Natural order, 64 entries each. */
  luma: number[];
  chroma: number[];
}

/** The luminance and chrominance tables of IJG quality Q (1..100), natural order. */
export function ijgTables(quality: number): QuantTables {
  const s = qualityScale(quality);
  return { luma: scaled(STD_LUMINANCE, s), chroma: scaled(STD_CHROMINANCE, s) };
}

export interface QualityEstimate {
  /** The IJG quality, 1..100. */
  quality: number;
  /** True when the table equals IJG quality `quality`'s exactly (libjpeg / PIL / sharp output). */
  exact: boolean;
}

const same = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((v, i) => v === b[i]);

/**
 * The IJG quality of a luminance table (natural order, 64 entries); with `chroma`, an exact match
 * needs both tables to agree. Qualities whose tables coincide (the lowest ones, clamped to 255)
 * resolve to the highest such quality. Without an exact match: the IJG scaling inverted, from the
 * median over the 64 coefficients of scale = 100 T / base.
 */
export function estimateQuality(luma: readonly number[], chroma?: readonly number[]): QualityEstimate {
  if (luma.length !== 64) throw new Error(`estimateQuality: a table has 64 entries, got ${luma.length}`);
  for (let q = 100; q >= 1; q--) {
    const t = ijgTables(q);
    if (same(t.luma, luma) && (!chroma || same(t.chroma, chroma))) return { quality: q, exact: true };
  }
  const ratios = luma.map((t, i) => (100 * t) / STD_LUMINANCE[i]).sort((a, b) => a - b);
  const scale = Math.max(1e-9, (ratios[31] + ratios[32]) / 2);
  // scale = 200 - 2Q for Q >= 50 (scale <= 100), else 5000 / Q.
  const quality = Math.min(100, Math.max(1, Math.round(scale <= 100 ? (200 - scale) / 2 : 5000 / scale)));
  return { quality, exact: false };
}
