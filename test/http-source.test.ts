/**
 * Weights at a URL read in HTTP ranges (src/pipeline/http-source.ts), against local node:http
 * servers: one that honours Range (206 with Content-Range), one that ignores it (200, the whole
 * file: downloaded once into a Blob), and ones that fail (404, a refused connection, a wrong
 * Content-Range). Every read must return the file's own bytes; the ranged source must fetch only
 * about what is read (windows of 1 MiB, or the read itself when larger).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DnfError } from '../src/errors.js';
import { openUrlSource } from '../src/pipeline/http-source.js';
import { SafetensorsFile, serializeSafetensors } from '../src/weights/safetensors.js';

/** A safetensors file of 3 tensors (4 KiB, 3 MiB, 12 bytes): small and big reads. */
const tensors = [
  { name: 'small', dtype: 'F32' as const, shape: [1024], data: Float32Array.from({ length: 1024 }, (_, i) => i * 0.5) },
  { name: 'big', dtype: 'F32' as const, shape: [768, 1024], data: Float32Array.from({ length: 768 * 1024 }, (_, i) => Math.sin(i)) },
  { name: 'tail', dtype: 'F32' as const, shape: [3], data: Float32Array.from([1, 2, 3]) },
];
const file = serializeSafetensors(tensors);

type Mode = 'range' | 'plain' | 'missing' | 'bad-range';
let server: Server;
let base = '';
/** The Range header of every request, per mode. */
const seen: Record<string, Array<string | undefined>> = {};

beforeAll(async () => {
  server = createServer((req, res) => {
    const mode = req.url!.split('/')[1] as Mode;
    (seen[mode] ??= []).push(req.headers.range);
    if (mode === 'missing') {
      res.writeHead(404, 'Not Found').end();
      return;
    }
    const m = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
    if (mode === 'plain' || !m) {
      res.writeHead(200, { 'Content-Length': file.length }).end(file);
      return;
    }
    const [a, b] = [Number(m[1]), Math.min(Number(m[2]), file.length - 1)];
    const range = mode === 'bad-range' ? `bytes ${a + 1}-${b}/${file.length}` : `bytes ${a}-${b}/${file.length}`;
    res.writeHead(206, { 'Content-Range': range, 'Content-Length': b - a + 1 }).end(file.subarray(a, b + 1));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

/** Whether `bytes` hold exactly `values` (compared as bytes: toEqual on 786k floats takes seconds). */
const same = (bytes: Uint8Array, values: Float32Array) => Buffer.from(bytes).equals(Buffer.from(values.buffer, values.byteOffset, values.byteLength));

const progress = () => {
  const calls: Array<[number, number]> = [];
  return { calls, onProgress: (done: number, total: number) => calls.push([done, total]) };
};

describe('openUrlSource', () => {
  it('reads in ranges from a server that serves them: the same bytes, about only what is read', async () => {
    const p = progress();
    const src = await openUrlSource(`${base}/range/w.safetensors`, p);
    expect(src).toMatchObject({ name: 'w.safetensors', size: file.length, ranged: true });
    const st = await SafetensorsFile.open(src);
    for (const t of tensors) expect(same(await st.read(t.name), t.data)).toBe(true);
    expect(await src.read(5, 100)).toEqual(file.subarray(5, 105));
    expect(await src.read(file.length - 7, 7)).toEqual(file.subarray(file.length - 7));
    // The header and the small tensors come from the first 1 MiB window; 'big' (3 MiB) from one
    // request of its own; 'tail' and the last reads from one more window.
    const ranges = seen.range;
    expect(ranges[0]).toBe('bytes=0-1048575');
    expect(ranges.length).toBeLessThanOrEqual(4);
    expect(ranges.every((r) => r?.startsWith('bytes='))).toBe(true);
    const last = p.calls.at(-1)!;
    expect(last[1]).toBe(file.length);
    expect(p.calls.every(([d], i) => i === 0 || d >= p.calls[i - 1][0])).toBe(true);
  });

  it('downloads the whole file once, into a Blob, when the server answers 200 without ranges', async () => {
    const p = progress();
    const src = await openUrlSource(`${base}/plain/w.safetensors`, p);
    expect(src).toMatchObject({ size: file.length, ranged: false });
    const st = await SafetensorsFile.open(src);
    expect(same(await st.read('big'), tensors[1].data)).toBe(true);
    expect(seen.plain).toHaveLength(1);
    expect(p.calls.at(-1)).toEqual([file.length, file.length]);
  });

  it('fails in one line naming the URL and the fix', async () => {
    const missing = `${base}/missing/w.safetensors`;
    const e404 = await openUrlSource(missing).catch((e: unknown) => e);
    expect(e404).toBeInstanceOf(DnfError);
    expect((e404 as Error).message).toBe(`${missing}: the server answered 404 Not Found; check the address`);

    const bad = `${base}/bad-range/w.safetensors`;
    await expect(openUrlSource(bad)).rejects.toThrow(`${bad}: the server answered a range request with Content-Range "bytes 1-1048575/${file.length}", not bytes 0-N/size; serve the file from a server that supports ranges, or download it and give the file`);

    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const refused = `http://127.0.0.1:${port}/w.safetensors`;
    const e = (await openUrlSource(refused).catch((x: unknown) => x)) as Error;
    expect(e).toBeInstanceOf(DnfError);
    expect(e.message).toMatch(new RegExp(`^${refused.replace(/[./]/g, '\\$&')}: download failed \\(fetch failed: .*ECONNREFUSED.*\\); check the address and the connection, and that its server allows downloads from other sites \\(CORS\\)$`));
    expect(e.message).not.toContain('\n');
  });
});
