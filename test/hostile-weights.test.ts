/**
 * Hostile weights files (tools/hostile/weights.mjs builds them): each is refused with a one-line
 * DnfError naming the file, in under 2 s of CPU time (about 0.5 s on an idle core for the worst, the
 * million-item lists; wall time is bounded loosely, as other work may share the machine) and
 * without a heap or RSS growth out of proportion to its size (they once exhausted V8's heap, ran for
 * minutes, overflowed the stack, allocated 2 GiB or printed 50 KB error lines).
 */
import { describe, expect, it } from 'vitest';
import { DnfError } from '../src/errors.js';
import { checkpointToTensors } from '../src/weights/convert.js';
import { bytesSource } from '../src/weights/safetensors.js';
// @ts-expect-error: a plain .mjs tool, without type declarations
import { deflatedStorageFile, hostileFiles } from '../tools/hostile/weights.mjs';

interface Hostile { name: string; bytes: Uint8Array; expect: RegExp }

const MAX_CPU_MS = 2000;
const MAX_WALL_MS = 10_000;
const MAX_HEAP = 256 * 2 ** 20;
const MAX_RSS = 512 * 2 ** 20;

describe('hostile weights files', () => {
  for (const file of hostileFiles() as Hostile[]) {
    it(`refuses ${file.name} (${file.bytes.length} bytes) quickly, in bounded memory, in one line`, async () => {
      const heap0 = process.memoryUsage().heapUsed;
      const rss0 = process.memoryUsage().rss;
      const t0 = performance.now();
      const cpu0 = process.cpuUsage();
      const err = await checkpointToTensors(bytesSource(file.name, file.bytes)).then(() => undefined, (e: unknown) => e);
      const cpu = process.cpuUsage(cpu0);
      const ms = performance.now() - t0;
      const heap = process.memoryUsage().heapUsed - heap0;
      const rss = process.memoryUsage().rss - rss0;
      expect(err, String(err)).toBeInstanceOf(DnfError);
      const msg = (err as Error).message;
      expect(msg.startsWith(`${file.name}`), msg.slice(0, 200)).toBe(true);
      expect(msg).toMatch(file.expect);
      expect(msg).not.toContain('\n');
      expect(msg.length).toBeLessThan(400);
      expect((cpu.user + cpu.system) / 1000).toBeLessThan(MAX_CPU_MS);
      expect(ms).toBeLessThan(MAX_WALL_MS);
      expect(heap).toBeLessThan(MAX_HEAP);
      expect(rss).toBeLessThan(MAX_RSS);
    });
  }
});

describe('large data behind a small file', () => {
  it('reads a tensor at the start of a 128 MiB deflated storage without inflating the rest', async () => {
    const file = deflatedStorageFile() as { name: string; bytes: Uint8Array };
    const rss0 = process.memoryUsage().rss;
    const cpu0 = process.cpuUsage();
    const conv = await checkpointToTensors(bytesSource(file.name, file.bytes));
    const cpu = process.cpuUsage(cpu0);
    expect((cpu.user + cpu.system) / 1000).toBeLessThan(MAX_CPU_MS);
    expect(process.memoryUsage().rss - rss0).toBeLessThan(64 * 2 ** 20);
    expect(conv.tensors.map((t) => [t.name, t.dtype, t.shape, [...new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength)]]))
      .toEqual([['w', 'F32', [4], new Array(16).fill(0)]]);
  });
});
