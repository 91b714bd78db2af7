/**
 * `dnf weights fetch`: downloads from a local HTTP server (127.0.0.1, ephemeral port) serving a
 * small PyTorch checkpoint (fixtures/checkpoints/wrapped.zip.pt, a {'model': state_dict, ...} file)
 * with Range support, and misbehaving variants: a server that ignores Range, one that drops the
 * connection half-way, one that stalls, one that trickles a byte at a time, one that announces
 * a petabyte, one whose body never ends, redirects, 404. The registry's real addresses are never
 * contacted: tests fetch a local entry (the registry's lsun_bedroom with this file's name, MD5 and
 * address), and the CLI tests use --url.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { main } from '../src/cli/main.js';
import { DnfError } from '../src/errors.js';
import { download, formatBytes, md5File } from '../src/node/download.js';
import type { ProgressSink } from '../src/node/progress.js';
import { openSafetensors } from '../src/node/files.js';
import { defaultWeightsDir, fetchWeights, weightsFiles } from '../src/node/weights.js';
import { WEIGHTS, weightsEntry, type WeightsEntry } from '../src/weights/registry.js';

const FIXTURES = join(import.meta.dirname, 'fixtures', 'checkpoints');
const BODY = readFileSync(join(FIXTURES, 'wrapped.zip.pt'));
const MD5 = createHash('md5').update(BODY).digest('hex');
const HALF = Math.floor(BODY.length / 2);
const TINY = Buffer.from('a file of fifty bytes, shorter than one kibibyte!\n');
const TINY_MD5 = createHash('md5').update(TINY).digest('hex');
/** BODY's exact size, as the registry knows a checkpoint's. */
const SIZE = { min: BODY.length, max: BODY.length };

/** Writes `chunk` every `ms` until the client goes away. */
function drip(res: ServerResponse, chunk: Buffer, ms: number): void {
  const timer = setInterval(() => res.write(chunk), ms);
  res.on('close', () => clearInterval(timer));
}

/** What the server saw: path and Range header of each request. */
let seen: Array<{ path: string; range?: string }> = [];
/** When set, the next /file request sends half of its bytes and then drops the connection. */
let cutNext = false;

/** Serves BODY from `start` (a Range request, unless the path ignores ranges). */
function serveBody(req: IncomingMessage, res: ServerResponse, honourRange: boolean): void {
  const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
  const start = honourRange && m ? Number(m[1]) : 0;
  if (start >= BODY.length && start > 0) {
    res.writeHead(416, { 'content-range': `bytes */${BODY.length}` }).end();
    return;
  }
  const headers: Record<string, string | number> = { 'content-length': BODY.length - start, 'content-type': 'application/octet-stream' };
  if (start > 0) headers['content-range'] = `bytes ${start}-${BODY.length - 1}/${BODY.length}`;
  res.writeHead(start > 0 ? 206 : 200, headers);
  if (cutNext) {
    cutNext = false;
    res.write(BODY.subarray(start, HALF), () => setTimeout(() => res.socket?.destroy(), 20));
  } else {
    res.end(BODY.subarray(start));
  }
}

function handle(req: IncomingMessage, res: ServerResponse): void {
  const path = req.url ?? '/';
  seen.push({ path, range: req.headers.range });
  switch (path) {
    case '/file': return serveBody(req, res, true);
    case '/norange': return serveBody(req, res, false);
    case '/redirect': res.writeHead(302, { location: '/file' }).end(); return;
    case '/loop': res.writeHead(302, { location: '/loop' }).end(); return;
    case '/stall': res.writeHead(200, { 'content-length': BODY.length }); res.write(BODY.subarray(0, 100)); return;
    case '/trickle': {
      // One byte every 10 ms (100 B/s): never silent long enough for the idle timeout.
      const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
      if (m) return serveBody(req, res, true);
      res.writeHead(200, { 'content-length': BODY.length });
      let at = 0;
      const timer = setInterval(() => res.write(BODY.subarray(at, ++at)), 10);
      res.on('close', () => clearInterval(timer));
      return;
    }
    case '/petabyte': res.writeHead(200, { 'content-length': 1e15 }); drip(res, Buffer.alloc(64 * 1024), 5); return;
    case '/endless': res.writeHead(200); drip(res, Buffer.alloc(4096, 7), 1); return;
    case '/tiny': res.writeHead(200, { 'content-length': TINY.length }).end(TINY); return;
    default: res.writeHead(404).end('not here');
  }
}

let server: Server;
let base: string;
let closedPortUrl: string;
let dir: string;

beforeAll(async () => {
  server = createServer(handle);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  // A port nobody listens on: open a server, note its port, close it.
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  closedPortUrl = `http://127.0.0.1:${(probe.address() as AddressInfo).port}/file`;
  await new Promise((r) => probe.close(r));
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});
beforeEach(() => {
  seen = [];
  cutNext = false;
  dir = mkdtempSync(join(tmpdir(), 'dnf-weights-'));
  return () => rmSync(dir, { recursive: true, force: true });
});

/** A sink that records what the progress display writes. */
function sink(isTTY = false): ProgressSink & { text: string } {
  return { isTTY, text: '', write(s: string) { this.text += s; } };
}
const quiet = { progress: null, retries: 0 } as const;
const dest = () => join(dir, 'tiny.ckpt');

/** The rejection of `p`, which must be a one-line DnfError. */
async function dnfError(p: Promise<unknown>): Promise<string> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(DnfError);
  const msg = (err as Error).message;
  expect(msg).not.toContain('\n');
  return msg;
}

describe('download', () => {
  it('downloads, verifies the MD5 and leaves no .part', async () => {
    const out = sink();
    const r = await download(`${base}/file`, dest(), { md5: MD5, label: 'tiny', progress: out });
    expect(r).toEqual({ path: dest(), bytes: BODY.length, md5: MD5 });
    expect(readFileSync(dest()).equals(BODY)).toBe(true);
    expect(readdirSync(dir)).toEqual(['tiny.ckpt']);
    expect(seen).toEqual([{ path: '/file', range: undefined }]);
    expect(out.text).toBe(`tiny: downloading ${(BODY.length / 1024).toFixed(1)} KiB\n`); // non-TTY: no bar
  });

  it('draws a bar on a terminal and clears it at the end', async () => {
    const out = sink(true);
    await download(`${base}/file`, dest(), { md5: MD5, label: 'tiny', progress: out });
    expect(out.text).toMatch(/\rtiny \[#{24}\] 13\.5 KiB\/13\.5 KiB \(100%\), [\d.]+ [KM]iB\/s\x1b\[K/);
    expect(out.text.endsWith('\r\x1b[K')).toBe(true);
  });

  it('resumes an interrupted download with a Range request when run again', async () => {
    cutNext = true;
    const msg = await dnfError(download(`${base}/file`, dest(), { ...quiet, md5: MD5 }));
    expect(msg).toMatch(new RegExp(`^${base}/file: the connection dropped after .*; 6\\.7 KiB kept in .*tiny\\.ckpt\\.part: run the same command again to resume$`));
    expect(statSync(`${dest()}.part`).size).toBe(HALF);
    expect(existsSync(dest())).toBe(false);

    const r = await download(`${base}/file`, dest(), { ...quiet, md5: MD5 });
    expect(r.bytes).toBe(BODY.length);
    expect(seen).toEqual([{ path: '/file', range: undefined }, { path: '/file', range: `bytes=${HALF}-` }]);
    expect(readFileSync(dest()).equals(BODY)).toBe(true);
    expect(existsSync(`${dest()}.part`)).toBe(false);
  });

  it('resumes by itself after a dropped connection when retries are allowed', async () => {
    cutNext = true;
    const out = sink();
    await download(`${base}/file`, dest(), { md5: MD5, label: 'tiny', progress: out, retries: 1 });
    expect(seen.map((s) => s.range)).toEqual([undefined, `bytes=${HALF}-`]);
    expect(readFileSync(dest()).equals(BODY)).toBe(true);
    expect(out.text).toMatch(/tiny: the connection dropped after .*; resuming \(retry 1 of 1\)\ntiny: resuming at /);
  });

  it('starts again from zero when the server ignores Range (the old part is discarded)', async () => {
    writeFileSync(`${dest()}.part`, Buffer.alloc(100, 0xff)); // not a prefix of the file
    const out = sink();
    await download(`${base}/norange`, dest(), { ...quiet, md5: MD5, label: 'tiny', progress: out });
    expect(seen).toEqual([{ path: '/norange', range: 'bytes=100-' }]);
    expect(readFileSync(dest()).equals(BODY)).toBe(true);
    expect(out.text).toContain('tiny: the server ignores resume requests: downloading again from the start\n');
  });

  it('finishes a part that is already complete (416 with the same size)', async () => {
    writeFileSync(`${dest()}.part`, BODY);
    await download(`${base}/file`, dest(), { ...quiet, md5: MD5 });
    expect(seen).toEqual([{ path: '/file', range: `bytes=${BODY.length}-` }]);
    expect(readFileSync(dest()).equals(BODY)).toBe(true);
  });

  it('restarts when the part is longer than the file (416 with another size)', async () => {
    writeFileSync(`${dest()}.part`, Buffer.concat([BODY, Buffer.alloc(10)]));
    await download(`${base}/file`, dest(), { ...quiet, md5: MD5 });
    expect(seen.map((s) => s.range)).toEqual([`bytes=${BODY.length + 10}-`, undefined]);
    expect(readFileSync(dest()).equals(BODY)).toBe(true);
  });

  it('deletes a download whose MD5 is wrong and says so', async () => {
    const msg = await dnfError(download(`${base}/file`, dest(), { ...quiet, md5: '0'.repeat(32) }));
    expect(msg).toBe(`${base}/file: the downloaded file has MD5 ${MD5}, not the expected ${'0'.repeat(32)}, so it was deleted; ` +
      'the server sent another file: check the address, or try again later');
    expect(readdirSync(dir)).toEqual([]);
  });

  it('reports 404 in one line and leaves nothing', async () => {
    const msg = await dnfError(download(`${base}/missing`, dest(), { ...quiet, md5: MD5 }));
    expect(msg).toBe(`${base}/missing: HTTP 404 Not Found; the file is not there (any more): check the address`);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('reports a refused connection in one line', async () => {
    const msg = await dnfError(download(closedPortUrl, dest(), { ...quiet, md5: MD5 }));
    expect(msg).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/file: connection refused by 127\.0\.0\.1:\d+; check the address, or try again later$/);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('follows a redirect (relative Location)', async () => {
    await download(`${base}/redirect`, dest(), { ...quiet, md5: MD5 });
    expect(seen.map((s) => s.path)).toEqual(['/redirect', '/file']);
    expect(readFileSync(dest()).equals(BODY)).toBe(true);
  });

  it('gives up on a redirect loop', async () => {
    const msg = await dnfError(download(`${base}/loop`, dest(), { ...quiet, md5: MD5, maxRedirects: 3 }));
    expect(msg).toBe(`${base}/loop: more than 3 redirects (the last to ${base}/loop); the address is broken: check it`);
    expect(seen).toHaveLength(4);
  });

  it('times out on a stalled transfer and keeps what arrived', async () => {
    const msg = await dnfError(download(`${base}/stall`, dest(), { ...quiet, md5: MD5, idleTimeoutMs: 200 }));
    expect(msg).toMatch(/\/stall: no data for 0\.2 s after 100 B of 13\.5 KiB; 100 B kept in .*tiny\.ckpt\.part: run the same command again to resume$/);
    expect(statSync(`${dest()}.part`).size).toBe(100);
  });

  it('drops a trickle (under stallBytes in stallMs) that the idle timeout never ends, and resumes it', async () => {
    const t0 = Date.now();
    const msg = await dnfError(download(`${base}/trickle`, dest(), { ...quiet, md5: MD5, stallMs: 300, stallBytes: 1000 }));
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(msg).toMatch(new RegExp(`^${base}/trickle: under 1000 B in 0\\.3 s \\(the transfer stalled\\) after \\d+ B of 13\\.5 KiB; \\d+ B kept in .*tiny\\.ckpt\\.part: run the same command again to resume$`));
    const kept = statSync(`${dest()}.part`).size;
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThan(1000);

    // Run again: the part resumes with a Range request (served in full here).
    const r = await download(`${base}/trickle`, dest(), { ...quiet, md5: MD5, stallMs: 300, stallBytes: 1000 });
    expect(r.bytes).toBe(BODY.length);
    expect(seen.map((s) => s.range)).toEqual([undefined, `bytes=${kept}-`]);
    expect(readFileSync(dest()).equals(BODY)).toBe(true);
  });

  it('retries a stalled transfer by itself when retries are allowed', async () => {
    const out = sink();
    await download(`${base}/trickle`, dest(), { md5: MD5, label: 'tiny', progress: out, retries: 1, stallMs: 300, stallBytes: 1000 });
    expect(out.text).toMatch(/tiny: under 1000 B in 0\.3 s \(the transfer stalled\) after \d+ B of 13\.5 KiB; resuming \(retry 1 of 1\)\n/);
    expect(readFileSync(dest()).equals(BODY)).toBe(true);
  });

  it('refuses a reply announcing another size than the file (1 PB) before writing a byte', async () => {
    const t0 = Date.now();
    const msg = await dnfError(download(`${base}/petabyte`, dest(), { ...quiet, md5: MD5, size: SIZE }));
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(msg).toBe(`${base}/petabyte: the server announces 909.5 TiB (1000000000000000 bytes), but the file is 13.5 KiB (${BODY.length} bytes), ` +
      'so nothing was written; it is another file: check the address, or try again later');
    expect(readdirSync(dir)).toEqual([]);
  });

  it('stops writing at the file size when the body goes on (no Content-Length) and deletes the part', async () => {
    const t0 = Date.now();
    const msg = await dnfError(download(`${base}/endless`, dest(), { ...quiet, md5: MD5, size: SIZE }));
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(msg).toBe(`${base}/endless: the server sent more than 13.5 KiB, more than the file is (13.5 KiB (${BODY.length} bytes)); stopped there and deleted the part: check the address, or try again later`);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('counts a file under 1 KiB in bytes', async () => {
    const out = sink();
    await download(`${base}/tiny`, dest(), { md5: TINY_MD5, label: 'tiny', progress: out, size: { min: 50, max: 50 } });
    expect(out.text).toBe('tiny: downloading 50 B\n');
    const bar = sink(true);
    rmSync(dest());
    await download(`${base}/tiny`, dest(), { md5: TINY_MD5, label: 'tiny', progress: bar });
    expect(bar.text).toMatch(/\rtiny \[#{24}\] 50 B\/50 B \(100%\), [\d.]+ (B|KiB|MiB)\/s\x1b\[K/);
  });

  it('rejects addresses that are not http(s)', async () => {
    expect(await dnfError(download('ftp://example.com/x', dest(), { ...quiet, md5: MD5 }))).toBe('ftp://example.com/x: is not an http:// or https:// address; download the file by hand');
    expect(await dnfError(download('not a url', dest(), { ...quiet, md5: MD5 }))).toMatch(/^not a url: not a valid address/);
  });
});

describe('fetchWeights', () => {
  const entry = (): WeightsEntry => ({ ...weightsEntry('lsun_bedroom'), name: 'tiny', md5: MD5, urls: [`${base}/file`], bytes: SIZE });
  const opts = () => ({ dir, download: quiet });

  it('downloads, converts to <name>.safetensors with metadata, and deletes the checkpoint', async () => {
    const r = await fetchWeights(entry(), opts());
    if (r.status !== 'fetched') throw new Error('expected a fetch');
    expect(r.output).toBe(join(dir, 'tiny.safetensors'));
    expect(r.downloaded?.bytes).toBe(BODY.length);
    expect(r.keptCheckpoint).toBe(false);
    expect(readdirSync(dir)).toEqual(['tiny.safetensors']);
    // The same tensors as `dnf convert` of the file (the 'model' state dict of wrapped.zip.pt).
    const { file, close } = await openSafetensors(r.output);
    const { file: want, close: closeWant } = await openSafetensors(join(FIXTURES, 'expected.safetensors'));
    try {
      const floats = want.names().filter((n) => want.info(n).dtype === 'F32');
      expect(file.names().sort()).toEqual(floats.sort());
      for (const n of floats) expect(Buffer.from(await file.read(n)).equals(Buffer.from(await want.read(n)))).toBe(true);
      expect(file.metadata).toMatchObject({
        source: 'diffusion_lsun_bedroom_model/model-2388000.ckpt', source_md5: MD5, weights: 'tiny', unet_config: 'lsun-bedroom-256',
      });
    } finally {
      await close();
      await closeWant();
    }
  });

  it('keeps the checkpoint when asked, then says the weights are there without downloading', async () => {
    const r = await fetchWeights(entry(), { ...opts(), keepCheckpoint: true });
    expect(r.status === 'fetched' && r.keptCheckpoint).toBe(true);
    expect(await md5File(join(dir, 'tiny.ckpt'))).toBe(MD5);
    expect(await weightsFiles(dir, 'tiny')).toEqual({ safetensors: statSync(join(dir, 'tiny.safetensors')).size, checkpoint: BODY.length, partial: undefined });
    expect(await fetchWeights(entry(), opts())).toEqual({ status: 'present', output: join(dir, 'tiny.safetensors') });
    expect(seen).toHaveLength(1);

    // Without the .safetensors, the kept checkpoint is checked and converted, not downloaded again.
    rmSync(join(dir, 'tiny.safetensors'));
    const again = await fetchWeights(entry(), opts());
    expect(again.status === 'fetched' && again.downloaded).toBeUndefined();
    expect(readdirSync(dir)).toEqual(['tiny.safetensors']);
    expect(seen).toHaveLength(1);
  });

  it('refuses a kept checkpoint whose MD5 is wrong, without deleting it', async () => {
    writeFileSync(join(dir, 'tiny.ckpt'), 'not it');
    const msg = await dnfError(fetchWeights(entry(), opts()));
    expect(msg).toMatch(/tiny\.ckpt: its MD5 is [0-9a-f]{32}, not the expected .*; delete it and run again$/);
    expect(readdirSync(dir)).toEqual(['tiny.ckpt']);
  });

  it('tries the next address when one fails, and --url replaces them', async () => {
    const out = sink();
    await fetchWeights({ ...entry(), urls: [`${base}/missing`, `${base}/file`] }, { dir, download: { ...quiet, progress: out } });
    expect(seen.map((s) => s.path)).toEqual(['/missing', '/file']);
    expect(out.text).toContain('HTTP 404 Not Found; the file is not there (any more): check the address; trying the next address\n');

    rmSync(join(dir, 'tiny.safetensors'));
    seen = [];
    await fetchWeights({ ...entry(), urls: [`${base}/missing`] }, { ...opts(), url: `${base}/redirect` });
    expect(seen.map((s) => s.path)).toEqual(['/redirect', '/file']);
  });

  it('leaves nothing behind when the MD5 does not match', async () => {
    await dnfError(fetchWeights({ ...entry(), md5: 'f'.repeat(32) }, opts()));
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe('the registry', () => {
  it("knows each checkpoint's size from its float32 parameters (and the records around them)", () => {
    for (const e of WEIGHTS) {
      expect(e.bytes.min).toBe(4 * e.parameters);
      expect(e.bytes.max - e.bytes.min).toBeLessThan(e.bytes.min / 32);
    }
    expect(formatBytes(50)).toBe('50 B');
    expect(formatBytes(1023)).toBe('1023 B');
    expect(formatBytes(1024)).toBe('1.0 KiB');
    expect(formatBytes(5 * 2 ** 30)).toBe('5.0 GiB');
  });

  it('has unique names, MD5s and addresses for the DDIM checkpoints', () => {
    expect(new Set(WEIGHTS.map((e) => e.name)).size).toBe(WEIGHTS.length);
    expect(new Set(WEIGHTS.map((e) => e.md5)).size).toBe(WEIGHTS.length);
    for (const e of WEIGHTS) {
      expect(e.md5).toMatch(/^[0-9a-f]{32}$/);
      expect(e.urls.length).toBeGreaterThan(0);
      for (const u of e.urls) expect(new URL(u).protocol).toBe('https:');
    }
    // The values of reference/dnf-pipeline.md section 2.
    expect(weightsEntry('lsun_bedroom')).toMatchObject({
      md5: 'f70280ac0e08b8e696f42cb8e948ff1c', urls: ['https://heibox.uni-heidelberg.de/f/f179d4f21ebc4d43bbfe/?dl=1'],
      config: 'lsun-bedroom-256', parameters: 113_673_219,
    });
    expect(weightsEntry('cifar10')).toMatchObject({ md5: '82ed3067fd1002f5cf4c339fb80c4669', config: 'cifar10-32' });
  });

  it('names the choices for an unknown name', () => {
    expect(() => weightsEntry('bedroom')).toThrow(/unknown weights 'bedroom'; choose one of lsun_bedroom, ema_lsun_bedroom, /);
  });

  it('puts weights in $DNF_WEIGHTS_DIR, else in the package folder weights/', () => {
    vi.stubEnv('DNF_WEIGHTS_DIR', 'some/where');
    expect(defaultWeightsDir()).toBe(join(process.cwd(), 'some/where'));
    vi.stubEnv('DNF_WEIGHTS_DIR', '');
    expect(defaultWeightsDir()).toBe(join(import.meta.dirname, '..', 'weights'));
    vi.unstubAllEnvs();
  });
});

describe('dnf weights (CLI)', () => {
  /** Runs the CLI in this process; returns the exit code and what it printed. */
  async function dnf(...args: string[]) {
    const out: string[] = [];
    const err: string[] = [];
    const log = vi.spyOn(console, 'log').mockImplementation((s: string) => void out.push(s));
    const error = vi.spyOn(console, 'error').mockImplementation((s: string) => void err.push(s));
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true); // progress lines
    try {
      return { code: await main(args), out: out.join('\n'), err: err.join('\n') };
    } finally {
      log.mockRestore();
      error.mockRestore();
      stderr.mockRestore();
    }
  }

  it('list shows every checkpoint and what the folder holds', async () => {
    writeFileSync(join(dir, 'lsun_bedroom.safetensors'), 'x');
    writeFileSync(join(dir, 'cifar10.ckpt.part'), Buffer.alloc(3 * 2 ** 20));
    const r = await dnf('weights', 'list', '--dir', dir);
    expect(r.code).toBe(0);
    const lines = r.out.split('\n');
    expect(lines[0]).toBe(`weights folder: ${dir}`);
    expect(lines[1]).toMatch(/^name +config +download +in folder +description$/);
    expect(lines).toHaveLength(3 + WEIGHTS.length); // the folder, the header, a row per checkpoint, the classifier note
    expect(lines.at(-1)).toMatch(/^classifiers: none is published/);
    expect(r.out).toMatch(/\nlsun_bedroom +lsun-bedroom-256 +~433\.6 MiB +converted +DDPM LSUN bedroom 256x256, the UNet of DNF\n/);
    expect(r.out).toMatch(/\ncifar10 +cifar10-32 +~136\.4 MiB +partial 3\.0 MiB +DDPM CIFAR-10 32x32\n/);
    expect(r.out).toMatch(/\nema_lsun_bedroom +lsun-bedroom-256 +~433\.6 MiB +- +/);
  });

  it('fetch says when the weights are already there', async () => {
    writeFileSync(join(dir, 'lsun_bedroom.safetensors'), 'x');
    const r = await dnf('weights', 'fetch', '--dir', dir);
    expect(r.code).toBe(0);
    expect(r.out).toBe(`lsun_bedroom: ${join(dir, 'lsun_bedroom.safetensors')} is already there; delete it to fetch it again`);
    expect(seen).toEqual([]);
  });

  it("fetch --url downloads from there, within the registry's size (another file is refused before a byte is written)", async () => {
    const r = await dnf('weights', 'fetch', 'lsun_bedroom', '--dir', dir, '--url', `${base}/file`);
    expect(r.code).toBe(2);
    expect(r.err).toBe(`dnf: ${base}/file: the server announces 13.5 KiB (${BODY.length} bytes), but the file is 433.6 MiB to 441.4 MiB, so nothing was written; ` +
      'it is another file: check the address, or try again later');
    expect(seen).toEqual([{ path: '/file', range: undefined }]);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('fetch rejects unknown names and bad timeouts', async () => {
    const r = await dnf('weights', 'fetch', 'bedroom', '--dir', dir);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^dnf: unknown weights 'bedroom'; choose one of lsun_bedroom, /);
    expect((await dnf('weights', 'fetch', '--timeout', '0', '--dir', dir)).err).toBe('dnf: --timeout 0: expected a positive number of seconds');
  });
});
