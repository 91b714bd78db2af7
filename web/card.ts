/** One image's result as a card: the image, its DNF as a picture, the verdict, the time taken. */
import type { RgbImage } from '../src/index.js';
import { opaqueImageData } from './png.js';

export interface CardData {
  name: string;
  /** The decoded image: what the engine saw (stored pixel order, alpha dropped). */
  input?: RgbImage;
  /** The 8-bit DNF (what `dnf extract` writes as PNG). */
  dnf?: RgbImage;
  /** The classifier's P(generated) and its label, when a classifier is loaded. */
  prob?: number;
  label?: string;
  /** Milliseconds from decoding to the last result read back. */
  ms?: number;
  /** Why this image has no result (one sentence). */
  error?: string;
}

/** A canvas holding the RGB pixels exactly (alpha 255); small ones are enlarged without smoothing. */
export function rgbCanvas(img: RgbImage): HTMLCanvasElement {
  const canvas = document.createElement('canvas');
  canvas.width = img.width;
  canvas.height = img.height;
  canvas.getContext('2d')!.putImageData(opaqueImageData(img), 0, 0);
  if (Math.max(img.width, img.height) < 128) canvas.style.imageRendering = 'pixelated';
  return canvas;
}

function el<K extends keyof HTMLElementTagNameMap>(tag: K, className: string, text?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

function figure(caption: string, content: HTMLElement): HTMLElement {
  const f = el('figure', 'pic');
  f.append(content, el('figcaption', '', caption));
  return f;
}

/** A link that saves the DNF as a lossless PNG named after the image. */
function downloadLink(canvas: HTMLCanvasElement, name: string): HTMLAnchorElement {
  const a = el('a', 'save', 'save DNF PNG');
  a.download = `${name.replace(/\.[^.]*$/, '')}.dnf.png`;
  canvas.toBlob((blob) => {
    if (blob) a.href = URL.createObjectURL(blob);
  }, 'image/png');
  return a;
}

export function renderCard(d: CardData): HTMLElement {
  const card = el('article', d.error ? 'card failed' : 'card');
  card.append(el('h3', 'name', d.name));
  if (d.error || !d.input || !d.dnf) {
    card.append(el('p', 'error', d.error ?? ''));
    return card;
  }
  const dnf = rgbCanvas(d.dnf);
  dnf.className = 'dnf';
  const pics = el('div', 'pics');
  pics.append(figure(`image ${d.input.width}×${d.input.height}`, rgbCanvas(d.input)), figure(`DNF ${d.dnf.width}×${d.dnf.height}`, dnf));
  card.append(pics);
  if (d.prob !== undefined) {
    const verdict = el('p', 'facts');
    verdict.append(el('strong', `verdict ${d.label}`, d.label), ` P(generated) = ${d.prob.toFixed(4)}`);
    card.append(verdict);
  }
  const facts = el('p', 'facts');
  facts.append(`${Math.round(d.ms ?? 0)} ms · `, downloadLink(dnf, d.name));
  card.append(facts);
  return card;
}
