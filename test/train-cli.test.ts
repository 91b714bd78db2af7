/**
 * `dnf train` through the built CLI (`npm run build` first): setup errors are one line and exit 2,
 * before any GPU work; bad images are skipped with one line each and counted; --images computes the
 * DNFs once into the cache (extract's layout) and trains on them; the model it writes is what
 * `dnf detect` reads with no other flag.
 */
import { spawn } from 'node:child_process';
import { copyFile, cp, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dnf, pattern, repo, writeModels, type Models } from './detect-setup.js';

const fixture = join(repo, 'test', 'fixtures', 'train-loop');
let root: string;
let models: Models;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'dnf-train-cli-'));
  models = await writeModels(root);
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const errLines = (stderr: string) => stderr.split('\n').filter((l) => l && !/^Warning: /.test(l) && !/XDG_RUNTIME_DIR/.test(l));

describe('dnf train setup errors', () => {
  it('names the problem in one line and exits 2', async () => {
    const empty = join(root, 'empty-class');
    await mkdir(join(empty, '0_real'), { recursive: true });
    await copyFile(join(fixture, 'train', '0_real', '0.png'), join(empty, '0_real', '0.png'));
    const noClasses = join(root, 'no-classes');
    await mkdir(noClasses, { recursive: true });
    await copyFile(join(fixture, 'train', '0_real', '0.png'), join(noClasses, 'x.png'));
    const train = join(fixture, 'train');
    const val = join(fixture, 'val');
    const cases: Array<[string[], RegExp]> = [
      [[train, '--val', join(root, 'missing'), '-o', join(root, 'r1')], /missing: no such folder; --val takes the root folder of a validation set/],
      [[noClasses, '--val', val, '-o', join(root, 'r2')], /no images in 0_real\/1_fake .* folders \(1 images elsewhere\)/],
      [[train, '--val', empty, '-o', join(root, 'r3')], /empty-class: no generated images \(1_fake or ai folders\) in --val; training needs both classes/],
      [[train, '--val', val, '-o', join(root, 'r4'), '--resume'], /nothing to resume \(no such file\); run without --resume/],
      [[train, '--val', val, '-o', join(root, 'r5'), '--cache', join(root, 'c')], /--cache keeps DNFs computed with --images/],
    ];
    for (const [args, message] of cases) {
      const r = dnf(root, 'train', ['train', ...args]);
      expect(r.code, r.stderr).toBe(2);
      const lines = errLines(r.stderr);
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(message);
    }
    const existing = join(root, 'r6');
    await mkdir(existing, { recursive: true });
    await writeFile(join(existing, 'last.safetensors'), '');
    const r = dnf(root, 'train', ['train', train, '--val', val, '-o', existing]);
    expect(r.code).toBe(2);
    expect(errLines(r.stderr)).toEqual([expect.stringMatching(/holds a training run already \(last.safetensors\); pass --resume to continue it/)]);
  });
});

describe('dnf train runs', () => {
  it('skips a bad image with one line, counts it, exits 1; detect reads best.safetensors alone', async () => {
    const data = join(root, 'data');
    await cp(fixture, data, { recursive: true });
    // 8 real and 6 generated images of the fixture, and a broken one (sorted after the digits: the
    // last file of epoch 1, since --no-shuffle keeps the order).
    for (const [cls, keep] of [['0_real', 8], ['1_fake', 6]] as const) {
      for (const f of await readdir(join(data, 'train', cls))) if (Number(f.replace('.png', '')) >= keep) await rm(join(data, 'train', cls, f));
    }
    await writeFile(join(data, 'train', '1_fake', 'broken.png'), Buffer.from('\x89PNG\r\n\x1a\n not really'));
    const out = join(root, 'run-bad');
    const r = dnf(root, 'train', ['train', join(data, 'train'), '--val', join(data, 'val'), '-o', out, '--init', join(data, 'init.pth'), '--batch-size', '8',
      '--image-size', '32', '--max-steps', '3', '--no-shuffle']);
    expect(r.code, r.stderr).toBe(1);
    const bad = r.stderr.split('\n').filter((l) => l.includes('broken.png'));
    expect(bad).toHaveLength(1); // epoch 2 stops (--max-steps) before reaching it again
    expect(bad[0]).toMatch(/^train epoch 1: .*broken\.png: .*\(skipped\)$/);
    expect(r.stderr).toMatch(/3 steps, 1 epochs of .*; 1 bad training images skipped; stopped: the --max-steps bound/);
    expect((await readdir(out)).sort()).toEqual(['best.safetensors', 'curves.svg', 'last.safetensors', 'log.jsonl']);
    const log = (await readFile(join(out, 'log.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    expect(log.filter((l) => l.type === 'step')).toHaveLength(3);
    expect(log.filter((l) => l.type === 'step').reduce((s, l) => s + l.images, 0)).toBe(14 + 8); // 15 files, one bad: 14 in epoch 1, 8 in epoch 2
    expect(log.filter((l) => l.type === 'epoch').map((l) => l.partial)).toEqual([false, true]);
    expect(await readFile(join(out, 'curves.svg'), 'utf8')).toMatch(/^<svg/);

    const d = dnf(root, 'detect', ['detect', join(data, 'val', '1_fake', '0.png'), '--from-dnf', '--classifier', join(out, 'best.safetensors'), '--json']);
    expect(d.code, d.stderr).toBe(0);
    expect(JSON.parse(d.stdout.trim()).prob).toBeGreaterThan(0);
    expect(d.stderr).toMatch(/at 32x32 \(best\.safetensors\)/);
  });

  it('--images computes the DNFs into the cache once, in extract\'s layout, and trains on them', async () => {
    const src = join(root, 'src');
    for (const [split, n] of [['train', 6], ['val', 4]] as const) {
      for (const cls of ['0_real', '1_fake']) {
        await mkdir(join(src, split, cls), { recursive: true });
        for (let i = 0; i < n / 2; i++) await pattern(20, 16, i + (cls === '1_fake' ? 50 : 0)).png().toFile(join(src, split, cls, `${i}.png`));
      }
    }
    // A source image that cannot be decoded is named, left out of training, and makes the exit status 1.
    await writeFile(join(src, 'train', '0_real', 'broken.png'), Buffer.from('not a png'));
    const out = join(root, 'run-images');
    const args = ['train', join(src, 'train'), '--val', join(src, 'val'), '-o', out, '--images', ...models.unetArgs, '--init', join(fixture, 'init.pth'),
      '--batch-size', '4', '--image-size', '32', '--epochs', '1'];
    const r = dnf(root, 'train', args);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/extract: 7 to do, 0 already done/);
    expect(r.stderr).toMatch(/broken\.png: /);
    expect((await readdir(join(out, 'dnf', 'train', '0_real'))).sort()).toEqual(['0.png', '1.png', '2.png']);
    expect((await readdir(join(out, 'dnf', 'train', '1_fake'))).sort()).toEqual(['0.png', '1.png', '2.png']);
    expect(r.stderr).toMatch(/2 steps, 1 epochs of .*best val acc/);
    // The cache is reused: a second run in a new folder computes nothing.
    const again = dnf(root, 'train', [...args.slice(0, 5), join(root, 'run-images-2'), ...args.slice(6), '--cache', join(out, 'dnf')]);
    expect(again.code, again.stderr).toBe(1);
    expect(again.stderr).toMatch(/extract: 1 to do, 6 already done/);
    expect(again.stderr).toMatch(/extract: 0 done, 6 skipped \(already done\), 1 failed/);
  });

  it('Ctrl-C stops after the current step with last.safetensors saved (exit 130), and --resume goes on', async () => {
    const out = join(root, 'run-sigint');
    const args = ['train', join(fixture, 'train'), '--val', join(fixture, 'val'), '-o', out, '--init', join(fixture, 'init.pth'), '--batch-size', '8', '--image-size', '32', '--epochs', '1'];
    const child = spawn(process.execPath, [join(repo, 'bin', 'dnf.js'), ...args], { cwd: root });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    const logged = async () => ((await readFile(join(out, 'log.jsonl'), 'utf8').catch(() => '')).match(/"type":"step"/g) ?? []).length;
    for (const end = Date.now() + 240_000; (await logged()) < 2;) {
      if (Date.now() > end) throw new Error(`no steps logged: ${stderr}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    expect(stderr).toMatch(/train: stopping after the current batch; Ctrl-C again to quit now/);
    expect(stderr).toMatch(/stopped: interrupted; `dnf train ... --resume` continues where it stopped/);
    expect((await stat(join(out, 'last.safetensors'))).size).toBeGreaterThan(0);
    const done = await logged();
    expect(done).toBeLessThan(11);
    const r = dnf(root, 'train', [...args, '--resume']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(new RegExp(`resuming .*last.safetensors: step ${done}, epoch 1, batch ${done} of it`));
    expect(await logged()).toBe(11);
  });
});
