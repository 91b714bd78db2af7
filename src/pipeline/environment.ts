/**
 * What differs between Node and the browser around the one pipeline: how a GPU is acquired and
 * released, whether a string can be a file path, and how an image input is decoded. The browser's
 * is src/pipeline/browser.ts, Node's src/node/detector.ts; everything else is shared.
 */
import type { Gpu } from '../gpu/gpu.js';
import type { RgbImage } from '../image/pixels.js';
import type { ByteSource } from '../weights/safetensors.js';

/** An image as detect() and dnf() take it: decoded pixels, or what the environment decodes (a Blob or File; in Node also a path or bytes). */
export type ImageInput = RgbImage | Blob | string | Uint8Array | ArrayBuffer;

export interface DetectorEnvironment {
  /** A GPU the detector owns, and how to release it. */
  acquireGpu(): Promise<Gpu>;
  releaseGpu(gpu: Gpu): Promise<void>;
  /** Opens a file path (Node); absent where strings are URLs only (browsers). */
  openPath?(path: string): Promise<{ source: ByteSource; close(): Promise<void> }>;
  /** Relative URLs resolve against this (the page's address); absent in Node. */
  baseUrl?: string;
  /** Decodes one input (not an RgbImage: those pass as they are); `name` for errors. */
  decodeImage(gpu: Gpu, input: Exclude<ImageInput, RgbImage>, name: string): Promise<RgbImage>;
}

/** Whether `x` is decoded pixels already. */
export function isRgbImage(x: unknown): x is RgbImage {
  return typeof x === 'object' && x !== null && !(typeof Blob !== 'undefined' && x instanceof Blob) &&
    typeof (x as RgbImage).width === 'number' && typeof (x as RgbImage).height === 'number' && (x as RgbImage).data instanceof Uint8Array;
}

/** A name for input `i` in messages: a path, a File's name, else 'image i'. */
export function imageName(input: ImageInput, i: number): string {
  if (typeof input === 'string') return input;
  if (typeof File !== 'undefined' && input instanceof File && input.name) return input.name;
  return `image ${i}`;
}
