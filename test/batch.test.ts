import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DnfError, MAX_LINE_LENGTH } from '../src/errors.js';
import { collectInputs, IMAGE_EXTENSIONS, type InputItem } from '../src/node/batch/inputs.js';
import { interruptOnSigint } from '../src/node/batch/interrupt.js';
import { OutputClaims } from '../src/node/batch/claims.js';
import { isCompleteOutput, outputPathFor, planOutputs, removeStaleTemps, renamedNote } from '../src/node/batch/plan.js';
import { writeSafetensorsFile } from '../src/node/files.js';
import { failureMessage, ItemSkipped, runBatches, type Prepared } from '../src/node/batch/runner.js';
import { formatDuration, formatRate, formatSpeed, formatSummary, Progress } from '../src/node/progress.js';

const repo = fileURLToPath(new URL('..', import.meta.url));
let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'dnf-batch-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** Creates files (with a little content) under `dir`; paths use '/'. */
async function touch(dir: string, ...paths: string[]): Promise<void> {
  for (const p of paths) {
    await mkdir(join(dir, p, '..'), { recursive: true });
    await writeFile(join(dir, p), 'x');
  }
}

/** Writes small complete PNGs under `dir`. */
async function pngs(dir: string, ...paths: string[]): Promise<void> {
  for (const p of paths) {
    await mkdir(join(dir, p, '..'), { recursive: true });
    await sharp(Buffer.alloc(12, 7), { raw: { width: 2, height: 2, channels: 3 } }).png().toFile(join(dir, p));
  }
}

/** Expects `p` to reject with a one-line DnfError of exit code `code` matching `re`. */
async function expectDnfError(p: Promise<unknown>, re: RegExp, code = 2): Promise<void> {
  const e = await p.then(() => undefined, (err: unknown) => err);
  expect(e).toBeInstanceOf(DnfError);
  expect((e as DnfError).exitCode).toBe(code);
  expect((e as DnfError).message).not.toMatch(/\n/);
  expect((e as DnfError).message).toMatch(re);
}

describe('collectInputs', () => {
  it('walks folders recursively, keeps image extensions in any case, skips hidden entries, sorts', async () => {
    const dir = join(root, 'walk');
    await touch(dir, 'b.png', 'a.JPG', 'sub/z.webp', 'sub/deeper/c.TIFF', 'notes.txt', '.hidden.png',
      '.cache/x.png', 'sub/.git/y.png', 'noext', 'd.jpeg', 'e.avif', 'f.bmp', 'g.gif', 'h.tif');
    const items = await collectInputs([dir], IMAGE_EXTENSIONS);
    expect(items.map((i) => i.rel)).toEqual([
      'a.JPG', 'b.png', 'd.jpeg', 'e.avif', 'f.bmp', 'g.gif', 'h.tif', 'sub/deeper/c.TIFF', 'sub/z.webp',
    ]);
    expect(items[7].path).toBe(join(dir, 'sub', 'deeper', 'c.TIFF'));
  });

  it('takes a named file whatever its extension, with its bare name as rel; keeps input order; drops exact duplicates', async () => {
    const dir = join(root, 'named');
    await touch(dir, 'one/x.png', 'two/readme.dat');
    const items = await collectInputs(
      [join(dir, 'two', 'readme.dat'), join(dir, 'one'), join(dir, 'one', 'x.png'), join(dir, 'one')],
      IMAGE_EXTENSIONS,
    );
    expect(items).toEqual<InputItem[]>([
      { path: join(dir, 'two', 'readme.dat'), rel: 'readme.dat' },
      { path: join(dir, 'one', 'x.png'), rel: 'x.png' },
    ]);
  });

  it('skips excluded folders (an output folder inside the input) and follows links without looping', async () => {
    const dir = join(root, 'excl');
    await touch(dir, 'in/a.png', 'in/out/a.png', 'elsewhere/b.png');
    await symlink(join(dir, 'elsewhere'), join(dir, 'in', 'linked'));
    await symlink(join(dir, 'in'), join(dir, 'in', 'loop'));
    await symlink(join(dir, 'missing'), join(dir, 'in', 'dangling.png'));
    const items = await collectInputs([join(dir, 'in')], IMAGE_EXTENSIONS, { exclude: [join(dir, 'in', 'out')] });
    expect(items.map((i) => i.rel)).toEqual(['a.png', 'linked/b.png']);
  });

  it('refuses a missing input and an empty result with one line (exit 2)', async () => {
    await expectDnfError(collectInputs([join(root, 'nope')], IMAGE_EXTENSIONS), /nope: no such file or folder; check the path/);
    const empty = join(root, 'empty');
    await touch(empty, 'a.txt', '.b.png');
    await expectDnfError(collectInputs([empty], IMAGE_EXTENSIONS), /no images found in .*empty .*png, jpg/);
  });
});

describe('planOutputs', () => {
  it('mirrors relative paths with the new extension', () => {
    expect(outputPathFor('out', 'sub/a.jpg', 'png')).toBe(join('out', 'sub', 'a.png'));
    expect(outputPathFor('out', 'a.tar.gz', 'png')).toBe(join('out', 'a.tar.png'));
    expect(outputPathFor('out', 'noext', 'safetensors')).toBe(join('out', 'noext.safetensors'));
  });

  it('skips outputs that exist unless overwrite, and keeps input order', async () => {
    const out = join(root, 'plan-out');
    await pngs(out, 'b.png', 'sub/c.png');
    const items: InputItem[] = [
      { path: '/in/a.jpg', rel: 'a.jpg' }, { path: '/in/b.webp', rel: 'b.webp' },
      { path: '/in/sub/c.png', rel: 'sub/c.png' }, { path: '/in/sub/d.png', rel: 'sub/d.png' },
    ];
    const plan = await planOutputs(items, out, 'png');
    expect(plan.todo.map((p) => p.output)).toEqual([join(out, 'a.png'), join(out, 'sub', 'd.png')]);
    expect(plan.skipped.map((p) => p.rel)).toEqual(['b.webp', 'sub/c.png']);
    const all = await planOutputs(items, out, 'png', { overwrite: true });
    expect(all.todo.map((p) => p.rel)).toEqual(items.map((i) => i.rel));
    expect(all.skipped).toEqual([]);
  });

  it('redoes outputs that exist but are incomplete (empty, cut short, a broken safetensors header)', async () => {
    const out = join(root, 'plan-incomplete');
    await pngs(out, 'whole.png', 'cut.png');
    const png = await readFile(join(out, 'whole.png'));
    await writeFile(join(out, 'cut.png'), png.subarray(0, png.length - 5));
    await writeFile(join(out, 'empty.png'), '');
    await writeSafetensorsFile(join(out, 'whole.safetensors'), [{ name: 'dnf', dtype: 'F32', shape: [2], data: new Float32Array([1, 2]) }]);
    const st = await readFile(join(out, 'whole.safetensors'));
    await writeFile(join(out, 'cut.safetensors'), st.subarray(0, st.length - 1));
    expect(await isCompleteOutput(join(out, 'whole.png'))).toBe(true);
    expect(await isCompleteOutput(join(out, 'whole.safetensors'))).toBe(true);
    for (const f of ['cut.png', 'empty.png', 'cut.safetensors', 'missing.png']) expect(await isCompleteOutput(join(out, f)), f).toBe(false);
    const items = ['whole', 'cut', 'empty'].map((n) => ({ path: `/in/${n}.jpg`, rel: `${n}.jpg` }));
    const plan = await planOutputs(items, out, 'png');
    expect(plan.todo.map((p) => p.rel)).toEqual(['cut.jpg', 'empty.jpg']);
    const tensors = await planOutputs(items, out, 'safetensors');
    expect(tensors.todo.map((p) => p.rel)).toEqual(['cut.jpg', 'empty.jpg']);
  });

  it('inputs whose names clash keep their source extension, the others do not; --keep-ext keeps every one', async () => {
    const out = join(root, 'clash');
    const items: InputItem[] = [
      { path: '/x/a.bmp', rel: 'a.bmp' }, { path: '/x/a.tiff', rel: 'a.tiff' }, { path: '/x/b.jpg', rel: 'b.jpg' }, { path: '/x/s/a.png', rel: 's/a.png' },
    ];
    const plan = await planOutputs(items, out, 'png');
    expect(plan.todo.map((p) => p.output)).toEqual(['a.bmp.png', 'a.tiff.png', 'b.png', 's/a.png'].map((f) => join(out, f)));
    expect(plan.renamed.map((p) => p.rel)).toEqual(['a.bmp', 'a.tiff']);
    expect(renamedNote(plan.renamed)).toBe('a.bmp, a.tiff would share output names: these outputs keep the source extension (a.bmp.png, a.tiff.png); --keep-ext does so for all');
    const again = await planOutputs([...items].reverse(), out, 'png'); // the same names whatever the order
    expect(again.todo.map((p) => p.output).sort()).toEqual(plan.todo.map((p) => p.output).sort());
    const keep = await planOutputs(items, out, 'png', { keepExt: true });
    expect(keep.todo.map((p) => p.output)).toEqual(['a.bmp.png', 'a.tiff.png', 'b.jpg.png', 's/a.png.png'].map((f) => join(out, f)));
    expect(keep.renamed).toEqual([]);
    expect(renamedNote([])).toBeNull();
  });

  it('refuses two inputs with the same output even after disambiguation, and an output that would replace an input', async () => {
    await expectDnfError( // a.png -> a.png.png (clash with a.jpg), and a.png.jpg -> a.png.png as well
      planOutputs([{ path: '/x/a.jpg', rel: 'a.jpg' }, { path: '/x/a.png', rel: 'a.png' }, { path: '/x/a.png.jpg', rel: 'a.png.jpg' }], join(root, 'o'), 'png'),
      /\/x\/a\.png and \/x\/a\.png\.jpg would both be written to .*a\.png\.png; rename one/,
    );
    await expectDnfError(
      planOutputs([{ path: '/y/1/a.png', rel: 'a.png' }, { path: '/y/2/a.png', rel: 'a.png' }], join(root, 'o'), 'png'),
      /would both be written/,
    );
    const dir = join(root, 'same');
    await expectDnfError(
      planOutputs([{ path: join(dir, 'a.png'), rel: 'a.png' }], dir, 'png'),
      /a\.png: the output would replace an input image/,
    );
  });

  it('removes temp files of dead runs beside planned outputs, and nothing else', async () => {
    const out = join(root, 'stale');
    const dead = 2 ** 22 + 12345; // above Linux's default pid_max (4194304 = 2^22): no such process
    const keep = [
      `a.png.${process.pid}.0123456789ab.tmp`, // this process: a write in flight
      `other.png.${dead}.0123456789ab.tmp`, // not a planned output
      `a.png.${dead}.xyz.tmp`, 'a.png.tmp', 'a.png',
    ];
    await touch(out, `a.png.${dead}.0123456789ab.tmp`, `sub/b.png.${dead}.ffffffffffff.tmp`, ...keep);
    expect(await removeStaleTemps([join(out, 'a.png'), join(out, 'sub', 'b.png'), join(out, 'missing', 'c.png')])).toBe(2);
    expect((await readdir(out)).sort()).toEqual([...keep, 'sub'].sort());
    expect(await readdir(join(out, 'sub'))).toEqual([]);
  });
});

/** A job over numbers: odd ones "fail to decode"; the batch doubles the rest. */
function numberJob(items: number[], batchSize: number, over: Partial<Parameters<typeof runBatches<number, number, number>>[0]> = {}) {
  const batches: number[][] = [];
  return {
    batches,
    job: {
      items,
      batchSize,
      name: (n: number) => `img${n}.png`,
      prepare: async (n: number) => {
        if (n % 2 === 1) throw new DnfError(`img${n}.png: not an image; re-download or remove it`, 1);
        return n * 10;
      },
      processBatch: async (entries: Prepared<number, number>[]) => {
        batches.push(entries.map((e) => e.item));
        return entries.map((e) => e.data * 2);
      },
      progress: new Progress(items.length, { label: 't', sink: { write: () => true } }),
      ...over,
    },
  };
}

describe('OutputClaims', () => {
  it('gives an output to one run at a time, reports outputs finished meanwhile, takes over dead runs\' claims', async () => {
    const out = join(root, 'claims');
    const a = new OutputClaims(isCompleteOutput);
    const b = new OutputClaims(isCompleteOutput);
    const x = join(out, 'x.png');
    expect(await a.take(x)).toBe('claimed');
    expect(await readFile(`${x}.claim`, 'utf8')).toBe(`${hostname()} ${process.pid}\n`);
    expect(await b.take(x)).toBe('busy');
    await pngs(out, 'x.png'); // a writes the output, then lets go
    await a.release(x);
    expect(await b.take(x)).toBe('done');
    expect(await readdir(out)).toEqual(['x.png']); // no claim left

    const dead = 2 ** 22 + 12345; // no such process (above Linux's pid_max)
    const y = join(out, 'y.png');
    await writeFile(`${y}.claim`, `${hostname()} ${dead}\n`);
    expect(await b.take(y)).toBe('claimed');
    const z = join(out, 'z.png');
    await writeFile(`${z}.claim`, `another-host ${dead}\n`); // maybe alive there: respected
    expect(await b.take(z)).toBe('busy');
    await writeFile(`${out}/w.png.claim`, `${hostname()} ${dead}\n`);
    expect(await removeStaleTemps([join(out, 'w.png'), z])).toBe(1);
    await b.releaseAll();
    expect((await readdir(out)).sort()).toEqual(['x.png', 'z.png.claim']);
  });
});

describe('runBatches', () => {
  it('isolates decode failures: the GPU gets only the good items, the job goes on', async () => {
    const { job, batches } = numberJob([0, 1, 2, 3, 4, 5, 6], 3);
    const out = await runBatches(job);
    expect(batches).toEqual([[0, 2], [4], [6]]);
    expect(out.done).toEqual([{ item: 0, result: 0 }, { item: 2, result: 40 }, { item: 4, result: 80 }, { item: 6, result: 120 }]);
    expect(out.failed.map((f) => f.message)).toEqual([1, 3, 5].map((n) => `img${n}.png: not an image; re-download or remove it`));
    expect(out).toMatchObject({ remaining: 0, interrupted: false });
  });

  it('settled: each batch\'s items in input order with their result or failure (decode and GPU failures alike), skipped ones left out', async () => {
    const seen: string[][] = [];
    const { job } = numberJob([0, 1, 2, 3, 4, 8, 6], 3, {
      prepare: async (n: number) => {
        if (n === 8) throw new ItemSkipped();
        if (n % 2 === 1) throw new DnfError(`img${n}.png: not an image`, 1);
        return n * 10;
      },
      processBatch: async (entries) => entries.map((e) => (e.item === 2 ? new Error('disk hiccup') : e.data)),
      settled: (ends) => seen.push(ends.map((e) => (e.failure ? `${e.item}: ${e.failure.message}` : `${e.item}=${e.result}`))),
    });
    await runBatches(job);
    expect(seen).toEqual([['0=0', '1: img1.png: not an image', '2: img2.png: disk hiccup'], ['3: img3.png: not an image', '4=40'], ['6=60']]);
  });

  it('fails the items whose slot holds an Error', async () => {
    const { job } = numberJob([0, 2, 4], 3, {
      processBatch: async (entries) => entries.map((e) => (e.item === 2 ? new Error('disk hiccup') : e.data)),
    });
    const out = await runBatches(job);
    expect(out.done.map((d) => d.item)).toEqual([0, 4]);
    expect(out.failed.map((f) => f.message)).toEqual(['img2.png: disk hiccup']);
  });

  it('reruns a batch item by item when it throws an input error, to find the bad one', async () => {
    const calls: number[][] = [];
    const { job } = numberJob([0, 2, 4, 6], 4, {
      processBatch: async (entries) => {
        calls.push(entries.map((e) => e.item));
        if (entries.some((e) => e.item === 4)) throw new DnfError('img4.png: 40000x40000 is too large for this GPU', 1);
        return entries.map((e) => e.data);
      },
    });
    const out = await runBatches(job);
    expect(calls).toEqual([[0, 2, 4, 6], [0], [2], [4], [6]]);
    expect(out.done.map((d) => d.item)).toEqual([0, 2, 6]);
    expect(out.failed.map((f) => f.message)).toEqual(['img4.png: 40000x40000 is too large for this GPU']);
  });

  it('stops the job on setup errors and internal errors', async () => {
    const setup = numberJob([0, 2], 1, { prepare: async () => { throw new DnfError('weights missing'); } });
    await expectDnfError(runBatches(setup.job), /weights missing/);
    const bug = numberJob([0, 2], 2, { processBatch: async () => { throw new TypeError('x is undefined'); } });
    await expect(runBatches(bug.job)).rejects.toThrow(TypeError);
    const gpu = numberJob([0, 2], 2, { processBatch: async () => { throw new DnfError('GPU device lost; rerun'); } });
    await expectDnfError(runBatches(gpu.job), /device lost/);
    const miscount = numberJob([0, 2], 2, { processBatch: async () => [1] });
    await expect(runBatches(miscount.job)).rejects.toThrow(/returned 1 results for 2 items/);
  });

  it('fails an item alone whatever processBatch throws for it (a plain Error, a GPU validation error)', async () => {
    const calls: number[][] = [];
    const { job } = numberJob([0, 2, 4, 6], 4, {
      processBatch: async (entries) => {
        calls.push(entries.map((e) => e.item));
        if (entries.some((e) => e.item === 2)) throw new Error('resize: needs a 153600000-byte intermediate');
        if (entries.some((e) => e.item === 6)) throw new Error('GPU validation error: binding too large');
        return entries.map((e) => e.data);
      },
    });
    const out = await runBatches(job);
    expect(calls).toEqual([[0, 2, 4, 6], [0], [2], [4], [6]]);
    expect(out.done.map((d) => d.item)).toEqual([0, 4]);
    expect(out.failed.map((f) => f.message)).toEqual([
      'img2.png: resize: needs a 153600000-byte intermediate',
      'img6.png: GPU validation error: binding too large',
    ]);
  });

  it('leaves items whose prepare throws ItemSkipped to another run: neither done nor failed', async () => {
    const { job, batches } = numberJob([0, 2, 4, 6], 4, {
      prepare: async (n) => { if (n === 2) throw new ItemSkipped('busy'); return n; },
    });
    const out = await runBatches(job);
    expect(batches).toEqual([[0, 4, 6]]);
    expect(out).toMatchObject({ skipped: [2], failed: [] });
    expect(job.progress.total).toBe(3);
  });

  it('stops when every item of a batch fails alone with one same engine error', async () => {
    const { job } = numberJob([0, 2, 4], 3, { processBatch: async () => { throw new RangeError('Invalid typed array length: -1'); } });
    await expect(runBatches(job)).rejects.toThrow(RangeError);
  });

  it('sizes batches by the byte budget, and prepares ahead only what fits beside the batch in flight', async () => {
    const cost = (n: number) => (n === 8 ? 900 : 100); // item 8 is larger than the whole budget
    let held = 0;
    let peak = 0;
    const { job, batches } = numberJob([0, 2, 4, 6, 8, 10, 12, 14], 4, {
      cost,
      memoryBudget: 500,
      prepare: async (n) => {
        held += cost(n);
        peak = Math.max(peak, held);
        await new Promise((r) => setTimeout(r, 1));
        return n * 10;
      },
      processBatch: async (entries) => {
        batches.push(entries.map((e) => e.item));
        await new Promise((r) => setTimeout(r, 5));
        for (const e of entries) held -= cost(e.item);
        return entries.map((e) => e.data);
      },
    });
    const out = await runBatches(job);
    expect(batches).toEqual([[0, 2], [4, 6], [8], [10, 12], [14]]); // at most budget / 2 per batch, 8 alone
    expect(out.done).toHaveLength(8);
    expect(peak).toBe(900); // 200 + 200 while overlapping; 8 was prepared only once nothing else was held
  });

  it('stops between batches when aborted; the batch in flight completes', async () => {
    const controller = new AbortController();
    const seen: number[][] = [];
    const { job } = numberJob([0, 2, 4, 6, 8, 10, 12], 2, {
      signal: controller.signal,
      processBatch: async (entries) => {
        seen.push(entries.map((e) => e.item));
        if (seen.length === 2) controller.abort(); // Ctrl-C while the second batch runs
        return entries.map((e) => e.data);
      },
    });
    const out = await runBatches(job);
    expect(seen).toEqual([[0, 2], [4, 6]]);
    expect(out).toMatchObject({ interrupted: true, remaining: 3 });
    expect(out.done.map((d) => d.item)).toEqual([0, 2, 4, 6]);
  });

  it('prepares the next batch while the current one is processed', async () => {
    const log: string[] = [];
    const { job } = numberJob([0, 2, 4, 6], 2, {
      prepare: async (n) => { log.push(`prepare ${n}`); return n; },
      processBatch: async (entries) => {
        log.push(`start ${entries[0].item}`);
        await new Promise((r) => setTimeout(r, 20));
        log.push(`end ${entries[0].item}`);
        return entries.map((e) => e.data);
      },
    });
    await runBatches(job);
    expect(log.indexOf('prepare 4')).toBeLessThan(log.indexOf('end 0'));
    expect(log.indexOf('prepare 4')).toBeGreaterThan(log.indexOf('prepare 2')); // one batch ahead, not more
    expect(log.indexOf('prepare 6')).toBeLessThan(log.indexOf('end 0'));
  });

  it('finishes each batch (finishBatch) while the next one is processed; batches settle in input order', async () => {
    const log: string[] = [];
    const seen: string[][] = [];
    const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));
    const { job } = numberJob([0, 2, 4, 6, 8], 2, {
      processBatch: async (entries) => {
        log.push(`process ${entries[0].item}`);
        await pause(20);
        log.push(`processed ${entries[0].item}`);
        return entries.map((e) => e.data);
      },
      settled: (ends) => seen.push(ends.map((e) => `${e.item}=${e.result}`)),
    });
    const out = await runBatches({
      ...job,
      finishBatch: async (items: number[], computed: number[]) => {
        log.push(`finish ${items[0]}`);
        await pause(items[0] === 0 ? 60 : 5); // the first write is slow: batch 4 must still wait for it to settle
        log.push(`finished ${items[0]}`);
        return computed.map((c) => `written ${c}`);
      },
    });
    expect(log.indexOf('process 4')).toBeLessThan(log.indexOf('finished 0')); // the GPU did not wait for the writes
    expect(log.indexOf('finish 4')).toBeGreaterThan(log.indexOf('finished 0')); // one batch finishing at a time
    expect(seen).toEqual([['0=written 0', '2=written 20'], ['4=written 40', '6=written 60'], ['8=written 80']]);
    expect(out.done.map((d) => d.result)).toEqual([0, 20, 40, 60, 80].map((c) => `written ${c}`));
  });

  it('finishBatch: an Error in a slot fails that item, throwing reruns it item by item, a setup error stops the job once the batch in flight is finished', async () => {
    const calls: number[][] = [];
    const { job } = numberJob([0, 1, 2, 4, 6], 5, {
      processBatch: async (entries) => entries.map((e) => (e.item === 6 ? new Error('GPU out of memory') : e.data)),
    });
    const out = await runBatches({
      ...job,
      finishBatch: async (items: number[], computed: number[]) => {
        calls.push(items);
        if (items.includes(4)) throw new DnfError('img4.png: disk full; free space', 1);
        return computed.map((c, i) => (items[i] === 2 ? new Error('permission denied') : c));
      },
    });
    expect(calls).toEqual([[0, 2, 4], [0], [2], [4]]); // failed items (1: decode, 6: GPU) are not finished
    expect(out.done.map((d) => d.item)).toEqual([0]);
    expect(out.failed.map((f) => f.message)).toEqual(['img1.png: not an image; re-download or remove it', 'img2.png: permission denied', 'img4.png: disk full; free space', 'img6.png: GPU out of memory']);

    const finished: number[] = [];
    const fatal = numberJob([0, 2, 4, 6], 2, {
      processBatch: async (entries) => {
        if (entries[0].item === 4) throw new DnfError('GPU device lost; rerun');
        return entries.map((e) => e.data);
      },
    });
    await expectDnfError(runBatches({
      ...fatal.job,
      finishBatch: async (items: number[], computed: number[]) => {
        await new Promise((r) => setTimeout(r, 20));
        finished.push(...items);
        return computed;
      },
    }), /device lost/);
    expect(finished).toEqual([0, 2]); // the first batch's writes completed before the job stopped
    const setup = numberJob([0, 2], 2);
    await expectDnfError(runBatches({ ...setup.job, finishBatch: async () => { throw new DnfError('output folder is read-only'); } }), /read-only/);
  });

  it('aborted: the batch in flight is processed and finished before the job stops', async () => {
    const controller = new AbortController();
    const finished: number[] = [];
    const { job } = numberJob([0, 2, 4, 6], 2, {
      signal: controller.signal,
      processBatch: async (entries) => {
        controller.abort();
        return entries.map((e) => e.data);
      },
    });
    const out = await runBatches({
      ...job,
      finishBatch: async (items: number[], computed: number[]) => {
        await new Promise((r) => setTimeout(r, 10));
        finished.push(...items);
        return computed;
      },
    });
    expect(finished).toEqual([0, 2]);
    expect(out).toMatchObject({ interrupted: true, remaining: 2 });
    expect(out.done.map((d) => d.item)).toEqual([0, 2]);
  });

  it('handles an empty job and refuses a bad batch size', async () => {
    expect(await runBatches(numberJob([], 4).job)).toEqual({ done: [], failed: [], skipped: [], remaining: 0, interrupted: false });
    await expect(runBatches(numberJob([0], 0).job)).rejects.toThrow(/batchSize/);
  });

  it('names the item in failure lines, once, and caps their length', () => {
    expect(failureMessage('a/b.png', new DnfError('a/b.png: truncated; re-create it', 1))).toBe('a/b.png: truncated; re-create it');
    expect(failureMessage('a/b.png', new Error('bad\n  thing'))).toBe('a/b.png: bad thing');
    const huge = failureMessage('a/b.png', new DnfError(`a/b.png: integer ${'9'.repeat(157_000)} is too large; re-save the file`, 1));
    expect(huge.length).toBe(MAX_LINE_LENGTH);
    expect(huge).toMatch(/^a\/b\.png: integer 9+ \.\.\. 9+ is too large; re-save the file$/);
  });
});

describe('progress', () => {
  /** A sink recording writes, and a clock the test moves. */
  function fake(isTTY: boolean) {
    const writes: string[] = [];
    let t = 1000;
    return {
      writes,
      tick: (ms: number) => { t += ms; },
      opts: { label: 'extract', sink: { isTTY, write: (s: string) => writes.push(s) }, now: () => t, everyItems: 4, everyMs: 5000 },
    };
  }

  it('prints plain lines every N images or every few seconds without a terminal', () => {
    const f = fake(false);
    const p = new Progress(10, f.opts);
    f.tick(1000); p.advance(2); // 2 images in 1 s: no line yet
    expect(f.writes).toEqual([]);
    f.tick(1000); p.advance(1, 1); // 4 images
    expect(f.writes).toEqual(['extract: 4/10 (40%), 2.00 images/s, ETA 3.0s, 1 failed\n']);
    f.tick(6000); p.advance(1); // 5 s passed since the last line
    expect(f.writes[1]).toBe('extract: 5/10 (50%), 1.6s/image, ETA 8.0s, 1 failed\n'); // under 1 image/s: the time per image
    p.message('x.png: broken');
    expect(f.writes[2]).toBe('extract: x.png: broken\n');
  });

  it('redraws a bar in place on a terminal and prints messages above it', () => {
    const f = fake(true);
    const p = new Progress(4, f.opts);
    expect(f.writes.splice(0)).toEqual(['\rextract [........................] 0/4 (0%), 0.00 images/s\x1b[K']);
    f.tick(500); p.advance(1);
    expect(f.writes).toEqual(['\rextract [######..................] 1/4 (25%), 2.00 images/s, ETA 1.5s\x1b[K']);
    f.tick(10); p.advance(1); // redraws are throttled
    expect(f.writes.length).toBe(1);
    p.message('bad.png: not an image');
    expect(f.writes.slice(1, 3)).toEqual(['\r\x1b[K', 'extract: bad.png: not an image\n']);
    expect(f.writes[3]).toMatch(/^\rextract \[#{12}\.{12}\] 2\/4 \(50%\)/);
    f.tick(10); p.advance(2); // the last update always draws
    expect(f.writes[4]).toMatch(/4\/4 \(100%\), [\d.]+ images\/s\x1b\[K$/);
    p.finish();
    expect(f.writes[5]).toBe('\r\x1b[K');
  });

  it('formats durations, rates and the summary', () => {
    expect([formatDuration(2500), formatDuration(83_000), formatDuration(4_000_000)]).toEqual(['2.5s', '1m23s', '1h06m40s']);
    expect([formatRate(0.123), formatRate(12.34), formatRate(1234.5)]).toEqual(['0.12', '12.3', '1235']);
    expect([formatSpeed(0), formatSpeed(1), formatSpeed(3.04), formatSpeed(0.5), formatSpeed(1 / 63)]).toEqual(['0.00 images/s', '1.00 images/s', '3.04 images/s', '2.0s/image', '1m03s/image']);
    expect(formatSummary('extract', { done: 2, skipped: 0, failed: 0, remaining: 0, elapsedMs: 126_000 })).toBe('extract: 2 done, 0 skipped (already done), 0 failed in 2m06s (1m03s/image)');
    expect(formatSummary('extract', { done: 950, skipped: 40, failed: 10, remaining: 0, elapsedMs: 312_000 }))
      .toBe('extract: 950 done, 40 skipped (already done), 10 failed in 5m12s (3.04 images/s)');
    expect(formatSummary('extract', { done: 0, skipped: 6, failed: 1, remaining: 0, elapsedMs: 20 })).toBe('extract: 0 done, 6 skipped (already done), 1 failed in 0.0s');
    expect(formatSummary('extract', { done: 2, skipped: 0, failed: 0, remaining: 5, elapsedMs: 1000 }).split('\n')[1])
      .toBe('extract: interrupted with 5 left; run the same command again to finish them');
  });
});

describe('interruptOnSigint', () => {
  it('aborts on the first SIGINT with a notice, and removes its handler on dispose', () => {
    const said: string[] = [];
    const before = process.listenerCount('SIGINT');
    const intr = interruptOnSigint((l) => said.push(l));
    expect(process.listenerCount('SIGINT')).toBe(before + 1);
    process.emit('SIGINT');
    expect(intr.signal.aborted).toBe(true);
    expect(said).toEqual(['stopping after the current batch; Ctrl-C again to quit now']);
    intr.dispose();
    expect(process.listenerCount('SIGINT')).toBe(before);
  });

  it('a second SIGINT ends the process at once, even while the JavaScript thread is busy', async () => {
    // A child that blocks its thread for 20 s after the first Ctrl-C, as a long GPU call does.
    const mod = pathToFileURL(join(repo, 'dist', 'node', 'batch', 'interrupt.js')).href;
    const script = `
      const { interruptOnSigint } = await import(${JSON.stringify(mod)});
      const intr = interruptOnSigint((l) => console.log(l));
      intr.signal.addEventListener('abort', () => setTimeout(() => {
        console.log('busy');
        const end = Date.now() + 20000;
        while (Date.now() < end);
        console.log('finished');
      }, 10));
      console.log('ready');
      setTimeout(() => {}, 30000);`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    const saw = (word: string) => new Promise<void>((res) => {
      const check = () => { if (out.includes(word)) res(); };
      child.stdout.on('data', (d) => { out += d; check(); });
      check();
    });
    await saw('ready');
    child.kill('SIGINT');
    await saw('busy');
    const t0 = Date.now();
    child.kill('SIGINT');
    const [code, signal] = await new Promise<[number | null, string | null]>((res) => child.on('exit', (c, s) => res([c, s])));
    expect(Date.now() - t0).toBeLessThan(2000);
    expect({ code, signal }).toEqual({ code: null, signal: 'SIGINT' }); // a shell reports 130
    expect(out).toContain('stopping after the current batch');
    expect(out).not.toContain('finished');
  });
});
