/**
 * `dnf queue push`, `dnf worker` and `dnf queue status` through the built CLI (run `npm run build`
 * first) on a real redis-server (test/queue-setup.ts), with the tiny UNet (12x12, synthetic
 * weights): three workers over 240 images, one killed with SIGKILL in the middle of its batch, and
 * every output exists exactly once (no temp left), byte for byte as one plain `dnf extract`; a bad
 * image is recorded as failed with its message and not retried. Also the push's idempotence keyed
 * by file and its refusals, and the workers' setup errors, in one line each.
 */
import { readdir, readFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DnfQueue } from '../src/node/queue/store.js';
import { dnf, filesUnder as files, pattern, writeModels, type Models } from './detect-setup.js';
import { dnfBackground, freePort, startRedis, type RedisServer } from './queue-setup.js';

let root: string;
let models: Models;
let redis: RedisServer;
const inputs = () => join(root, 'in');
const IMAGES = 240;
/** Sorts last, so the batch that the killed worker takes first holds only good images. */
const BAD = 'zz-bad.png';

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'dnf-queue-'));
  [models, redis] = await Promise.all([writeModels(root), startRedis()]);
  await mkdir(join(inputs(), 'sub'), { recursive: true });
  for (let i = 0; i < IMAGES; i++) {
    const rel = i < IMAGES / 2 ? `img${String(i).padStart(3, '0')}.png` : `sub/img${i}.${i % 2 ? 'jpg' : 'png'}`;
    const img = pattern(12 + (i % 3) * 4, 12 + (i % 2) * 6, 3 + 7 * i);
    await (rel.endsWith('.jpg') ? img.jpeg() : img.png()).toFile(join(inputs(), rel));
  }
  // a.png and a.jpg share a name: both keep their extension, whichever batches they are in
  await pattern(14, 14, 41).png().toFile(join(inputs(), 'a.png'));
  await pattern(14, 14, 43).jpeg().toFile(join(inputs(), 'a.jpg'));
  await writeFile(join(inputs(), BAD), 'not an image');
}, 120_000);

afterAll(async () => {
  await redis?.stop();
  await rm(root, { recursive: true, force: true });
});

const redisArgs = (name: string) => ['--redis', redis.url, '--name', name];

/** Resolves once `dir` holds a file, polling every few milliseconds. */
async function firstFile(dir: string, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    const found = await readdir(dir, { recursive: true }).catch(() => [] as string[]);
    if (found.some((f) => f.endsWith('.png'))) return;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`no output appeared in ${dir} within ${timeoutMs} ms`);
}

describe('dnf queue and dnf worker', () => {
  it('three workers, one killed with SIGKILL mid-batch, write exactly the files of one plain extract', async () => {
    const plain = join(root, 'plain');
    const out = join(root, 'out');
    const r = dnf(root, 'extract', ['extract', inputs(), '-o', plain, ...models.unetArgs]);
    expect(r.code, r.stderr).toBe(1); // the bad image
    const expected = await files(plain);
    expect(expected).toHaveLength(IMAGES + 2);
    expect(expected).toContain('a.jpg.png');

    const push = dnf(root, 'queue', ['queue', 'push', inputs(), ...redisArgs('kill'), '--batch', '20']);
    expect(push.code, push.stderr).toBe(0);
    expect(push.lines.at(-1)).toMatch(new RegExp(`^queue: kill: ${IMAGES + 3} of ${IMAGES + 3} files added in 13 batches of up to 20 `));
    const again = dnf(root, 'queue', ['queue', 'push', inputs(), ...redisArgs('kill'), '--batch', '20']);
    expect(again.lines.at(-1)).toBe(`queue: kill: all ${IMAGES + 3} files were pushed before; nothing added`);

    // The first worker computes one image per GPU batch (20 per queue batch): killed at its first
    // output, it is in the middle of its batch, which must come back to the others.
    const workerArgs = (...more: string[]) => ['worker', ...redisArgs('kill'), '-o', out, ...models.unetArgs, '--lock-seconds', '3', '--exit-when-empty', ...more];
    const doomed = dnfBackground(root, workerArgs('--batch', '1'), true);
    await firstFile(out, 120_000);
    doomed.killHard();
    expect(await doomed.exit).toBeNull(); // killed, not exited
    const others = [dnfBackground(root, workerArgs()), dnfBackground(root, workerArgs())];
    const codes = await Promise.all(others.map((w) => w.exit));
    const logs = others.map((w) => w.stderr()).join('\n');
    expect(codes.filter((c) => c === 1), logs).toHaveLength(1); // the worker that met the bad image
    expect(codes.filter((c) => c === 0), logs).toHaveLength(1);

    // Every output once, nothing else (no temp, no claim), byte for byte as the plain run.
    expect(await files(out)).toEqual(expected);
    for (const f of expected) expect(await readFile(join(out, f)), f).toEqual(await readFile(join(plain, f)));
    const verify = dnf(root, 'extract', ['extract', inputs(), '-o', out, '--verify']);
    expect(verify.lines.filter((l) => l.startsWith('extract: missing '))).toEqual([`extract: missing ${join(out, 'zz-bad.png')} (from ${join(inputs(), BAD)})`]);

    // The killed worker's batch was put back once (its lock expired) and finished by another.
    const q = new DnfQueue(redis.url, 'kill');
    try {
      const jobs = await q.queue.getCompleted(0, -1);
      expect(jobs).toHaveLength(13);
      // FIFO: the doomed worker took the first batch pushed, the one with a.jpg
      const first = jobs.find((j) => j.data.files.some((f) => f.rel === 'a.jpg'))!;
      expect(first.stalledCounter).toBe(1);
      expect(jobs.filter((j) => j !== first).map((j) => j.stalledCounter)).toEqual(new Array(12).fill(0)); // the live workers kept their locks
      expect(first.returnvalue!.done + first.returnvalue!.skipped).toBe(20);
      expect(first.returnvalue!.done, `${doomed.stderr()}\n${JSON.stringify(jobs.map((j) => [j.stalledCounter, j.returnvalue]))}`).toBeGreaterThan(0); // unfinished when its worker died
    } finally {
      await q.close();
    }

    const status = dnf(root, 'queue', ['queue', 'status', ...redisArgs('kill'), '--json']);
    expect(status.code, status.stderr).toBe(1); // a file failed
    const s = JSON.parse(status.stdout);
    expect(s.files).toEqual({ pushed: IMAGES + 3, done: IMAGES + 2, failed: 1, active: 0, waiting: 0, inFailedBatches: 0 });
    expect(s.batches).toEqual({ done: 13, active: 0, waiting: 0, delayed: 0, failed: 0 });
    expect(s.failedFiles).toEqual([{ path: join(inputs(), BAD), message: expect.stringMatching(new RegExp(`^${join(inputs(), BAD)}: cannot decode image`)) }]);
    expect(s.rate).toBeGreaterThan(0);
    expect(s.etaSeconds).toBeNull();
    const text = dnf(root, 'queue', ['queue', 'status', ...redisArgs('kill')]);
    expect(text.stdout.split('\n')[0]).toBe(`kill: files: ${IMAGES + 2} done, 0 active, 1 failed, 0 waiting (of ${IMAGES + 3} pushed)`);
    expect(text.stdout).toContain(`kill: failed: ${join(inputs(), BAD)}: cannot decode image`);

    // Not retried: another worker finds nothing to do.
    const late = dnf(root, 'worker', workerArgs());
    expect(late.code, late.stderr).toBe(0);
    expect(late.lines.at(-1)).toBe('worker: kill: 0 batches, 0 done, 0 skipped (already done), 0 failed; the queue is empty');
  }, 600_000);

  it('a push adds only files it has not seen, and refuses other settings or a name change of a pushed file', async () => {
    const dir = join(root, 'grow');
    await mkdir(dir, { recursive: true });
    for (let i = 0; i < 5; i++) await pattern(12, 12, 50 + i).png().toFile(join(dir, `g${i}.png`));
    const push = (...more: string[]) => dnf(root, 'queue', ['queue', 'push', dir, ...redisArgs('grow'), '--batch', '2', ...more]);
    expect(push().lines.at(-1)).toMatch(/^queue: grow: 5 of 5 files added in 3 batches of up to 2 /);
    await pattern(12, 12, 60).png().toFile(join(dir, 'g5.png'));
    await pattern(12, 12, 61).png().toFile(join(dir, 'a0.png')); // sorts first: the old batches stay as they were
    expect(push().lines.at(-1)).toMatch(/^queue: grow: 2 of 7 files added in 1 batches of up to 2 /);
    const q = new DnfQueue(redis.url, 'grow');
    try {
      const batches = (await q.queue.getWaiting(0, -1)).map((j) => j.data.files.map((f) => f.rel)).sort();
      expect(batches).toEqual([['a0.png', 'g5.png'], ['g0.png', 'g1.png'], ['g2.png', 'g3.png'], ['g4.png']]);
    } finally {
      await q.close();
    }

    const other = push('--format', 'safetensors');
    expect(other.code).toBe(2);
    expect(other.lines).toEqual([
      'dnf: queue grow computes --format png --steps 0 --feature first --antialias, not --format safetensors --steps 0 --feature first --antialias; push with the same settings, or into another queue (--name)',
    ]);
    await pattern(12, 12, 62).jpeg().toFile(join(dir, 'g1.jpg')); // g1.png's output would become g1.png.png
    const renamed = push();
    expect(renamed.code).toBe(2);
    expect(renamed.lines).toHaveLength(2);
    expect(renamed.lines[0]).toBe('queue: g1.jpg, g1.png would share output names: these outputs keep the source extension (g1.jpg.png, g1.png.png); --keep-ext does so for all');
    expect(renamed.lines[1]).toMatch(new RegExp(`^dnf: ${join(dir, 'g1.png')}: pushed to queue grow as g1.png, but beside the files now in its folder it is named g1.png.png; `));
  });

  it('a batch whose processing fails as a whole is tried --attempts times, then listed as failed with the reason', async () => {
    // Through the built modules: the worker's lock thread is dist/node/queue/lock-thread.js.
    const { DnfQueue: BuiltQueue } = await import('../dist/node/queue/store.js');
    const { pushInputs } = await import('../dist/node/queue/push.js');
    const { runQueueWorker } = await import('../dist/node/queue/worker.js');
    const { queueStatus } = await import('../dist/node/queue/status.js');
    const dir = join(root, 'doomed-batch');
    await mkdir(dir, { recursive: true });
    for (let i = 0; i < 3; i++) await pattern(12, 12, 70 + i).png().toFile(join(dir, `d${i}.png`));
    const q = new BuiltQueue(redis.url, 'engine-fails');
    try {
      await pushInputs(q, [dir], { settings: { format: 'png', steps: 0, feature: 'first', antialias: true, keepExt: false }, batch: 10, attempts: 2 });
      let calls = 0;
      const lines: string[] = [];
      const report = await runQueueWorker({
        queue: q, output: join(root, 'doomed-out'), batchSize: 3, lockMs: 3000, exitWhenEmpty: true,
        sink: { write: (t: string) => lines.push(t) },
        processBatch: async () => {
          calls++;
          throw new Error('the engine broke'); // alike for every file: the engine's failure, not the inputs'
        },
      });
      expect(report).toEqual({ batches: 0, done: 0, skipped: 0, failed: 0, interrupted: false });
      expect(calls).toBe(2 * 4); // per attempt: the batch, then each of its 3 files alone
      expect(lines.filter((l) => / failed \(attempt \d of 2\): the engine broke\n$/.test(l))).toHaveLength(2);
      const s = await queueStatus(q);
      expect(s.batches).toEqual({ done: 0, active: 0, waiting: 0, delayed: 0, failed: 1 });
      expect(s.files).toEqual({ pushed: 3, done: 0, failed: 0, active: 0, waiting: 0, inFailedBatches: 3 });
      expect(s.failedBatches).toEqual([{ id: expect.stringMatching(/^batch-[0-9a-f]{32}$/), reason: 'the engine broke', files: 3 }]);
    } finally {
      await q.close();
    }
  }, 60_000);

  it('setup errors in one line with exit 2', async () => {
    const badName = dnf(root, 'queue', ['queue', 'status', '--redis', redis.url, '--name', 'a:b']);
    expect(badName.code).toBe(2);
    expect(badName.lines).toEqual([expect.stringMatching(/^dnf: --name a:b: a queue name is letters, digits/)]);

    const port = await freePort(); // nothing listens there
    const down = dnf(root, 'queue', ['queue', 'status', '--redis', `redis://127.0.0.1:${port}`, '--name', 'x']);
    expect(down.code).toBe(2);
    expect(down.lines).toEqual([expect.stringMatching(new RegExp(`^dnf: --redis redis://127.0.0.1:${port}: cannot reach Redis \\(.*\\); check that redis-server runs there`))]);

    const notUrl = dnf(root, 'queue', ['queue', 'push', inputs(), '--redis', 'localhost:6379', '--name', 'x']);
    expect(notUrl.code).toBe(2);
    expect(notUrl.lines).toEqual([expect.stringMatching(/^dnf: --redis localhost:6379: not a redis:\/\/ or rediss:\/\/ URL/)]);

    // an output folder inside an input folder of the queue
    const inside = dnf(root, 'worker', ['worker', ...redisArgs('kill'), '-o', join(inputs(), 'dnf'), ...models.unetArgs, '--exit-when-empty']);
    expect(inside.code).toBe(2);
    expect(inside.lines).toEqual([`dnf: -o ${join(inputs(), 'dnf')}: lies inside ${inputs()}, an input folder of queue kill; choose an output folder outside the inputs`]);
  });
});
