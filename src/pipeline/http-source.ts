/**
 * Weights at a URL as a ByteSource read in ranges (HTTP Range requests, `bytes=a-b`), as the Node
 * reader reads files lazily: a model reads the header, then one tensor after another, so only the
 * bytes asked for travel, and the progress is the bytes received against the file's size.
 *
 * Reads are coalesced: each request fetches at least `windowBytes` (1 MiB) from where the read
 * starts, and the last few windows are kept (not reads larger than a window), so the many small tensors (norms, biases) of a model
 * cost a few requests, while a large tensor is one request of its own size. A server that answers
 * the first range request with 200 (no ranges) is downloaded once, whole, into a Blob (which the
 * browser may keep on disk), with progress. Browser-safe (fetch is global in Node >= 18 too).
 */
import { DnfError } from '../errors.js';
import { blobSource, checkRange, type ByteSource } from '../weights/safetensors.js';

/** Bytes received out of total (total 0: unknown). */
export type ByteProgress = (done: number, total: number) => void;

export interface UrlSourceOptions {
  /** Called as bytes arrive. */
  onProgress?: ByteProgress;
  /** Least bytes per range request (default 1 MiB). */
  windowBytes?: number;
  /** Windows kept for later reads (default 4). */
  windows?: number;
}

/** The URL's bytes; `ranged`: read in ranges (else downloaded whole into a Blob first). */
export interface UrlSource extends ByteSource {
  readonly ranged: boolean;
}

const DEFAULT_WINDOW = 1 << 20;
/** The URL's bytes; `ranged`: read in ranges (else downloaded whole into a Blob first). */
export interface UrlSource extends ByteSource {
  readonly ranged: boolean;
}

const DEFAULT_WINDOWS = 4;

/** The last path segment of `url`, decoded, for messages ('lsun_bedroom.safetensors'). */
export function urlFileName(url: string): string {
  try {
    const u = new URL(url);
    return decodeURIComponent(u.pathname.split('/').pop() || u.host) || url;
  } catch {
    return url;
  }
}

/** A one-line DnfError for a failed request to `url`. */
function requestFailed(url: string, e: unknown): DnfError {
  const why = (e instanceof Error ? (e.cause instanceof Error ? `${e.message}: ${e.cause.message}` : e.message) : String(e)).replace(/\s+/g, ' ');
  return new DnfError(`${url}: download failed (${why}); check the address and the connection, and that its server allows downloads from other sites (CORS)`);
}

/** GET `url` (a range of it); a request that fails before any answer is tried once more (a kept-alive connection the server closed meanwhile). */
async function get(url: string, range?: [number, number]): Promise<Response> {
  let response: Response | undefined;
  const init = range ? { headers: { Range: `bytes=${range[0]}-${range[1] - 1}` } } : undefined;
  for (let attempt = 0; !response; attempt++) {
    try {
      response = await fetch(url, init);
    } catch (e) {
      if (attempt > 0) throw requestFailed(url, e);
    }
  }
  if (!response.ok) {
    await response.body?.cancel().catch(() => {});
    throw new DnfError(`${url}: the server answered ${response.status}${response.statusText ? ` ${response.statusText}` : ''}; check the address`);
  }
  return response;
}

/** 'bytes 0-1023/4096' -> [0, 1024, 4096]; null when absent or malformed. */
function contentRange(header: string | null): [number, number, number] | null {
  const m = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(header?.trim() ?? '');
  if (!m) return null;
  const [a, b, total] = [Number(m[1]), Number(m[2]), Number(m[3])];
  return b >= a && total > b ? [a, b + 1, total] : null;
}

/** The body of `response`, chunk by chunk, reporting each chunk's bytes. */
async function readBody(url: string, response: Response, onChunk: (n: number) => void): Promise<Uint8Array[]> {
  const chunks: Uint8Array[] = [];
  let got = 0;
  if (!response.body) return [new Uint8Array(await response.arrayBuffer())];
  const reader = response.body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      got += value.byteLength;
      onChunk(value.byteLength);
    }
  } catch (e) {
    throw new DnfError(`${url}: the download broke off after ${got} bytes (${(e as Error).message}); try again`);
  }
  return chunks;
}

function concat(chunks: Uint8Array[]): Uint8Array {
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

/**
 * Opens `url` (see the header): one range request for its first window tells whether the server
 * serves ranges and the file's size. DnfErrors name the URL and the fix.
 */
export async function openUrlSource(url: string, opts: UrlSourceOptions = {}): Promise<UrlSource> {
  const name = urlFileName(url);
  const windowBytes = Math.max(1, opts.windowBytes ?? DEFAULT_WINDOW);
  const kept = Math.max(1, opts.windows ?? DEFAULT_WINDOWS);
  let received = 0;
  const first = await get(url, [0, windowBytes]);

  if (first.status !== 206) {
    // No ranges: the whole file, once. Content-Length counts encoded bytes: only a hint.
    const hint = Number(first.headers.get('content-length')) || 0;
    opts.onProgress?.(0, hint);
    const chunks = await readBody(url, first, (n) => opts.onProgress?.((received += n), Math.max(hint, received)));
    return { ...blobSource(name, new Blob(chunks as BlobPart[])), ranged: false };
  }

  const range0 = contentRange(first.headers.get('content-range'));
  if (!range0 || range0[0] !== 0) {
    await first.body?.cancel().catch(() => {});
    throw new DnfError(`${url}: the server answered a range request with Content-Range ${JSON.stringify(first.headers.get('content-range'))}, not bytes 0-N/size; serve the file from a server that supports ranges, or download it and give the file`);
  }
  const size = range0[2];
  const progress = () => opts.onProgress?.(Math.min(received, size), size);
  /** Windows of the file already fetched, most recent last. */
  const cache: Array<{ start: number; bytes: Uint8Array }> = [];
  const keep = (start: number, bytes: Uint8Array) => {
    cache.push({ start, bytes });
    if (cache.length > kept) cache.shift();
  };
  const body = concat(await readBody(url, first, (n) => ((received += n), progress())));
  if (body.byteLength !== range0[1]) throw new DnfError(`${url}: the server sent ${body.byteLength} bytes for bytes 0-${range0[1] - 1}; try again`);
  keep(0, body);

  const fetchWindow = async (start: number, end: number) => {
    const response = await get(url, [start, end]);
    const r = contentRange(response.headers.get('content-range'));
    if (response.status !== 206 || !r || r[0] !== start || r[1] !== end || r[2] !== size) {
      await response.body?.cancel().catch(() => {});
      throw new DnfError(`${url}: asked for bytes ${start}-${end - 1}, the server answered ${response.status} ${response.headers.get('content-range') ?? 'without Content-Range'}; the file may have changed on the server: try again`);
    }
    const bytes = concat(await readBody(url, response, (n) => ((received += n), progress())));
    if (bytes.byteLength !== end - start) throw new DnfError(`${url}: the server sent ${bytes.byteLength} bytes for bytes ${start}-${end - 1}; try again`);
    return bytes;
  };

  return {
    name,
    size,
    ranged: true,
    read: async (offset, length) => {
      checkRange(name, size, offset, length);
      const hit = cache.find((w) => offset >= w.start && offset + length <= w.start + w.bytes.byteLength);
      let window = hit;
      if (!window) {
        const end = Math.min(size, offset + Math.max(length, windowBytes));
        window = { start: offset, bytes: await fetchWindow(offset, end) };
        // A read larger than a window (a big tensor) is read once: keeping it would only hold memory.
        if (length <= windowBytes) keep(window.start, window.bytes);
      }
      const at = offset - window.start;
      return window.bytes.slice(at, at + length);
    },
  };
}
