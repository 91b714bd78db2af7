/**
 * Downloads one file over HTTP(S), resumably, and keeps it only when its MD5 is right.
 *
 * Bytes go to `<dest>.part`. A later call (or an automatic retry after a dropped connection)
 * continues it with a `Range: bytes=<size>-` request: a 206 reply is appended; a 200 reply means the
 * server ignores ranges, so the file restarts from zero; a 416 reply means the part is already
 * complete (its size is the file's) or longer than the file (restart). Redirects are followed up to
 * a limit, keeping the Range header. The MD5 is computed while the bytes arrive (the existing part is
 * hashed first when resuming); when the transfer ends, a matching part is renamed onto `dest`, a
 * mismatching one is deleted. Progress goes to stderr: a bar redrawn in place on a terminal, a plain
 * line every 10 s otherwise. Every failure is a one-line DnfError naming the address and what to do.
 *
 * Bounded against a hostile or broken server: with `size` (the file's known size), a reply that
 * announces another size is refused before a byte is written, and a body longer than `size.max`
 * is cut there (the part deleted); a transfer that stalls (under `stallBytes` in `stallMs`, a
 * trickle included, not only silence) is dropped and resumed like a dropped connection.
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import * as http from 'node:http';
import * as https from 'node:https';
import { dirname } from 'node:path';
import { DnfError } from '../errors.js';
import type { ByteRange } from '../weights/registry.js';
import { formatDuration, type ProgressSink } from './progress.js';

export interface DownloadOptions {
  /** The file's MD5, hex; it is renamed into place only when the downloaded bytes match. */
  md5: string;
  /** Starts progress lines (default 'download'). */
  label?: string;
  /** Default process.stderr; null prints nothing. */
  progress?: ProgressSink | null;
  /** Give up on a connection after this long without a byte (connecting included). Default 60 s. */
  idleTimeoutMs?: number;
  /** The file's size in bytes (from min to max): other announced sizes are refused, longer bodies cut. */
  size?: ByteRange;
  /** A transfer that brings fewer than `stallBytes` in any `stallMs` is dropped (then resumed). Default 60 s. */
  stallMs?: number;
  /** Default 64 KiB (about 1 KiB/s over the default 60 s). */
  stallBytes?: number;
  /** Redirects followed per request. Default 10. */
  maxRedirects?: number;
  /** Automatic resumptions after a dropped or stalled transfer. Default 3. */
  retries?: number;
}

export interface DownloadResult {
  /** The complete file (dest). */
  path: string;
  bytes: number;
  /** Lower-case hex (equal to options.md5). */
  md5: string;
}

const KiB = 1024;
const MiB = 2 ** 20;
const STALL_MS = 60_000;
const STALL_BYTES = 64 * KiB;
const RETRY_DELAY_MS = 500;
/** Restarts from zero (a resume the server cannot serve) before giving up. */
const MAX_RESTARTS = 2;

/** A failure worth retrying with a Range request (the transfer started or the link stalled). */
class Interrupted extends Error {}
/** The part must be discarded and the download started again from zero. */
class Restart extends Error {}

/** The bytes of the .part file so far, and the MD5 state over exactly those bytes. */
interface PartState { bytes: number; hash: Hash }

/** Downloads `url` to `dest` (see the file header); resumes `<dest>.part` when it exists. */
export async function download(url: string, dest: string, opts: DownloadOptions): Promise<DownloadResult> {
  const part = `${dest}.part`;
  const want = opts.md5.toLowerCase();
  const bar = new ByteProgress(opts.label ?? 'download', opts.progress === undefined ? process.stderr : opts.progress);
  const retries = opts.retries ?? 3;
  try {
    await mkdir(dirname(dest), { recursive: true });
  } catch (e) {
    throw new DnfError(`${dirname(dest)}: cannot create the folder (${oneLine(e)}); check that it is writable`);
  }

  let state: PartState | undefined;
  for (let restarts = 0, retried = 0; ;) {
    try {
      if (!state || state.bytes !== (await sizeOf(part))) state = await hashPart(part);
      await transfer(url, part, state, opts, bar);
      break;
    } catch (e) {
      if (e instanceof Restart && restarts++ < MAX_RESTARTS) {
        bar.message(`${e.message}; starting again from zero`);
        await unlink(part).catch(() => {});
        state = undefined;
        continue;
      }
      if (e instanceof Interrupted && retried++ < retries) {
        bar.message(`${e.message}; resuming (retry ${retried} of ${retries})`);
        await new Promise((r) => setTimeout(r, RETRY_DELAY_MS * retried));
        continue;
      }
      bar.finish();
      if (e instanceof Interrupted || e instanceof Restart) {
        const kept = await sizeOf(part);
        throw new DnfError(`${url}: ${e.message}; ${kept ? `${formatBytes(kept)} kept in ${part}: ` : ''}run the same command again to ${kept ? 'resume' : 'retry'}`);
      }
      throw e;
    }
  }
  bar.finish();

  const got = state.hash.digest('hex');
  if (got !== want) {
    await unlink(part).catch(() => {});
    throw new DnfError(`${url}: the downloaded file has MD5 ${got}, not the expected ${want}, so it was deleted; the server sent another file: check the address, or try again later`);
  }
  try {
    await rename(part, dest);
  } catch (e) {
    throw new DnfError(`${dest}: cannot move the finished download into place (${oneLine(e)}); check that the folder is writable`);
  }
  return { path: dest, bytes: state.bytes, md5: got };
}

/** One request (following redirects) whose body is appended to the part, or a thrown outcome. */
async function transfer(url: string, part: string, state: PartState, opts: DownloadOptions, bar: ByteProgress): Promise<void> {
  const offset = state.bytes;
  const { res, timedOut } = await get(url, offset, opts);
  let append = offset > 0;
  let total: number | undefined;
  const length = res.headers['content-length'] === undefined ? undefined : Number(res.headers['content-length']);

  if (res.statusCode === 416) {
    res.resume();
    const size = /^bytes \*\/(\d+)$/.exec(res.headers['content-range'] ?? '');
    if (size && Number(size[1]) === offset) return; // the part already holds the whole file
    throw new Restart(`the server has no bytes after the ${formatBytes(offset)} already downloaded`);
  }
  if (res.statusCode === 206) {
    const range = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(res.headers['content-range'] ?? '');
    if (!range || Number(range[1]) !== offset) {
      res.destroy();
      throw new Restart(`the server answered the resume request with range '${res.headers['content-range'] ?? ''}' instead of bytes ${offset}-`);
    }
    if (range[3] !== '*') total = Number(range[3]);
    else if (length !== undefined) total = offset + length;
  } else if (res.statusCode === 200) {
    if (offset > 0) bar.message('the server ignores resume requests: downloading again from the start');
    append = false;
    total = length;
    state.bytes = 0;
    state.hash = createHash('md5');
  } else {
    res.resume();
    throw httpError(url, res);
  }

  const size = opts.size;
  if (size && total !== undefined && (total < size.min || total > size.max)) {
    res.destroy();
    throw new DnfError(`${url}: the server announces ${formatBytes(total)} (${total} bytes), but the file is ${formatRange(size)}, so nothing was written; it is another file: check the address, or try again later`);
  }

  bar.start(state.bytes, total, append ? `resuming at ${formatBytes(state.bytes)}` : undefined);
  const fh = await open(part, append ? 'a' : 'w').catch((e: unknown) => {
    res.destroy();
    throw new DnfError(`${part}: cannot write (${oneLine(e)}); check that the folder is writable and the disk has space`);
  });
  // The stall watch: every stallMs, the bytes since the last look must reach stallBytes.
  const stallMs = opts.stallMs ?? STALL_MS;
  const stallBytes = opts.stallBytes ?? STALL_BYTES;
  let stalled = false;
  let seen = state.bytes;
  const watch = setInterval(() => {
    if (state.bytes - seen < stallBytes) {
      stalled = true;
      res.destroy(new Error('stalled'));
    }
    seen = state.bytes;
  }, stallMs);
  try {
    try {
      for await (const chunk of res as AsyncIterable<Buffer>) {
        if (size && state.bytes + chunk.byteLength > size.max) {
          res.destroy();
          await fh.close().catch(() => {});
          await unlink(part).catch(() => {});
          throw new DnfError(`${url}: the server sent more than ${formatBytes(size.max)}, more than the file is (${formatRange(size)}); stopped there and deleted the part: check the address, or try again later`);
        }
        await writeAll(fh, chunk, part);
        state.hash.update(chunk);
        state.bytes += chunk.byteLength;
        bar.update(state.bytes);
      }
    } catch (e) {
      if (e instanceof DnfError) throw e;
      const why = stalled ? `under ${formatBytes(stallBytes)} in ${stallMs / 1000} s (the transfer stalled)`
        : timedOut() ? `no data for ${seconds(opts)}` : 'the connection dropped';
      throw new Interrupted(`${why} after ${formatBytes(state.bytes)}${total ? ` of ${formatBytes(total)}` : ''}`);
    }
    if (total !== undefined && state.bytes < total) {
      throw new Interrupted(`the connection closed after ${formatBytes(state.bytes)} of ${formatBytes(total)}`);
    }
    await fh.sync();
  } finally {
    clearInterval(watch);
    await fh.close().catch(() => {});
  }
}

/**
 * GET `url` (with a Range header from `offset` when it is > 0), following redirects. Resolves with
 * the final response, and a function that tells whether the idle timeout ended the connection.
 */
async function get(url: string, offset: number, opts: DownloadOptions): Promise<{ res: http.IncomingMessage; timedOut: () => boolean }> {
  const maxRedirects = opts.maxRedirects ?? 10;
  let target: URL;
  try {
    target = new URL(url);
  } catch {
    throw new DnfError(`${url}: not a valid address; give a full http:// or https:// URL`);
  }
  for (let redirects = 0; ; redirects++) {
    if (target.protocol !== 'http:' && target.protocol !== 'https:') {
      throw new DnfError(`${url}: ${redirects ? `redirected to ${target.href}, which is` : 'is'} not an http:// or https:// address; download the file by hand`);
    }
    let timedOut = false;
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      const headers: http.OutgoingHttpHeaders = { 'user-agent': 'dnf-webgpu', 'accept-encoding': 'identity' };
      if (offset > 0) headers.range = `bytes=${offset}-`;
      const req = (target.protocol === 'https:' ? https : http).get(target, { headers, agent: false, timeout: opts.idleTimeoutMs ?? 60_000 }, resolve);
      req.on('timeout', () => {
        timedOut = true;
        req.destroy(new Error('timeout'));
      });
      req.on('error', (e) => reject(networkError(url, target, e, timedOut, opts)));
    });
    const location = res.headers.location;
    if (res.statusCode && res.statusCode >= 300 && res.statusCode < 400 && location) {
      res.resume();
      if (redirects >= maxRedirects) {
        throw new DnfError(`${url}: more than ${maxRedirects} redirects (the last to ${new URL(location, target).href}); the address is broken: check it`);
      }
      target = new URL(location, target);
      continue;
    }
    return { res, timedOut: () => timedOut };
  }
}

/** A connection that failed before any reply, in words. */
function networkError(url: string, target: URL, e: unknown, timedOut: boolean, opts: DownloadOptions): Error {
  const via = target.href === url ? '' : ` (redirected to ${target.host})`;
  if (timedOut) return new Interrupted(`no answer from ${target.host} in ${seconds(opts)}${via}`);
  const code = (e as NodeJS.ErrnoException).code;
  switch (code) {
    case 'ECONNREFUSED': return new DnfError(`${url}: connection refused by ${target.host}${via}; check the address, or try again later`);
    case 'ENOTFOUND': case 'EAI_AGAIN': return new DnfError(`${url}: cannot find the host ${target.hostname}${via}; check the address and your network connection`);
    case 'ECONNRESET': case 'EPIPE': case 'ETIMEDOUT': case 'ENETUNREACH': case 'EHOSTUNREACH':
      return new Interrupted(`cannot reach ${target.host}${via} (${code})`);
    default:
      return new DnfError(`${url}: cannot connect${via} (${oneLine(e)}); check the address and your network connection`);
  }
}

function httpError(url: string, res: http.IncomingMessage): DnfError {
  const status = `HTTP ${res.statusCode}${res.statusMessage ? ` ${res.statusMessage}` : ''}`;
  const code = res.statusCode ?? 0;
  const hint = code === 404 || code === 410 ? 'the file is not there (any more): check the address'
    : code === 401 || code === 403 ? 'the server refuses the download: check the address, or download the file in a browser'
      : code === 429 || code >= 500 ? 'the server has a problem: try again later'
        : 'check the address';
  return new DnfError(`${url}: ${status}; ${hint}`);
}

/** Appends all of `chunk` (a write may be partial: loop). */
async function writeAll(fh: FileHandle, chunk: Buffer, part: string): Promise<void> {
  for (let done = 0; done < chunk.byteLength;) {
    try {
      done += (await fh.write(chunk, done, chunk.byteLength - done)).bytesWritten;
    } catch (e) {
      throw new DnfError(`${part}: cannot write (${oneLine(e)}); check that the disk has space`);
    }
  }
}

/** The MD5 of a file, lower-case hex. */
export async function md5File(path: string): Promise<string> {
  return (await hashPart(path)).hash.digest('hex');
}

/** MD5 state over the part file's bytes (none when it does not exist). */
async function hashPart(part: string): Promise<PartState> {
  const hash = createHash('md5');
  let bytes = 0;
  if ((await sizeOf(part)) > 0) {
    try {
      for await (const chunk of createReadStream(part) as AsyncIterable<Buffer>) {
        hash.update(chunk);
        bytes += chunk.byteLength;
      }
    } catch (e) {
      throw new DnfError(`${part}: cannot read (${oneLine(e)}); delete it and run again`);
    }
  }
  return { bytes, hash };
}

async function sizeOf(path: string): Promise<number> {
  return stat(path).then((s) => s.size, () => 0);
}

const seconds = (opts: DownloadOptions) => `${(opts.idleTimeoutMs ?? 60_000) / 1000} s`;
const oneLine = (e: unknown) => (e instanceof Error ? e.message : String(e)).replace(/\s+/g, ' ');

const UNITS = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'];

/** 50 -> '50 B'; 13780 -> '13.5 KiB'; 123456789 -> '117.7 MiB'; 1e15 -> '909.5 TiB'. */
export function formatBytes(bytes: number): string {
  if (!(bytes >= KiB)) return `${Math.round(bytes)} B`;
  let unit = 0;
  let v = bytes / KiB;
  while (v >= 1024 && unit < UNITS.length - 1) {
    v /= 1024;
    unit++;
  }
  return `${v.toFixed(1)} ${UNITS[unit]}`;
}

/** '13.5 KiB (13780 bytes)' for an exact size; '433.6 MiB to 441.4 MiB' otherwise. */
function formatRange(r: ByteRange): string {
  return r.min === r.max ? `${formatBytes(r.min)} (${r.min} bytes)` : `${formatBytes(r.min)} to ${formatBytes(r.max)}`;
}

const REDRAW_MS = 100;
const LINE_EVERY_MS = 10_000;
const BAR_WIDTH = 24;

/** Bytes so far of one download: a bar on a terminal, a line every 10 s otherwise. */
class ByteProgress {
  private readonly tty: boolean;
  private total: number | undefined;
  private startBytes = 0;
  private startedAt = 0;
  private lastAt = 0;
  private barShown = false;

  constructor(private readonly label: string, private readonly sink: ProgressSink | null) {
    this.tty = !!sink?.isTTY;
  }

  /** A (re)started transfer at `bytes` of `total`, with an optional note. */
  start(bytes: number, total: number | undefined, note?: string): void {
    this.total = total;
    this.startBytes = bytes;
    this.startedAt = this.lastAt = Date.now();
    if (note) this.message(note);
    else if (!this.tty) this.line(`downloading ${total !== undefined ? formatBytes(total) : '(size unknown)'}`);
  }

  update(bytes: number): void {
    if (!this.sink) return;
    const t = Date.now();
    if (this.tty) {
      if (t - this.lastAt < REDRAW_MS && bytes !== this.total) return;
      const filled = this.total ? Math.min(BAR_WIDTH, Math.round((BAR_WIDTH * bytes) / this.total)) : 0;
      let text = `${this.label} [${'#'.repeat(filled)}${'.'.repeat(BAR_WIDTH - filled)}] ${this.status(bytes, t)}`;
      if (this.sink.columns && text.length >= this.sink.columns) text = text.slice(0, this.sink.columns - 1);
      this.sink.write(`\r${text}\x1b[K`);
      this.barShown = true;
      this.lastAt = t;
    } else if (t - this.lastAt >= LINE_EVERY_MS) {
      this.line(this.status(bytes, t));
      this.lastAt = t;
    }
  }

  /** A line above the bar. */
  message(text: string): void {
    this.finish();
    this.line(text);
  }

  /** Removes the bar. */
  finish(): void {
    if (this.barShown) this.sink?.write('\r\x1b[K');
    this.barShown = false;
  }

  private line(text: string): void {
    this.sink?.write(`${this.label}: ${text}\n`);
  }

  /** '123.4/434.0 MiB (28%), 5.2 MiB/s, ETA 1m00s' */
  private status(bytes: number, t: number): string {
    const rate = (bytes - this.startBytes) / Math.max(1e-3, (t - this.startedAt) / 1000);
    const parts = [this.total ? `${formatBytes(bytes)}/${formatBytes(this.total)} (${Math.floor((100 * bytes) / this.total)}%)` : formatBytes(bytes)];
    parts.push(`${formatBytes(rate)}/s`);
    if (this.total && rate > 0 && bytes < this.total) parts.push(`ETA ${formatDuration((1000 * (this.total - bytes)) / rate)}`);
    return parts.join(', ');
  }
}
