/**
 * Where model weights come from, as the library takes them: a path (Node), a URL (read in ranges:
 * src/pipeline/http-source.ts), a Blob or File, bytes (ArrayBuffer, Uint8Array, Node Buffer), or
 * a ByteSource of the caller's own. Each becomes a ByteSource whose reads report progress.
 * How a path is opened is the environment's (src/pipeline/environment.ts). Browser-safe.
 */
import { DnfError } from '../errors.js';
import { blobSource, bytesSource, type ByteSource } from '../weights/safetensors.js';
import type { DetectorEnvironment } from './environment.js';
import { openUrlSource } from './http-source.js';

/** Weights as createDetector takes them. */
export type ModelSource = string | URL | Blob | ArrayBuffer | Uint8Array | ByteSource;

/** Which model a progress report is about. */
export type ModelKind = 'unet' | 'classifier';

/** Loading progress: 'download' while bytes arrive from a URL, 'read' while the model reads them. */
export interface LoadProgress {
  model: ModelKind;
  stage: 'download' | 'read';
  /** Bytes so far, and the total (0: unknown). */
  done: number;
  total: number;
}

/** An opened source; close() releases a file handle (a no-op for the others). */
export interface OpenedSource {
  source: ByteSource;
  close(): Promise<void>;
}

const isByteSource = (s: unknown): s is ByteSource =>
  typeof s === 'object' && s !== null && typeof (s as ByteSource).read === 'function' && typeof (s as ByteSource).size === 'number' && typeof (s as ByteSource).name === 'string';

/** http:, https:, blob: and data: addresses are fetched; other strings are paths where the environment has them. */
const FETCHED = /^(https?|blob|data):/i;

/** `src`, reporting the bytes read so far against its size after each read. */
export function counted(src: ByteSource, onProgress: (done: number, total: number) => void): ByteSource {
  let done = 0;
  return {
    name: src.name,
    size: src.size,
    read: async (offset, length) => {
      const bytes = await src.read(offset, length);
      done += length;
      onProgress(Math.min(done, src.size), src.size);
      return bytes;
    },
  };
}

/** Opens `src` as the `kind` model's ByteSource; DnfErrors name it and the fix. */
export async function openModelSource(src: ModelSource, kind: ModelKind, env: DetectorEnvironment, onProgress?: (p: LoadProgress) => void): Promise<OpenedSource> {
  const report = (stage: LoadProgress['stage']) => (done: number, total: number) => onProgress?.({ model: kind, stage, done, total });
  const reading = (source: ByteSource, close = async () => {}): OpenedSource => ({ source: onProgress ? counted(source, report('read')) : source, close });
  if (typeof src === 'string' || src instanceof URL) {
    const text = String(src);
    if (!FETCHED.test(text) && env.openPath) {
      const file = await env.openPath(text);
      return reading(file.source, file.close);
    }
    let url: string;
    try {
      url = new URL(text, env.baseUrl).href;
    } catch {
      throw new DnfError(`${text}: not a valid address for the ${kind} weights; give an https:// URL${env.openPath ? ', or a file path' : ', or a File'}`);
    }
    const source = await openUrlSource(url, { onProgress: report('download') });
    // Range reads are the download itself; a whole download (a Blob) is read from memory afterwards.
    return source.ranged ? { source, close: async () => {} } : reading(source);
  }
  if (typeof Blob !== 'undefined' && src instanceof Blob) {
    const name = typeof File !== 'undefined' && src instanceof File && src.name ? src.name : `${kind} (Blob)`;
    return reading(blobSource(name, src));
  }
  if (src instanceof ArrayBuffer) return reading(bytesSource(`${kind} (ArrayBuffer)`, new Uint8Array(src)));
  if (src instanceof Uint8Array) return reading(bytesSource(`${kind} (bytes)`, src));
  if (isByteSource(src)) return reading(src);
  throw new DnfError(`the ${kind} source is ${src === null ? 'null' : typeof src}; give ${env.openPath ? 'a path, ' : ''}a URL, a Blob or File, an ArrayBuffer or Uint8Array, or a ByteSource`);
}
