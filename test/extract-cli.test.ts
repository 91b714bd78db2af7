/**
 * `dnf extract` end to end, with the tiny UNet of tools/golden/unet.py (ch 32, ch_mult [1, 2],
 * 12x12 input; layout and config from test/fixtures/golden/unet.safetensors, weights from
 * test/synthetic-weights.ts): through the built CLI (`node bin/dnf.js`, run `npm run build` first)
 * for exit codes, messages, resume, --overwrite, Ctrl-C and usage errors, and in-process through
 * runExtract for a deterministic interruption after the first batch.
 */
import { spawn, spawnSync } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runExtract, type ExtractOptions } from '../src/cli/extract.js';
import { DdpmUnet } from '../src/models/ddpm-unet.js';
import { parseUnetConfig } from '../src/models/unet-config.js';
import { decodeImageFile } from '../src/image/decode-node.js';
import { imagesToTensor } from '../src/pipeline/preprocess.js';
import { acquireGpu } from '../src/node/acquire.js';
import { openSafetensors, writeSafetensorsFile } from '../src/node/files.js';
import { filesUnder as files } from './detect-setup.js';
import { synth, synthesizedFile, type Layout } from './synthetic-weights.js';

const repo = fileURLToPath(new URL('..', import.meta.url));
const bin = join(repo, 'bin', 'dnf.js');
const broken = join(repo, 'test', 'fixtures', 'images', 'broken');
const R = 12; // the tiny UNet's resolution: every DNF is [3, 12, 12]

let root: string;
let unetFile: string;
let configFile: string;
let layout: Layout;

/** An RGB test image of w x h with a pattern that depends on `seed`. */
function pattern(w: number, h: number, seed: number) {
  const px = Buffer.alloc(w * h * 3);
  for (let i = 0; i < px.length; i++) px[i] = (i * seed + (i >> 5) * 11) % 256;
  return sharp(px, { raw: { width: w, height: h, channels: 3 } });
}

/**
 * A folder of good images (PNG and JPEG, one nested, sizes that need resizing or not), a hidden
 * one that must be ignored, and the broken fixtures (empty, truncated PNG, text named .jpg).
 */
async function makeInputs(dir: string, good = 3): Promise<string[]> {
  await mkdir(join(dir, 'sub'), { recursive: true });
  await mkdir(join(dir, 'broken'), { recursive: true });
  const names: string[] = [];
  for (let i = 0; i < good; i++) {
    const rel = ['a.png', 'b.jpg', 'sub/c.png'][i] ?? `sub/more${i}.png`;
    const img = pattern([20, 12, 30][i % 3], [16, 12, 30][i % 3], 7 + 6 * i);
    await (rel.endsWith('.jpg') ? img.jpeg() : img.png()).toFile(join(dir, rel));
    names.push(rel);
  }
  await pattern(8, 8, 5).png().toFile(join(dir, '.hidden.png'));
  for (const f of ['empty.png', 'truncated.png', 'text.jpg']) await copyFile(join(broken, f), join(dir, 'broken', f));
  return names;
}

/** Runs the built CLI; `lines` are its stderr lines from dnf (not the GPU driver's chatter). */
function dnf(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [bin, ...args], { cwd: root, env: { ...process.env, ...env }, encoding: 'utf8', timeout: 300_000 });
  const lines = r.stderr.split('\n').filter((l) => /^(extract|dnf):/.test(l));
  return { code: r.status, lines, stderr: r.stderr, signal: r.signal };
}

const tinyArgs = () => ['--unet', unetFile, '--model-config', configFile];

beforeAll(async () => {
  if (!existsSync(join(repo, 'dist', 'cli', 'extract.js'))) throw new Error('dist/ has no extract command: run `npm run build` first');
  root = await mkdtemp(join(tmpdir(), 'dnf-extract-'));
  const golden = await openSafetensors(join(repo, 'test', 'fixtures', 'golden', 'unet.safetensors'));
  layout = JSON.parse(golden.file.metadata.keys) as Layout;
  configFile = join(root, 'tiny-unet.json');
  await writeFile(configFile, golden.file.metadata.config);
  await golden.close();
  unetFile = join(root, 'tiny-unet.safetensors');
  await writeSafetensorsFile(unetFile, layout.map(([name, shape]) => ({ name, dtype: 'F32' as const, shape, data: synth(name, shape) })));
}, 60_000);

afterAll(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

describe('dnf extract (built CLI)', { timeout: 300_000 }, () => {
  let inDir: string;
  let outDir: string;
  const good = ['a.png', 'b.png', 'sub/c.png']; // outputs of a.png, b.jpg, sub/c.png

  beforeAll(async () => {
    inDir = join(root, 'in');
    outDir = join(root, 'out');
    await makeInputs(inDir);
  }, 60_000);

  it('writes the good images as 12x12 PNGs, one line per broken file, summary, exit 1, no temp files', async () => {
    const r = dnf(['extract', inDir, '-o', outDir, '--batch', '2', ...tinyArgs()]);
    expect(r.code).toBe(1);
    expect(await files(outDir)).toEqual(good);
    for (const f of good) {
      const meta = await sharp(join(outDir, f)).metadata();
      expect([meta.format, meta.width, meta.height, meta.channels]).toEqual(['png', R, R, 3]);
    }
    const failures = r.lines.filter((l) => l.includes(join(inDir, 'broken')));
    expect(failures).toEqual([
      `extract: ${join(inDir, 'broken', 'empty.png')}: cannot decode image (empty file)`,
      `extract: ${join(inDir, 'broken', 'text.jpg')}: cannot decode image (unsupported or unrecognised format)`,
      expect.stringMatching(/^extract: .*truncated\.png: cannot decode image \(corrupt or truncated data/),
    ]);
    expect(r.lines).toContainEqual(expect.stringMatching(/^extract: 6 to do, 0 already done; batch 2, /));
    expect(r.lines.at(-1)).toMatch(/^extract: 3 done, 0 skipped \(already done\), 3 failed in [\dhm.]+s \(([\d.]+ images\/s|[\dhm.]+s\/image)\)$/); // a busy machine may take minutes
    expect(r.stderr).not.toMatch(/\bat .*\.js:\d+/); // no stack trace
  });

  it('skips finished outputs on a re-run (bad files are tried again), and --overwrite redoes them', async () => {
    const inodes = async () => Promise.all(good.map(async (f) => (await stat(join(outDir, f))).ino));
    const before = await inodes();
    const again = dnf(['extract', inDir, '-o', outDir, ...tinyArgs()]);
    expect(again.code).toBe(1);
    expect(again.lines.at(-1)).toMatch(/^extract: 0 done, 3 skipped \(already done\), 3 failed /);
    expect(await inodes()).toEqual(before); // untouched

    const redo = dnf(['extract', inDir, '-o', outDir, '--overwrite', ...tinyArgs()]);
    expect(redo.code).toBe(1);
    expect(redo.lines.at(-1)).toMatch(/^extract: 3 done, 0 skipped \(already done\), 3 failed /);
    const after = await inodes();
    after.forEach((ino, i) => expect(ino).not.toBe(before[i])); // replaced by rename
    expect(await files(outDir)).toEqual(good);
  });

  it('--format safetensors writes float32 `dnf` [3, 12, 12]; per image equal to a batch-1 DNF; the PNG is its quantisation', async () => {
    const stOut = join(root, 'out-st');
    const r = dnf(['extract', inDir, '-o', stOut, '--format', 'safetensors', '--batch', '2', ...tinyArgs()]);
    expect(r.code).toBe(1);
    expect(await files(stOut)).toEqual(good.map((f) => f.replace('.png', '.safetensors')));

    // The reference computation, one image at a time: decode -> resize to 12 (antialiased: the default) -> eps(x, t=0).
    const gpu = await acquireGpu();
    const config = parseUnetConfig(JSON.parse(await readFile(configFile, 'utf8')), 'tiny');
    const unet = await DdpmUnet.fromSafetensors(gpu, config, await synthesizedFile(layout));
    try {
      for (const [i, src] of ['a.png', 'b.jpg', 'sub/c.png'].entries()) {
        const x = imagesToTensor(gpu, [await decodeImageFile(join(inDir, src))], { size: R, antialias: true });
        const eps = unet.forward(x, [0]);
        const want = await eps.read();
        x.dispose();
        eps.dispose();

        const { file, close } = await openSafetensors(join(stOut, good[i].replace('.png', '.safetensors')));
        expect(file.names()).toEqual(['dnf']);
        expect(file.info('dnf')).toMatchObject({ dtype: 'F32', shape: [3, R, R] });
        expect(file.metadata).toMatchObject({ source: src, steps: '0', feature: 'first', antialias: 'true' });
        const got = await file.readF32('dnf');
        await close();
        // Same kernels, same adapter; only the batch size differs (2 vs 1): per-image results
        // must agree to float32 rounding.
        let maxDiff = 0;
        got.forEach((v, k) => (maxDiff = Math.max(maxDiff, Math.abs(v - want[k]))));
        expect(maxDiff, src).toBeLessThanOrEqual(1e-5);

        // The PNG of the first run: save_image's uint8(clamp(eps * 255 + 0.5, 0, 255)), HWC.
        const png = await decodeImageFile(join(outDir, good[i]));
        let off = 0;
        for (let p = 0; p < R * R; p++) {
          for (let c = 0; c < 3; c++) {
            const q = Math.trunc(Math.min(255, Math.max(0, got[c * R * R + p] * 255 + 0.5)));
            if (Math.abs(png.data[3 * p + c] - q) > 1) off++; // +-1: eps within 1e-5 of a rounding edge
          }
        }
        expect(off, src).toBe(0);
      }
    } finally {
      unet.dispose();
      gpu.destroy();
    }
  });

  it('a single file input gives <dir>/<name>.png', async () => {
    const one = join(root, 'out-one');
    const r = dnf(['extract', join(inDir, 'sub', 'c.png'), '-o', one, ...tinyArgs()]);
    expect(r.code).toBe(0);
    expect(await files(one)).toEqual(['c.png']);
    expect(r.lines.at(-1)).toMatch(/^extract: 1 done, 0 skipped \(already done\), 0 failed /);
  });

  it('DNF_PROFILE=1 prints per-kernel GPU times at the end', async () => {
    const r = dnf(['extract', join(inDir, 'sub', 'c.png'), '-o', join(root, 'out-profile'), ...tinyArgs()], { DNF_PROFILE: '1' });
    expect(r.code).toBe(0);
    const table = r.stderr.slice(r.stderr.indexOf('per-kernel GPU time'));
    expect(table).toMatch(/^per-kernel GPU time \((timestamp|wallclock), \w+\):\nkernel +calls +ms +share\n/);
    expect(table).toMatch(/\nconv2d3x3s1 +\d+ +[\d.]+ +[\d.]+%/);
  });

  it('without --model-config, uses the config the weights file records (unet_config metadata)', async () => {
    const tensors = layout.map(([name, shape]) => ({ name, dtype: 'F32' as const, shape, data: synth(name, shape) }));
    const recorded = join(root, 'tiny-recorded.safetensors');
    await writeSafetensorsFile(recorded, tensors, { unet_config: await readFile(configFile, 'utf8') });
    const one = join(root, 'out-recorded');
    const r = dnf(['extract', join(inDir, 'sub', 'c.png'), '-o', one, '--unet', recorded]);
    expect(r.code).toBe(0);
    expect(await readFile(join(one, 'c.png'))).toEqual(await readFile(join(root, 'out-one', 'c.png')));
    // A preset name recorded by `dnf weights fetch` is used too: here it does not fit the weights.
    const cifar = join(root, 'tiny-cifar.safetensors');
    await writeSafetensorsFile(cifar, tensors, { unet_config: 'cifar10-32' });
    const bad = dnf(['extract', join(inDir, 'sub', 'c.png'), '-o', join(root, 'out-cifar'), '--unet', cifar]);
    expect(bad.code).toBe(2);
    expect(bad.lines).toEqual([`dnf: ${cifar}: the UNet config (its metadata unet_config) does not fit these weights: "ch" is 128 there, but conv_in.weight is [32,3,3,3] (ch 32); check that the checkpoint and the model config belong together`]);
  });

  it('without any config, reads it off the tensor shapes and says the resolution is a guess; a --model-config of other weights is one line naming both', async () => {
    const one = join(root, 'out-inferred');
    const r = dnf(['extract', join(inDir, 'sub', 'c.png'), '-o', one, '--unet', unetFile]);
    expect(r.code).toBe(0);
    expect(r.lines).toContain(`extract: ${unetFile}: no UNet config recorded; its tensor shapes give ch 32, ch_mult [1,2], and resolution 32 is taken from the attention level (DDPM attends at 16x16): pass the model config if it was trained at another size`);
    expect(await files(one)).toEqual(['c.png']);
    const png = await sharp(join(one, 'c.png')).metadata();
    expect([png.width, png.height]).toEqual([32, 32]); // the inferred resolution, not the golden's 12

    const bad = dnf(['extract', join(inDir, 'sub', 'c.png'), '-o', join(root, 'out-lsun'), '--unet', unetFile, '--model-config', 'lsun-bedroom-256']);
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1); // one line, and no GPU was started
    expect(bad.lines).toEqual([
      `dnf: ${unetFile}: these weights are a UNet with ch 32, ch_mult [1,2], num_res_blocks 1, attention at level 1, in_channels 3, out_ch 3, resamp_with_conv true; --model-config lsun-bedroom-256 has ch 128, ch_mult [1,1,2,2,4,4], num_res_blocks 2, attention at level 4: drop --model-config, or pass the matching config`,
    ]);
  });

  it('Ctrl-C: stops after the batch in flight, no temp files, summary; a re-run finishes the rest', async () => {
    const dir = join(root, 'sigint-in');
    const out = join(root, 'sigint-out');
    const names = await makeInputs(dir, 8);
    await rm(join(dir, 'broken'), { recursive: true });
    const child = spawn(process.execPath, [bin, 'extract', dir, '-o', out, '--batch', '1', ...tinyArgs()], { cwd: root });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
    // Interrupt as soon as the first output exists (however fast the rest goes).
    while (!(existsSync(out) && (await files(out)).some((f) => f.endsWith('.png'))) && child.exitCode === null) {
      await new Promise((r) => setTimeout(r, 20));
    }
    child.kill('SIGINT');
    const code = await exited;
    const written = (await files(out)).length;
    expect(await files(out)).toEqual((await files(out)).filter((f) => f.endsWith('.png'))); // no .tmp
    const summary = stderr.split('\n').filter((l) => /^extract: \d+ done/.test(l));
    expect(summary).toHaveLength(1);
    if (code === 130) {
      // The usual case: interrupted with the rest left over.
      expect(stderr).toMatch(/extract: stopping after the current batch; Ctrl-C again to quit now/);
      expect(stderr).toMatch(new RegExp(`extract: interrupted with ${names.length - written} left; run the same command again`));
    } else {
      expect(code).toBe(0); // it finished before the signal came
      expect(written).toBe(names.length);
    }
    const rerun = dnf(['extract', dir, '-o', out, '--batch', '1', ...tinyArgs()]);
    expect(rerun.code).toBe(0);
    expect(rerun.lines.at(-1)).toMatch(new RegExp(`^extract: ${names.length - written} done, ${written} skipped`));
    expect((await files(out)).length).toBe(names.length);
  });

  it('an image the GPU cannot resize fails alone, named, and the batch around it is written (exit 1)', async () => {
    const dir = join(root, 'extreme-in');
    const out = join(root, 'extreme-out');
    await mkdir(dir, { recursive: true });
    await pattern(20, 16, 3).png().toFile(join(dir, 'a.png'));
    await pattern(1, 3_000_000, 5).png().toFile(join(dir, 'b-tall.png')); // 250000:1; antialiased, one output row reads 1M rows
    await pattern(30, 30, 9).png().toFile(join(dir, 'c.png'));
    const r = dnf(['extract', dir, '-o', out, '--batch', '3', '--antialias', ...tinyArgs()]);
    expect(r.code).toBe(1);
    expect(r.lines.filter((l) => l.includes('b-tall.png'))).toEqual([
      expect.stringMatching(new RegExp(`^extract: ${join(dir, 'b-tall.png')}: a 1x3000000 image is too far from square to resize`)),
    ]);
    expect(await files(out)).toEqual(['a.png', 'c.png']);
    expect(r.lines.at(-1)).toMatch(/^extract: 2 done, 0 skipped \(already done\), 1 failed/);
  });

  it('redoes an output that exists but is incomplete (empty, or cut short elsewhere)', async () => {
    const dir = join(root, 'partial-in');
    const out = join(root, 'partial-out');
    await makeInputs(dir, 3);
    await rm(join(dir, 'broken'), { recursive: true });
    expect(dnf(['extract', dir, '-o', out, ...tinyArgs()]).code).toBe(0);
    const whole = await readFile(join(out, 'a.png'));
    await writeFile(join(out, 'a.png'), '');
    await writeFile(join(out, 'b.png'), whole.subarray(0, 40));
    const r = dnf(['extract', dir, '-o', out, ...tinyArgs()]);
    expect(r.code).toBe(0);
    expect(r.lines.at(-1)).toMatch(/^extract: 2 done, 1 skipped/);
    expect(await readFile(join(out, 'a.png'))).toEqual(whole);
  });

  it('two runs into one folder at once compute every image once, and leave no claims', async () => {
    const dir = join(root, 'twin-in');
    const out = join(root, 'twin-out');
    const names = await makeInputs(dir, 12);
    await rm(join(dir, 'broken'), { recursive: true });
    const run = () => new Promise<{ code: number | null; stderr: string }>((res) => {
      const child = spawn(process.execPath, [bin, 'extract', dir, '-o', out, '--batch', '1', ...tinyArgs()], { cwd: root });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('exit', (code) => res({ code, stderr }));
    });
    const [a, b] = await Promise.all([run(), run()]);
    expect([a.code, b.code]).toEqual([0, 0]);
    const done = (r: { stderr: string }) => Number(/^extract: (\d+) done/m.exec(r.stderr)![1]);
    expect(done(a) + done(b)).toBe(names.length);
    expect(await files(out)).toEqual(names.map((n) => n.replace(/\.jpg$/, '.png')).sort());
  });

  it('missing weights: one line on how to get them, exit 2', async () => {
    const r = dnf(['extract', inDir, '-o', join(root, 'nowhere')], { DNF_WEIGHTS: join(root, 'absent.safetensors') });
    expect(r.code).toBe(2);
    expect(r.lines).toEqual([
      `dnf: ${join(root, 'absent.safetensors')}: UNet weights not found; download them with \`dnf weights fetch lsun_bedroom\`, ` +
        `or convert a checkpoint you have with \`dnf convert model-2388000.ckpt -o ${join(root, 'absent.safetensors')}\`, or pass --unet FILE`,
    ]);
    expect(existsSync(join(root, 'nowhere'))).toBe(false);
  });

  it('truncated weights: one line naming the file, before any GPU work, exit 2', async () => {
    const bad = join(root, 'truncated.safetensors');
    await writeFile(bad, (await readFile(unetFile)).subarray(0, 100));
    const r = dnf(['extract', inDir, '-o', join(root, 'nowhere'), '--unet', bad, '--model-config', configFile]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1); // the GPU was never started: no driver chatter
    expect(r.lines).toEqual([expect.stringMatching(new RegExp(`^dnf: ${bad}: not a valid safetensors file \\(header length \\d+ bytes exceeds the file size 100\\); re-download it`))]);
    expect(existsSync(join(root, 'nowhere'))).toBe(false);
  });

  it('refuses up front, exit 2: two inputs with one output even with their extensions kept, a feature that needs --steps, bad option values', async () => {
    const clash = join(root, 'clash');
    await mkdir(clash, { recursive: true });
    await pattern(12, 12, 3).png().toFile(join(clash, 'x.png'));
    await pattern(12, 12, 4).jpeg().toFile(join(clash, 'x.jpg'));
    await pattern(12, 12, 5).jpeg().toFile(join(clash, 'x.png.jpg')); // x.png.png, as x.png's output with its extension kept
    const c = dnf(['extract', clash, '-o', join(root, 'out-clash'), ...tinyArgs()]);
    expect(c.code).toBe(2);
    expect(c.lines).toEqual([`dnf: ${join(clash, 'x.png')} and ${join(clash, 'x.png.jpg')} would both be written to ${join(root, 'out-clash', 'x.png.png')}; rename one of them or process them into separate output folders`]);
    expect(existsSync(join(root, 'out-clash'))).toBe(false);

    const f = dnf(['extract', inDir, '-o', join(root, 'o2'), '--feature', 'mean', ...tinyArgs()]);
    expect(f.code).toBe(2);
    expect(f.lines).toEqual(['dnf: --feature mean needs an inversion: give --steps K (e.g. --steps 20)']);

    expect(dnf(['extract', inDir, '-o', join(root, 'o2'), '--batch', '0']).code).toBe(2);
    expect(dnf(['extract', inDir, '-o', join(root, 'o2'), '--format', 'jpg']).code).toBe(2);
    expect(dnf(['extract', inDir]).code).toBe(2); // -o is required
  });
});

describe('runExtract (in process)', { timeout: 300_000 }, () => {
  it('an interruption after the first batch leaves complete outputs only; the next run finishes the rest', async () => {
    const dir = join(root, 'abort-in');
    const out = join(root, 'abort-out');
    await makeInputs(dir, 5);
    await rm(join(dir, 'broken'), { recursive: true });
    const opts: ExtractOptions = {
      output: out, unet: unetFile, modelConfig: configFile, format: 'png', batch: 2,
      steps: 0, feature: 'first', antialias: false, overwrite: false,
    };
    const controller = new AbortController();
    const lines: string[] = [];
    const sink = {
      write: (s: string) => {
        lines.push(s);
        if (/^extract: \d+\/5 /.test(s)) controller.abort(); // the first progress line: after batch 1
        return true;
      },
    };
    const first = await runExtract([dir], opts, { progress: { sink, everyItems: 1 }, signal: controller.signal });
    // The first batch's outputs are written while the second batch is on the GPU: when the
    // second batch had started by the abort, it completes too.
    const all = ['a.png', 'b.png', 'sub/c.png', 'sub/more3.png', 'sub/more4.png'];
    expect([2, 4]).toContain(first.done);
    expect(first).toMatchObject({ skipped: 0, failed: 0, remaining: 5 - first.done, interrupted: true });
    expect(await files(out)).toEqual(all.slice(0, first.done)); // complete outputs only: no temp file left
    expect(lines.join('')).toMatch(
      new RegExp(`\\nextract: ${first.done} done, 0 skipped \\(already done\\), 0 failed in .*\\nextract: interrupted with ${5 - first.done} left; run the same command again to finish them\\n$`),
    );

    const second = await runExtract([dir], opts, { progress: { sink: { write: () => true } } });
    expect(second).toMatchObject({ done: 5 - first.done, skipped: first.done, failed: 0, remaining: 0, interrupted: false });
    expect(await files(out)).toEqual(['a.png', 'b.png', 'sub/c.png', 'sub/more3.png', 'sub/more4.png']);
  });
});
