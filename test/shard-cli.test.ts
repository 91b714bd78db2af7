/**
 * `dnf extract --shard` and `--verify` through the built CLI (run `npm run build` first), with the
 * tiny UNet of test/detect-setup.ts: three shard processes over a dozen images (two of them with
 * clashing names) write exactly the files, byte for byte, of one plain extract; --verify reports
 * complete after them and lists the outputs deleted afterwards, without loading a UNet.
 */
import { mkdir, mkdtemp, readFile, rm, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shardOf } from '../src/node/batch/shard.js';
import { dnf, filesUnder as files, pattern, writeModels, type Models } from './detect-setup.js';

let root: string;
let models: Models;
const inputs = () => join(root, 'in');

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'dnf-shard-cli-'));
  models = await writeModels(root);
  await mkdir(join(inputs(), 'sub'), { recursive: true });
  for (let i = 0; i < 10; i++) {
    const rel = i < 5 ? `img${i}.png` : `sub/img${i}.${i % 2 ? 'jpg' : 'png'}`;
    const img = pattern(12 + i, 10 + 2 * i, 3 + 5 * i);
    await (rel.endsWith('.jpg') ? img.jpeg() : img.png()).toFile(join(inputs(), rel));
  }
  // a.png and a.jpg would both be a.png: both keep their extension, whichever shards they are in
  await pattern(14, 14, 41).png().toFile(join(inputs(), 'a.png'));
  await pattern(14, 14, 43).jpeg().toFile(join(inputs(), 'a.jpg'));
}, 120_000);

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('dnf extract --shard', () => {
  it('three shards write exactly the files of one plain run; --verify checks them without a UNet', async () => {
    const plain = join(root, 'plain');
    const sharded = join(root, 'sharded');
    const r = dnf(root, 'extract', ['extract', inputs(), '-o', plain, ...models.unetArgs]);
    expect(r.code, r.stderr).toBe(0);
    const expected = await files(plain);
    expect(expected).toHaveLength(12);
    expect(expected).toContain('a.jpg.png');
    expect(expected).toContain('a.png.png');
    expect(shardOf('a.png', 3)).not.toBe(shardOf('a.jpg', 3)); // the clashing pair is split: each shard must see the other's name

    let total = 0;
    for (let i = 0; i < 3; i++) {
      const s = dnf(root, 'extract', ['extract', inputs(), '-o', sharded, '--shard', `${i}/3`, ...models.unetArgs]);
      expect(s.code, s.stderr).toBe(0);
      const summary = s.lines.find((l) => l.startsWith(`extract: shard ${i}/3: `));
      const m = /^extract: shard \d\/3: (\d+) of 12 inputs; (\d+) done, 0 skipped/.exec(summary ?? '');
      expect(m, s.stderr).not.toBeNull();
      expect(m![2]).toBe(m![1]);
      total += Number(m![1]);
    }
    expect(total).toBe(12);
    expect(await files(sharded)).toEqual(expected);
    for (const f of expected) expect(await readFile(join(sharded, f))).toEqual(await readFile(join(plain, f)));

    // --verify needs no model: a UNet path that does not exist is never looked at
    const noUnet = ['--unet', join(root, 'no-such-unet.safetensors')];
    const ok = dnf(root, 'extract', ['extract', inputs(), '-o', sharded, '--verify', ...noUnet]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.lines).toEqual(['extract: verified: all 12 outputs complete']);

    await unlink(join(sharded, 'a.jpg.png'));
    await unlink(join(sharded, 'sub', 'img7.png'));
    const bad = dnf(root, 'extract', ['extract', inputs(), '-o', sharded, '--verify', ...noUnet]);
    expect(bad.code, bad.stderr).toBe(1);
    expect(bad.lines.filter((l) => l.startsWith('extract: missing ')).sort()).toEqual([
      `extract: missing ${join(sharded, 'a.jpg.png')} (from ${join(inputs(), 'a.jpg')})`,
      `extract: missing ${join(sharded, 'sub', 'img7.png')} (from ${join(inputs(), 'sub', 'img7.jpg')})`,
    ]);
    expect(bad.lines.at(-1)).toBe('extract: verified: 10 of 12 outputs complete, 2 missing, 0 incomplete; run the same extract again to finish them');
  }, 600_000);

  it('refuses a bad --shard in one line with exit 2', () => {
    const r = dnf(root, 'extract', ['extract', inputs(), '-o', join(root, 'none'), '--shard', '3/3', ...models.unetArgs]);
    expect(r.code).toBe(2);
    expect(r.lines).toHaveLength(1);
    expect(r.lines[0]).toMatch(/^dnf: --shard 3\/3: the shard index must be a whole number from 0 to 2/);
  });
});
