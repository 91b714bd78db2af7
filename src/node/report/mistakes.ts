/**
 * The most confident mistakes of an evaluation, for the report's grid: real images called
 * generated (highest P(generated) first) and generated images called real (lowest first), at most
 * `limit` of each, ties in file order, so the choice does not depend on the order batches finish.
 *
 * The collector sees every classified image with the DNF the classifier read and keeps the DNFs
 * of the current top `limit` of each kind only (copies: the caller's buffers may be reused), so
 * memory stays bounded whatever the number of images. Thumbnails (sharp: fit inside 128 px,
 * JPEG) of the source image, decoded again as the pipeline decodes it, and of the DNF become
 * data: URIs at the end.
 */
import sharp from 'sharp';
import { decodeImageFile } from '../../image/decode-node.js';
import type { RgbImage } from '../../image/pixels.js';

export const MISTAKES_PER_KIND = 16;
export const THUMBNAIL_PX = 128;

export interface Mistake {
  file: string;
  subset: string;
  label: 0 | 1;
  prob: number;
}

/** A mistake as the report shows it: thumbnails as data: URIs (the source's null when it cannot be read again, or the input is the DNF). */
export interface MistakeCard extends Mistake {
  source: string | null;
  dnf: string;
}

export interface MistakeCards {
  /** The threshold the verdicts were taken at. */
  threshold: number;
  limit: number;
  /** How many mistakes of each kind there were in all. */
  realCalledFakeTotal: number;
  fakeCalledRealTotal: number;
  realCalledFake: MistakeCard[];
  fakeCalledReal: MistakeCard[];
}

interface Kept extends Mistake {
  confidence: number;
  dnf: RgbImage;
}

/** Most confident first, then file order. */
const before = (a: Kept, b: Kept) => b.confidence - a.confidence || (a.file < b.file ? -1 : a.file > b.file ? 1 : 0);

export class MistakeCollector {
  private readonly kept: [Kept[], Kept[]] = [[], []];
  private readonly totals = [0, 0];

  /** `sourceIsDnf`: the inputs are DNF images themselves (no source image to show). */
  constructor(readonly threshold: number, readonly limit = MISTAKES_PER_KIND, readonly sourceIsDnf = false) {}

  /** One classified image and its DNF; kept when it is among the most confident mistakes so far. */
  offer(m: Mistake, dnf: RgbImage): void {
    const calledFake = m.prob > this.threshold;
    if (calledFake === (m.label === 1)) return;
    const list = this.kept[m.label];
    this.totals[m.label]++;
    const entry: Kept = { ...m, confidence: m.label === 0 ? m.prob : -m.prob, dnf };
    if (list.length >= this.limit && before(entry, list[list.length - 1]) >= 0) return;
    list.push({ ...entry, dnf: { width: dnf.width, height: dnf.height, data: dnf.data.slice() } });
    list.sort(before);
    if (list.length > this.limit) list.pop();
  }

  /** The thumbnails of the mistakes kept. */
  async cards(): Promise<MistakeCards> {
    const card = async (k: Kept): Promise<MistakeCard> => ({
      file: k.file,
      subset: k.subset,
      label: k.label,
      prob: k.prob,
      source: this.sourceIsDnf ? null : await decodeImageFile(k.file).then(thumbnail, () => null),
      dnf: await thumbnail(k.dnf),
    });
    const all = async (list: Kept[]) => {
      const out: MistakeCard[] = [];
      for (const k of list) out.push(await card(k)); // one at a time: a source may be large
      return out;
    };
    return {
      threshold: this.threshold,
      limit: this.limit,
      realCalledFakeTotal: this.totals[0],
      fakeCalledRealTotal: this.totals[1],
      realCalledFake: await all(this.kept[0]),
      fakeCalledReal: await all(this.kept[1]),
    };
  }
}

/** An RGB image fit inside THUMBNAIL_PX square (never enlarged), as a JPEG data: URI. */
export async function thumbnail(img: RgbImage): Promise<string> {
  const jpeg = await sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } })
    .resize({ width: THUMBNAIL_PX, height: THUMBNAIL_PX, fit: 'inside', withoutEnlargement: true })
    .jpeg({ quality: 85 })
    .toBuffer();
  return `data:image/jpeg;base64,${jpeg.toString('base64')}`;
}
