/**
 * What a JPEG file's header says, read from its markers without decoding (browser-safe): the
 * frame size (SOFn), the quantisation tables (DQT), hence the IJG quality they came from
 * (src/image/jpeg-tables.ts). The walk stops at the first scan (SOS).
 */
import { estimateQuality, ZIGZAG, type QualityEstimate } from './jpeg-tables.js';

export interface JpegHeader {
  width: number;
  height: number;
  /** Table id -> 64 entries in natural order. */
  tables: Map<number, number[]>;
  /** Component ids in frame order, with their table ids. */
  components: Array<{ id: number; table: number }>;
}

const SOF = new Set([0xc0, 0xc1, 0xc2, 0xc3, 0xc5, 0xc6, 0xc7, 0xc9, 0xca, 0xcb, 0xcd, 0xce, 0xcf]);

/** The header of a JPEG file's bytes (or its first bytes), or null when it is not one or is cut before the frame. */
export function readJpegHeader(b: Uint8Array): JpegHeader | null {
  if (!(b.length >= 4 && b[0] === 0xff && b[1] === 0xd8)) return null;
  const tables = new Map<number, number[]>();
  let frame: Omit<JpegHeader, 'tables'> | null = null;
  for (let i = 2; i + 4 <= b.length; ) {
    if (b[i] !== 0xff) return frame && { ...frame, tables };
    const marker = b[i + 1];
    if (marker === 0xff) {
      i++;
      continue;
    }
    if (marker === 0xd8 || (marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) {
      i += 2;
      continue;
    }
    const len = (b[i + 2] << 8) | b[i + 3];
    const end = i + 2 + len;
    if (marker === 0xda || marker === 0xd9) break;
    if (marker === 0xdb) {
      for (let p = i + 4; p < Math.min(end, b.length); ) {
        const precision = b[p] >> 4, id = b[p] & 15;
        const size = precision ? 2 : 1;
        if (p + 1 + 64 * size > b.length) break;
        const t = new Array<number>(64);
        for (let k = 0; k < 64; k++) t[ZIGZAG[k]] = size === 2 ? (b[p + 1 + 2 * k] << 8) | b[p + 2 + 2 * k] : b[p + 1 + k];
        tables.set(id, t);
        p += 1 + 64 * size;
      }
    } else if (SOF.has(marker) && i + 10 <= b.length) {
      const n = b[i + 9];
      const components = [];
      for (let c = 0; c < n && i + 12 + 3 * c < b.length; c++) components.push({ id: b[i + 10 + 3 * c], table: b[i + 12 + 3 * c] });
      frame = { height: (b[i + 5] << 8) | b[i + 6], width: (b[i + 7] << 8) | b[i + 8], components };
    }
    i = end;
  }
  return frame && { ...frame, tables };
}

/** The IJG quality of a JPEG's tables (the first component's table, and the second's for colour), or null. */
export function jpegQuality(b: Uint8Array): QualityEstimate | null {
  const h = readJpegHeader(b);
  if (!h || !h.components.length) return null;
  const luma = h.tables.get(h.components[0].table);
  if (!luma) return null;
  const chroma = h.components.length > 1 ? h.tables.get(h.components[1].table) : undefined;
  return estimateQuality(luma, chroma);
}
