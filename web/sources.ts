/**
 * Where the page gets weight files: a File picked from disk (read lazily, slice by slice, as the
 * model asks for each tensor) or a URL (downloaded once into a Blob, streaming, with progress).
 * Both end up as a ByteSource; `counted` reports how much of it the model has read so far. A
 * Cancel (progress.ts) stops a download at its next chunk, and the rest of the body is not fetched.
 */
import { blobSource, DnfError, type ByteSource } from '../src/index.js';
import { Cancelled } from './progress.js';

/** Bytes done out of total (total 0: unknown). */
export type OnProgress = (done: number, total: number) => void;

export type WeightsChoice = { kind: 'file'; file: File } | { kind: 'url'; url: string };

/** A key that changes when the user picks other weights. */
export function choiceKey(choice: WeightsChoice): string {
  return choice.kind === 'file' ? `file:${choice.file.name}:${choice.file.size}:${choice.file.lastModified}` : `url:${choice.url}`;
}

/** The ByteSource of the choice; URLs are downloaded first (onDownload reports the bytes received). */
export async function openChoice(choice: WeightsChoice, onDownload: OnProgress): Promise<ByteSource> {
  if (choice.kind === 'file') return blobSource(choice.file.name, choice.file);
  let url: URL;
  try {
    url = new URL(choice.url, location.href);
  } catch {
    throw new DnfError(`${choice.url}: not a valid address; give an https:// URL, or pick the file from disk`);
  }
  const name = decodeURIComponent(url.pathname.split('/').pop() || url.host);
  return blobSource(name, await download(url.href, onDownload));
}

/** `src`, reporting the bytes read so far against its size after each read. */
export function counted(src: ByteSource, onProgress: OnProgress): ByteSource {
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

/** The body of `url` as a Blob, received in chunks (the browser may keep a large Blob on disk). */
export async function download(url: string, onProgress: OnProgress): Promise<Blob> {
  let response: Response;
  try {
    response = await fetch(url);
  } catch (e) {
    throw new DnfError(`${url}: download failed (${(e as Error).message}); check the address, and that its server allows downloads from other sites (CORS)`);
  }
  if (!response.ok || !response.body) {
    throw new DnfError(`${url}: the server answered ${response.status} ${response.statusText}; check the address`);
  }
  // Content-Length counts encoded bytes; with a compressed transfer the total is only a hint.
  const total = Number(response.headers.get('content-length')) || 0;
  const chunks: Uint8Array[] = [];
  let done = 0;
  const reader = response.body.getReader();
  try {
    onProgress(0, total);
    for (;;) {
      const { done: end, value } = await reader.read();
      if (end) break;
      chunks.push(value);
      done += value.byteLength;
      onProgress(done, Math.max(total, done));
    }
  } catch (e) {
    // Stopped here (a Cancel, or a broken connection): the rest of the body is not fetched in the background.
    void reader.cancel().catch(() => undefined);
    if (e instanceof Cancelled) throw e;
    throw new DnfError(`${url}: the download broke off after ${done} bytes (${(e as Error).message}); try again`);
  }
  return new Blob(chunks as BlobPart[]);
}
