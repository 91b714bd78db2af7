/**
 * Format bias: do the real and generated images of a set differ in how they are stored?
 *
 * The usual benchmarks keep real images as JPEG and generated ones as PNG (reference section 5),
 * so a classifier can learn the file format, or JPEG's quantisation, or the resize a size
 * difference brings, instead of the generator. Before computing anything, `dnf eval` and `dnf
 * train --images` profile each class's files from their headers only (no decode): the container
 * format from its signature (src/image/formats.ts), a JPEG's quality from its quantisation tables
 * (src/image/jpeg-header.ts), the image size. When the classes differ, a warning names both
 * profiles ("0_real: 1000 JPEG q75, 256x256; 1_fake: 1000 PNG, 256x256") and the fix.
 *
 * `--equalize jpeg:Q` re-encodes every input of both classes at quality Q before its DNF: the
 * profiles are then taken as the DNF sees the images (JPEG qQ, sizes unchanged), and a format
 * difference is gone.
 *
 * Differences reported: the share of a container format differs by more than 20 points between the
 * classes; both hold JPEGs whose median qualities differ by 5 or more; one class has one size for
 * 80% of its images or more, and the other has it at least 30 points less often.
 */
import { open, readFile } from 'node:fs/promises';
import { formatOf } from '../image/formats.js';
import { jpegQuality, readJpegHeader } from '../image/jpeg-header.js';
import type { QualityEstimate } from '../image/jpeg-tables.js';
import type { PerturbSpec } from '../image/perturb-spec.js';
import { imageDimensions } from './batch/memory.js';

/** What one file's header says; format 'unknown' when no signature matches. */
export interface FileProfile {
  format: string;
  /** JPEG only: the IJG quality of its tables. */
  quality: QualityEstimate | null;
  size: string | null;
}

const HEAD_BYTES = 1 << 17; // the markers before a JPEG's first scan, EXIF included, nearly always fit

async function readHead(path: string, n: number): Promise<Uint8Array> {
  const fh = await open(path, 'r');
  try {
    const buf = new Uint8Array(n);
    const { bytesRead } = await fh.read(buf, 0, n, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

/** PNG's IHDR and GIF's logical screen, read here; other formats' sizes come from sharp's header read. */
function headerSize(format: string, b: Uint8Array): { width: number; height: number } | null {
  const be32 = (i: number) => ((b[i] << 24) | (b[i + 1] << 16) | (b[i + 2] << 8) | b[i + 3]) >>> 0;
  if (format === 'PNG' && b.length >= 24 && String.fromCharCode(...b.subarray(12, 16)) === 'IHDR') return { width: be32(16), height: be32(20) };
  if (format === 'GIF' && b.length >= 10) return { width: b[6] | (b[7] << 8), height: b[8] | (b[9] << 8) };
  return null;
}

/** The header profile of one image file (unreadable files: format 'unreadable'). */
export async function profileFile(path: string): Promise<FileProfile> {
  let head: Uint8Array;
  try {
    head = await readHead(path, HEAD_BYTES);
  } catch {
    return { format: 'unreadable', quality: null, size: null };
  }
  const format = formatOf(head)?.name ?? 'unknown';
  if (format === 'JPEG') {
    let bytes = head;
    if (!readJpegHeader(bytes) && head.length === HEAD_BYTES) bytes = await readFile(path).catch(() => head); // markers beyond the first 128 KiB: read it all
    const jpeg = readJpegHeader(bytes);
    if (jpeg) return { format, quality: jpegQuality(bytes), size: `${jpeg.width}x${jpeg.height}` };
  }
  const dims = format === 'unknown' ? null : headerSize(format, head) ?? await imageDimensions(path);
  return { format, quality: null, size: dims ? `${dims.width}x${dims.height}` : null };
}

/** A profile as the DNF sees the image: after --equalize jpeg:Q, a JPEG of exactly quality Q. */
export function equalized(p: FileProfile, equalize: PerturbSpec | undefined): FileProfile {
  const jpeg = equalize?.find((s) => s.kind === 'jpeg');
  return jpeg && jpeg.kind === 'jpeg' ? { ...p, format: 'JPEG', quality: { quality: jpeg.quality, exact: true } } : p;
}

const median = (v: number[]) => {
  const s = [...v].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

function counts(keys: Array<string | null>): Map<string, number> {
  const m = new Map<string, number>();
  for (const k of keys) if (k !== null) m.set(k, (m.get(k) ?? 0) + 1);
  return new Map([...m].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)));
}

/** '75' for one exact quality, '~75' when estimated, '70-95' for several. */
function qualityText(qs: QualityEstimate[]): string {
  const values = [...new Set(qs.map((q) => q.quality))].sort((a, b) => a - b);
  if (values.length > 1) return ` q${values[0]}-${values.at(-1)}`;
  return values.length ? ` q${qs.every((q) => q.exact) ? '' : '~'}${values[0]}` : '';
}

/** '1000 JPEG q75, 256x256' or '600 JPEG q70-95, 400 PNG; 256x256 (900), 2 other sizes'. */
export function describeClass(files: FileProfile[]): string {
  const formats = [...counts(files.map((f) => f.format))].map(([format, n]) => {
    const qs = files.filter((f) => f.format === format && f.quality).map((f) => f.quality!);
    return `${n} ${format}${format === 'JPEG' ? qualityText(qs) : ''}`;
  });
  const sizes = [...counts(files.map((f) => f.size))];
  let sizeText = '';
  if (sizes.length === 1) sizeText = `, ${sizes[0][0]}`;
  else if (sizes.length > 1) sizeText = `; ${sizes[0][0]} (${sizes[0][1]}), ${sizes.length - 1} other size${sizes.length > 2 ? 's' : ''}`;
  return formats.join(', ') + sizeText;
}

/** The largest difference of shares (0..1) of one key between two samples. */
function shareGap(a: Array<string | null>, b: Array<string | null>): number {
  const ca = counts(a), cb = counts(b);
  let gap = 0;
  for (const k of new Set([...ca.keys(), ...cb.keys()])) gap = Math.max(gap, Math.abs((ca.get(k) ?? 0) / a.length - (cb.get(k) ?? 0) / b.length));
  return gap;
}

/**
 * True when `a` has one size for at least 80% of its images and `b` has that size at least 30
 * points less often (all 256x256 against 512x512 or against sizes all over). Classes of varied
 * sizes on both sides are not judged: no size stands for a class there.
 */
function sizeGap(a: FileProfile[], b: FileProfile[]): boolean {
  const [top] = counts(a.map((f) => f.size));
  if (!top || top[1] < 0.8 * a.length) return false;
  const shareInB = b.filter((f) => f.size === top[0]).length / b.length;
  return shareInB <= top[1] / a.length - 0.3;
}

export interface BiasFinding {
  subset: string;
  real: string;
  fake: string;
  /** What differs: 'format', 'JPEG quality', 'size'. */
  differences: string[];
  /** The one-line warning, naming the fix. */
  message: string;
}

/** The finding for one subset's real and generated profiles, or null when the classes look alike. */
export function compareClasses(subset: string, real: FileProfile[], fake: FileProfile[], names: [string, string] = ['0_real', '1_fake']): BiasFinding | null {
  if (!real.length || !fake.length) return null;
  const differences: string[] = [];
  if (shareGap(real.map((f) => f.format), fake.map((f) => f.format)) > 0.2) differences.push('format');
  const q = (files: FileProfile[]) => files.filter((f) => f.quality).map((f) => f.quality!.quality);
  const [qr, qf] = [q(real), q(fake)];
  if (!differences.length && qr.length && qf.length && Math.abs(median(qr) - median(qf)) >= 5) differences.push('JPEG quality');
  if (sizeGap(real, fake) || sizeGap(fake, real)) differences.push('size');
  if (!differences.length) return null;
  const quality = Math.round(median(qr.length ? qr : qf.length ? qf : [75]));
  const fixes: string[] = [];
  if (differences.includes('format') || differences.includes('JPEG quality')) fixes.push(`re-encode both classes at one quality with --equalize jpeg:${quality}`);
  if (differences.includes('size')) {
    const sides = [...real, ...fake].flatMap((f) => (f.size ? f.size.split('x').map(Number) : []));
    fixes.push(`bring both to one size before the DNF (e.g. --perturb crop:${Math.min(256, ...sides)}), since the resize to the model's input treats different sizes differently`);
  }
  const [realText, fakeText] = [describeClass(real), describeClass(fake)];
  const where = subset ? ` in ${subset}` : '';
  const message = `format bias${where}: ${names[0]}: ${realText}; ${names[1]}: ${fakeText}: the ${differences.join(' and ')} alone can tell the classes apart, so the metrics may measure it instead of the generator; ${fixes.join('; ')}`;
  return { subset, real: realText, fake: fakeText, differences, message };
}

/** Profiles `paths` a few at a time (header reads). */
async function profileAll(paths: string[]): Promise<FileProfile[]> {
  const out = new Array<FileProfile>(paths.length);
  let next = 0;
  const worker = async () => {
    while (next < paths.length) {
      const i = next++;
      out[i] = await profileFile(paths[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(16, paths.length) }, worker));
  return out;
}

/** One finding per subset whose classes differ, the profiles taken as --equalize leaves them. */
export async function findFormatBias(
  subsets: ReadonlyArray<{ name: string; items: ReadonlyArray<{ path: string; label: 0 | 1 }> }>,
  equalize?: PerturbSpec,
): Promise<BiasFinding[]> {
  const findings: BiasFinding[] = [];
  for (const s of subsets) {
    const profiles = (await profileAll(s.items.map((it) => it.path))).map((p) => equalized(p, equalize));
    const of = (label: 0 | 1) => profiles.filter((_, i) => s.items[i].label === label);
    const f = compareClasses(subsets.length > 1 ? s.name : '', of(0), of(1));
    if (f) findings.push({ ...f, subset: s.name });
  }
  return findings;
}
