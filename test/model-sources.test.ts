/**
 * Weights sources as createDetector takes them (src/pipeline/sources.ts): a path where the
 * environment opens paths, http(s) URLs (fetched), Blobs and Files (named by the file), bytes,
 * a ByteSource of one's own; each read back byte for byte, with 'read' progress up to the size,
 * and anything else refused in one line that lists what is taken.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DnfError } from '../src/errors.js';
import type { DetectorEnvironment } from '../src/pipeline/environment.js';
import { openModelSource, type LoadProgress } from '../src/pipeline/sources.js';
import { openFileSource } from '../src/node/files.js';
import { bytesSource } from '../src/weights/safetensors.js';

const dir = mkdtempSync(join(tmpdir(), 'dnf-model-sources-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const bytes = Uint8Array.from({ length: 1000 }, (_, i) => (i * 7) % 251);
const path = join(dir, 'w.safetensors');
writeFileSync(path, bytes);

const opened: string[] = [];
const env: DetectorEnvironment = {
  acquireGpu: () => Promise.reject(new Error('no GPU here')),
  releaseGpu: async () => {},
  openPath: async (p) => {
    opened.push(p);
    const source = await openFileSource(p);
    return { source, close: () => source.close() };
  },
  decodeImage: () => Promise.reject(new Error('no images here')),
};
const browserLike: DetectorEnvironment = { ...env, openPath: undefined, baseUrl: 'https://example.test/app/' };

describe('openModelSource', () => {
  it.each([
    ['a path', () => path, path],
    ['a Blob', () => new Blob([bytes]), 'unet (Blob)'],
    ['a File', () => new File([bytes], 'mine.safetensors'), 'mine.safetensors'],
    ['an ArrayBuffer', () => bytes.slice().buffer, 'unet (ArrayBuffer)'],
    ['a Uint8Array', () => bytes, 'unet (bytes)'],
    ['a ByteSource', () => bytesSource('custom', bytes), 'custom'],
  ])('reads %s byte for byte, named for messages, with read progress', async (_kind, make, name) => {
    const progress: LoadProgress[] = [];
    const { source, close } = await openModelSource(make(), 'unet', env, (p) => progress.push(p));
    try {
      expect(source.name).toBe(name);
      expect(source.size).toBe(bytes.length);
      expect(await source.read(0, 600)).toEqual(bytes.subarray(0, 600));
      expect(await source.read(600, 400)).toEqual(bytes.subarray(600));
      expect(progress.at(-1)).toEqual({ model: 'unet', stage: 'read', done: 1000, total: 1000 });
    } finally {
      await close();
    }
  });

  it('fetches http(s) addresses instead of opening them as paths; relative ones resolve against the page', async () => {
    opened.length = 0;
    // Nothing listens on port 9 (discard): the fetch fails, which shows it was tried as a URL.
    await expect(openModelSource('http://127.0.0.1:9/w.safetensors', 'unet', env)).rejects.toThrow(/^http:\/\/127\.0\.0\.1:9\/w\.safetensors: download failed/);
    expect(opened).toEqual([]);
    await expect(openModelSource('models/w.safetensors', 'classifier', browserLike)).rejects.toThrow(/^https:\/\/example\.test\/app\/models\/w\.safetensors: download failed/);
  });

  it('refuses anything else in one line saying what it takes', async () => {
    const e = await openModelSource(42 as never, 'classifier', env).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(DnfError);
    expect((e as Error).message).toBe('the classifier source is number; give a path, a URL, a Blob or File, an ArrayBuffer or Uint8Array, or a ByteSource');
    await expect(openModelSource(null as never, 'unet', browserLike)).rejects.toThrow('the unet source is null; give a URL, a Blob or File, an ArrayBuffer or Uint8Array, or a ByteSource');
  });
});
