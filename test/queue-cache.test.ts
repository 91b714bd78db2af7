/**
 * The DNF caches of `dnf eval --cache` and `dnf train --images` across machines, through the built
 * CLI (run `npm run build` first): both caches have extract's layout, so `dnf extract --shard` or
 * a queue (`dnf queue push` + `dnf worker`) fill them on many machines and eval and train then
 * compute nothing. Checked: a cache filled by two shards is what eval writes itself, byte for
 * byte, and eval over it needs no UNet and gives the same results; train --images over caches
 * filled by a queue (train split) and by shards (val split) finds every DNF done.
 */
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dnf, filesUnder as files, pattern, repo, writeModels, type Models } from './detect-setup.js';
import { startRedis, type RedisServer } from './queue-setup.js';

let root: string;
let models: Models;
let redis: RedisServer;

/** `<dir>/0_real` and `<dir>/1_fake` with n images each (and extra files per class), seeds from `seed`. */
async function classFolders(dir: string, n: number, seed: number, extra: (cls: string) => Promise<void> = async () => {}) {
  for (const cls of ['0_real', '1_fake']) {
    await mkdir(join(dir, cls), { recursive: true });
    for (let i = 0; i < n; i++) await pattern(14 + i, 12 + 2 * i, seed + i + (cls === '1_fake' ? 50 : 0)).png().toFile(join(dir, cls, `${i}.png`));
    await extra(cls);
  }
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'dnf-queue-cache-'));
  [models, redis] = await Promise.all([writeModels(root), startRedis()]);
}, 120_000);

afterAll(async () => {
  await redis?.stop();
  await rm(root, { recursive: true, force: true });
});

/** Two `extract --shard i/2` runs of `input` into `output`. */
function shardedExtract(input: string, output: string) {
  for (const shard of ['0/2', '1/2']) {
    const r = dnf(root, 'extract', ['extract', input, '-o', output, '--shard', shard, ...models.unetArgs]);
    expect(r.code, r.stderr).toBe(0);
  }
}

describe('DNF caches filled across machines', () => {
  it('eval --cache reuses a cache that extract --shard filled: the same files as its own, no UNet needed, the same results', async () => {
    const test = join(root, 'test');
    await classFolders(test, 5, 3, async (cls) => {
      if (cls !== '1_fake') return;
      await pattern(16, 16, 91).png().toFile(join(test, cls, 'a.png')); // a.png and a.jpg: both keep their extension
      await pattern(16, 16, 93).jpeg().toFile(join(test, cls, 'a.jpg'));
    });
    const sharded = join(root, 'cache-sharded');
    shardedExtract(test, sharded);

    const evalArgs = (cache: string, ...unet: string[]) => ['eval', test, '--classifier', models.classifier, '--cache', cache, '--json', '--no-csv', ...unet];
    const own = join(root, 'cache-own');
    const computed = dnf(root, 'eval', evalArgs(own, ...models.unetArgs));
    expect(computed.code, computed.stderr).toBe(0);
    expect(computed.stderr).toMatch(/eval: 12 images in 1 subsets \(0 DNFs cached in /);
    expect(await files(sharded)).toEqual(await files(own));
    for (const f of await files(own)) expect(await readFile(join(sharded, f)), f).toEqual(await readFile(join(own, f)));

    const reused = dnf(root, 'eval', evalArgs(sharded, '--unet', join(root, 'no-such-unet.safetensors')));
    expect(reused.code, reused.stderr).toBe(0);
    expect(reused.stderr).toMatch(/eval: 12 images in 1 subsets \(12 DNFs cached in /);
    expect(reused.stdout).toBe(computed.stdout);
    expect(JSON.parse(reused.stdout.split('\n')[0]).images).toBe(12);
  }, 300_000);

  it('train --images finds every DNF done in a cache that a queue and shards filled', async () => {
    const train = join(root, 'train');
    const val = join(root, 'val');
    await classFolders(train, 3, 10);
    await classFolders(val, 2, 30);
    const cache = join(root, 'cache-train');

    const push = dnf(root, 'queue', ['queue', 'push', train, '--redis', redis.url, '--name', 'train-cache', '--batch', '4']);
    expect(push.code, push.stderr).toBe(0);
    const worker = dnf(root, 'worker', ['worker', '--redis', redis.url, '--name', 'train-cache', '-o', join(cache, 'train'), ...models.unetArgs, '--exit-when-empty']);
    expect(worker.code, worker.stderr).toBe(0);
    shardedExtract(val, join(cache, 'val'));

    const fixture = join(repo, 'test', 'fixtures', 'train-loop');
    const r = dnf(root, 'train', ['train', train, '--val', val, '-o', join(root, 'run'), '--images', '--cache', cache, ...models.unetArgs,
      '--init', join(fixture, 'init.pth'), '--batch-size', '4', '--image-size', '32', '--epochs', '1']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/extract: 0 done, 6 skipped \(already done\)/);
    expect(r.stderr).toMatch(/extract: 0 done, 4 skipped \(already done\)/);
    expect(r.stderr).toMatch(/1 epochs of .*best val acc/);
  }, 300_000);
});
