/**
 * Hostile weights files (tools/hostile/weights.mjs builds them): each is refused with a one-line
 * DnfError naming the file, in well under 2 s and without a heap or RSS growth out of proportion to
 * its size (they once exhausted V8's heap, ran for minutes, overflowed the stack, allocated 2 GiB or
 * printed 50 KB error lines).
 */
import { describe, expect, it } from 'vitest';
import { DnfError } from '../src/errors.js';
import { checkpointToTensors } from '../src/weights/convert.js';
import { bytesSource } from '../src/weights/safetensors.js';
// @ts-expect-error: a plain .mjs tool, without type declarations
import { hostileFiles } from '../tools/hostile/weights.mjs';

interface Hostile { name: string; bytes: Uint8Array; expect: RegExp }

const MAX_MS = 2000;
const MAX_HEAP = 256 * 2 ** 20;
const MAX_RSS = 512 * 2 ** 20;

describe('hostile weights files', () => {
  for (const file of hostileFiles() as Hostile[]) {
    it(`refuses ${file.name} (${file.bytes.length} bytes) quickly, in bounded memory, in one line`, async () => {
      const heap0 = process.memoryUsage().heapUsed;
      const rss0 = process.memoryUsage().rss;
      const t0 = performance.now();
      const err = await checkpointToTensors(bytesSource(file.name, file.bytes)).then(() => undefined, (e: unknown) => e);
      const ms = performance.now() - t0;
      const heap = process.memoryUsage().heapUsed - heap0;
      const rss = process.memoryUsage().rss - rss0;
      expect(err, String(err)).toBeInstanceOf(DnfError);
      const msg = (err as Error).message;
      expect(msg.startsWith(`${file.name}`), msg.slice(0, 200)).toBe(true);
      expect(msg).toMatch(file.expect);
      expect(msg).not.toContain('\n');
      expect(msg.length).toBeLessThan(400);
      expect(ms).toBeLessThan(MAX_MS);
      expect(heap).toBeLessThan(MAX_HEAP);
      expect(rss).toBeLessThan(MAX_RSS);
    });
  }
});
