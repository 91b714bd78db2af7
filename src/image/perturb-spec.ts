/**
 * The perturbation spec of `--perturb`, `--equalize` and `--robustness` (browser-safe): what it
 * says, how it is written, and how it names a cache folder.
 *
 *   SPEC := STEP ('+' STEP)* | 'none'
 *   STEP := 'jpeg:' Q       JPEG at IJG quality Q, an integer 1..100 (PIL's save(quality=Q))
 *         | 'blur:' SIGMA   Gaussian blur, sigma in pixels, 0 < SIGMA <= 64
 *         | 'resize:' F     bicubic scale by F, 0 < F <= 16 (then to the model size as usual)
 *         | 'crop:' N       centre crop to N x N pixels, an integer 1..65535
 * Steps apply left to right to the decoded image (src/image/perturb.ts). `formatSpec` writes the
 * normal form (numbers as JavaScript's shortest round-trip text), so parseSpec(formatSpec(s))
 * equals s and two spellings of one perturbation (blur:1.0, blur:1) name one cache folder.
 *
 * A robustness sweep (`--robustness "jpeg:95,75,50 blur:1,2 resize:0.5"`) is a list of groups
 * separated by spaces; a group is one kind with comma-separated strengths, or one SPEC.
 */
import { DnfError } from '../errors.js';

export type PerturbStep =
  | { kind: 'jpeg'; quality: number }
  | { kind: 'blur'; sigma: number }
  | { kind: 'resize'; factor: number }
  | { kind: 'crop'; size: number };

export type PerturbKind = PerturbStep['kind'];

/** Steps in order; empty: the image as decoded. */
export type PerturbSpec = PerturbStep[];

export const GRAMMAR = 'STEP[+STEP...] with STEP one of jpeg:Q (integer 1..100), blur:SIGMA (0 < SIGMA <= 64), resize:F (0 < F <= 16), crop:N (integer pixels), e.g. jpeg:75+blur:1';

const NUMBER = /^(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i;

interface KindRule {
  what: string;
  ok: (v: number) => boolean;
  make: (v: number) => PerturbStep;
  value: (s: PerturbStep) => number;
}

const RULES: Record<PerturbKind, KindRule> = {
  jpeg: { what: 'a JPEG quality (an integer 1..100)', ok: (v) => Number.isInteger(v) && v >= 1 && v <= 100, make: (quality) => ({ kind: 'jpeg', quality }), value: (s) => (s as { quality: number }).quality },
  blur: { what: 'a blur sigma (0 < SIGMA <= 64)', ok: (v) => v > 0 && v <= 64, make: (sigma) => ({ kind: 'blur', sigma }), value: (s) => (s as { sigma: number }).sigma },
  resize: { what: 'a resize factor (0 < F <= 16)', ok: (v) => v > 0 && v <= 16, make: (factor) => ({ kind: 'resize', factor }), value: (s) => (s as { factor: number }).factor },
  crop: { what: 'a crop size (an integer 1..65535)', ok: (v) => Number.isInteger(v) && v >= 1 && v <= 65535, make: (size) => ({ kind: 'crop', size }), value: (s) => (s as { size: number }).size },
};

const isKind = (k: string): k is PerturbKind => Object.prototype.hasOwnProperty.call(RULES, k);

/** The strength of a step: its quality, sigma, factor or size. */
export const strengthOf = (step: PerturbStep): number => RULES[step.kind].value(step);

function bad(option: string, text: string, part: string, why: string): never {
  const shown = (s: string) => JSON.stringify(s.length > 60 ? `${s.slice(0, 57)}...` : s);
  throw new DnfError(`${option} ${shown(text)}: ${shown(part)} ${why}; the grammar: ${GRAMMAR}`);
}

function parseStep(option: string, text: string, part: string): PerturbStep {
  if (!part) bad(option, text, part, 'is an empty step (a + at an end, or two in a row)');
  const colon = part.indexOf(':');
  const kind = colon < 0 ? part : part.slice(0, colon);
  if (!isKind(kind)) bad(option, text, part, colon < 0 ? 'is not KIND:VALUE' : `has an unknown kind ${JSON.stringify(kind)}`);
  const raw = part.slice(colon + 1);
  const v = NUMBER.test(raw) ? Number(raw) : NaN;
  if (colon < 0 || !Number.isFinite(v) || !RULES[kind].ok(v)) bad(option, text, part, `needs ${RULES[kind].what}`);
  return RULES[kind].make(v);
}

/** Parses SPEC; a bad one throws a one-line DnfError naming the bad part and the grammar. */
export function parseSpec(text: string, option = '--perturb'): PerturbSpec {
  return specIn(String(text).trim(), option, String(text).trim());
}

/** parseSpec of `s`, part of the option's text `whole` (named in errors). */
function specIn(s: string, option: string, whole: string): PerturbSpec {
  if (s === 'none') return [];
  if (!s) bad(option, whole, s, 'is empty');
  return s.split('+').map((part) => parseStep(option, whole, part.trim()));
}

/** The normal form: 'jpeg:75+blur:1', or 'none' for no step. */
export function formatSpec(spec: PerturbSpec): string {
  return spec.length ? spec.map((s) => `${s.kind}:${strengthOf(s)}`).join('+') : 'none';
}

/** A folder name for the spec's cached DNFs: 'jpeg-75+blur-1' (no ':' so that it is valid everywhere). */
export function cacheName(spec: PerturbSpec): string {
  return formatSpec(spec).replace(/:/g, '-');
}

/** One point of a sweep: a spec, and the kind and strength it is plotted at (combined specs: their text). */
export interface SweepEntry {
  spec: PerturbSpec;
  label: string;
  kind: string;
  strength: number | null;
}

/** Parses a --robustness sweep: 'jpeg:95,75,50 blur:1,2 resize:0.5' -> six entries. */
export function parseSweep(text: string, option = '--robustness'): SweepEntry[] {
  const s = String(text).trim();
  if (!s) bad(option, s, s, 'is empty');
  const out: SweepEntry[] = [];
  for (const group of s.split(/\s+/)) {
    const parts = group.includes(',') ? group.split(',') : [group];
    const [first, ...rest] = parts;
    const kind = first.slice(0, Math.max(0, first.indexOf(':')));
    if (rest.length && (first.includes('+') || !isKind(kind))) bad(option, s, group, 'lists strengths after something other than one KIND:VALUE');
    for (const [i, p] of parts.entries()) {
      const spec = specIn(i === 0 ? p : `${kind}:${p}`, option, s);
      const single = spec.length === 1 ? spec[0] : null;
      out.push({ spec, label: formatSpec(spec), kind: single ? single.kind : formatSpec(spec), strength: single ? strengthOf(single) : null });
    }
  }
  const labels = out.map((e) => e.label);
  const twice = labels.find((l, i) => labels.indexOf(l) !== i);
  if (twice) bad(option, s, twice, 'is listed twice');
  return out;
}
