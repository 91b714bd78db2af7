/**
 * Text for one-line error messages built from untrusted file content. Every helper here bounds
 * both its output (a name of 50 KB, a header value of a million items, an integer of 157,000 digits
 * become a few dozen characters) and its work (nesting is followed a few levels only, never
 * recursively without bound, and cycles cannot loop), so a message never costs more than a glance.
 */

/** Longest name shown in a message, in characters (quoted: before escapes). */
const NAME_CHARS = 100;
const QUOTED_CHARS = 60;
/** Longest JSON snippet of a header value shown in a message. */
const SNIPPET_CHARS = 80;
/** Levels and items of a nested value that a snippet or a key shows. */
const SHOWN_DEPTH = 3;
const SHOWN_ITEMS = 6;
/** Integers with more digits than this are shown by their size only (decimal conversion is not free). */
const SHOWN_DIGITS = 30;

/**
 * A name from the file, safe for a one-line message (control characters replaced, length capped).
 * One argument only, so that it can be passed to map().
 */
export function printable(s: string): string {
  return clipText(s, NAME_CHARS);
}

/** `s` with control characters replaced, cut to `max` characters (then marked with '...'). */
export function clipText(s: string, max: number): string {
  const head = s.length > max ? s.slice(0, max) : s;
  const t = head.replace(/[\x00-\x1f\x7f-\x9f\u2028\u2029]/g, '?');
  return s.length > max ? `${t}...` : t;
}

/**
 * A name from the file in double quotes, as JSON writes it for quotes, backslashes, newlines and
 * tabs (other control characters become '?'), cut to `max` characters first: at most 2 * max + 5.
 */
export function quoted(s: string, max = QUOTED_CHARS): string {
  const cut = s.length > max;
  const t = (cut ? s.slice(0, max) : s).replace(/["\\\n\r\t]|[\x00-\x1f\x7f-\x9f\u2028\u2029]/g, (c) => QUOTE_ESCAPES[c] ?? '?');
  return `"${t}${cut ? '...' : ''}"`;
}
const QUOTE_ESCAPES: Record<string, string> = { '"': '\\"', '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/** An integer for a message: its digits when short, else its size in bits. */
export function integerText(v: number | bigint): string {
  if (typeof v === 'number') return String(v);
  const neg = v < 0n;
  const hex = (neg ? -v : v).toString(16); // linear, unlike the decimal conversion
  if (hex.length * 1.2041 <= SHOWN_DIGITS) return v.toString(); // 16^k < 10^(1.2041 k)
  return `${neg ? 'a negative' : 'an'} integer of ${hex.length * 4 - Math.clz32(parseInt(hex[0], 16)) + 28} bits`;
}

/**
 * A short JSON-like rendering of a parsed value (a safetensors header field) for a message:
 * at most SHOWN_DEPTH levels and SHOWN_ITEMS items per level, SNIPPET_CHARS characters in all.
 */
export function snippet(v: unknown, max = SNIPPET_CHARS): string {
  const s = render(v, 0);
  return s.length > max ? `${s.slice(0, max)}...` : s;
}

function render(v: unknown, depth: number): string {
  if (v === undefined) return 'undefined';
  if (v === null || typeof v === 'boolean') return String(v);
  if (typeof v === 'number' || typeof v === 'bigint') return integerText(v);
  if (typeof v === 'string') return quoted(v, 40);
  if (depth >= SHOWN_DEPTH) return Array.isArray(v) ? '[...]' : '{...}';
  if (Array.isArray(v)) {
    const items = v.slice(0, SHOWN_ITEMS).map((x) => render(x, depth + 1));
    return `[${items.join(',')}${v.length > SHOWN_ITEMS ? `,... (${v.length} items)` : ''}]`;
  }
  if (typeof v === 'object') {
    const items: string[] = [];
    let n = 0;
    for (const k in v) {
      if (!Object.prototype.hasOwnProperty.call(v, k)) continue;
      if (n++ < SHOWN_ITEMS) items.push(`${quoted(k, 20)}:${render((v as Record<string, unknown>)[k], depth + 1)}`);
      else break;
    }
    return `{${items.join(',')}${n > SHOWN_ITEMS ? ',...' : ''}}`;
  }
  return typeof v;
}

/** A list of dimensions for a message: [d0,d1,...] with at most 8 shown. */
export function dims(shape: readonly unknown[]): string {
  const shown = shape.slice(0, 8).map((d) => (typeof d === 'number' || typeof d === 'bigint' ? integerText(d) : '?'));
  return `[${shown.join(',')}${shape.length > 8 ? `,... (${shape.length} dims)` : ''}]`;
}

/** A message part from an arbitrary error, on one line and capped. */
export function oneLine(e: unknown, max = 160): string {
  const s = (e instanceof Error ? e.message : String(e)).slice(0, 4 * max).replace(/\s+/g, ' ');
  return s.length > max ? `${s.slice(0, max - 3)}...` : s;
}
