/**
 * Static shards (src/node/batch/shard.ts) and shared-folder hygiene: the hash assignment covers
 * every input exactly once and is stable when files are added; `--shard auto` reads Kubernetes
 * Indexed Jobs and Slurm arrays; stale-temp cleanup (plan.ts removeStaleTemps) leaves another
 * host's temps alone; names are decided over all inputs whatever the shard; --verify's report.
 */
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DnfError } from '../src/errors.js';
import { tempHost, writeFileAtomic } from '../src/node/files.js';
import { planOutputs, removeStaleTemps } from '../src/node/batch/plan.js';
import { inShard, parseShard, shardOf } from '../src/node/batch/shard.js';
import { verifyLines, verifyOutputs } from '../src/node/batch/verify.js';

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'dnf-shard-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** A few hundred relative paths of the kinds datasets have: nested folders, numbered names, non-ASCII. */
function relPaths(n: number, offset = 0): string[] {
  const kinds = ['ai', 'nature', 'sub/deep', 'été', '写真'];
  return Array.from({ length: n }, (_, k) => {
    const i = k + offset;
    return `${kinds[i % kinds.length]}/img_${String(i).padStart(5, '0')}.${['png', 'jpg', 'webp'][i % 3]}`;
  });
}

describe('shardOf', () => {
  it('puts every input in exactly one of N shards, N = 1..7, and spreads them evenly', () => {
    const rels = relPaths(400);
    for (let n = 1; n <= 7; n++) {
      const counts = new Array(n).fill(0);
      for (const rel of rels) {
        const owners = Array.from({ length: n }, (_, i) => i).filter((i) => inShard(rel, { index: i, count: n }));
        expect(owners).toEqual([shardOf(rel, n)]);
        counts[owners[0]]++;
      }
      // Binomial(400, 1/n): its standard deviation is at most 10 (n = 2); 4 sigma is 40 inputs.
      for (const c of counts) expect(Math.abs(c - 400 / n)).toBeLessThan(40);
    }
  });

  it('moves no input when files are added: only the new ones land anywhere', () => {
    const before = relPaths(300);
    const added = relPaths(100, 300);
    for (const n of [2, 3, 5, 7]) {
      const first = new Map(before.map((r) => [r, shardOf(r, n)]));
      const after = new Map([...added, ...before].reverse().map((r) => [r, shardOf(r, n)])); // any order
      for (const r of before) expect(after.get(r)).toBe(first.get(r));
    }
  });
});

describe('parseShard', () => {
  const bad = (spec: string, env: NodeJS.ProcessEnv = {}) => {
    try {
      parseShard(spec, env);
    } catch (e) {
      expect(e).toBeInstanceOf(DnfError);
      expect((e as DnfError).exitCode).toBe(2);
      expect((e as DnfError).message).not.toContain('\n');
      return (e as DnfError).message;
    }
    throw new Error(`--shard ${spec} was accepted`);
  };

  it('reads I/N and refuses anything else in one line', () => {
    expect(parseShard('2/4', {})).toEqual({ index: 2, count: 4 });
    expect(parseShard('0/1', {})).toEqual({ index: 0, count: 1 });
    for (const spec of ['4/4', '-1/4', '1/0', 'a/b', '1', '1/2/3', '1.5/4', '']) expect(bad(spec)).toMatch(/--shard/);
  });

  it('reads a Kubernetes Indexed Job: the index from JOB_COMPLETION_INDEX, the count from auto/N or DNF_SHARD_COUNT', () => {
    expect(parseShard('auto', { JOB_COMPLETION_INDEX: '3', DNF_SHARD_COUNT: '8' })).toEqual({ index: 3, count: 8 });
    expect(parseShard('auto/5', { JOB_COMPLETION_INDEX: '4', DNF_SHARD_COUNT: '8' })).toEqual({ index: 4, count: 5 });
    expect(bad('auto', { JOB_COMPLETION_INDEX: '3' })).toMatch(/DNF_SHARD_COUNT/);
    expect(bad('auto/3', { JOB_COMPLETION_INDEX: '3' })).toMatch(/JOB_COMPLETION_INDEX=3.*from 0 to 2/);
  });

  it('reads a Slurm array, offset by SLURM_ARRAY_TASK_MIN', () => {
    expect(parseShard('auto', { SLURM_ARRAY_TASK_ID: '2', SLURM_ARRAY_TASK_COUNT: '4' })).toEqual({ index: 2, count: 4 });
    expect(parseShard('auto', { SLURM_ARRAY_TASK_ID: '8', SLURM_ARRAY_TASK_MIN: '5', SLURM_ARRAY_TASK_COUNT: '4' })).toEqual({ index: 3, count: 4 });
    expect(bad('auto', { SLURM_ARRAY_TASK_ID: '9', SLURM_ARRAY_TASK_MIN: '5', SLURM_ARRAY_TASK_COUNT: '4' })).toMatch(/SLURM_ARRAY_TASK_ID=9/);
    expect(bad('auto', { SLURM_ARRAY_TASK_ID: '2' })).toMatch(/count/);
  });

  it('refuses auto outside a scheduler', () => {
    expect(bad('auto', {})).toMatch(/neither JOB_COMPLETION_INDEX.*nor SLURM_ARRAY_TASK_ID/);
    expect(bad('auto/x', { JOB_COMPLETION_INDEX: '0' })).toMatch(/auto\//);
  });
});

describe('temps on a shared folder', () => {
  const dead = 2 ** 22 + 12345; // above Linux's default pid_max (4194304 = 2^22): no such process here

  it('names temps with the host (sanitised, bounded) and the pid', async () => {
    expect(tempHost('node-7.cluster.local')).toBe('node-7-cluster-local');
    expect(tempHost('a_b')).toBe('a-b');
    expect(tempHost('x'.repeat(200))).toHaveLength(63);
    expect(tempHost('')).toBe('host');
    const dir = join(root, 'named');
    const seen: string[] = [];
    await writeFileAtomic(join(dir, 'a.png'), (async function* () {
      seen.push(...(await readdir(dir))); // the temp, while it is written
      yield new Uint8Array([1, 2, 3]);
    })());
    expect(seen).toHaveLength(1);
    expect(seen[0]).toBe(`a.png.${tempHost()}.${process.pid}.${seen[0].split('.').at(-2)}.tmp`);
    expect(seen[0]).toMatch(/^a\.png\.[A-Za-z0-9-]+\.\d+\.[0-9a-f]{12}\.tmp$/);
    expect(await readdir(dir)).toEqual(['a.png']);
  });

  it('removes this host\'s dead temps (and old host-less ones), keeps another host\'s whatever its pid', async () => {
    const out = join(root, 'stale');
    await mkdir(out, { recursive: true });
    const me = tempHost();
    const removedNames = [`a.png.${me}.${dead}.0123456789ab.tmp`, `a.png.${dead}.0123456789ab.tmp`];
    const kept = [
      `a.png.other-host.${dead}.0123456789ab.tmp`, // another machine: its pid means nothing here
      `a.png.other-host.${process.pid}.0123456789ab.tmp`,
      `a.png.${me}.${process.pid}.0123456789ab.tmp`, // this process: a write in flight
      `b.png.${me}.${dead}.0123456789ab.tmp`, // not a planned output
      'a.png',
    ];
    for (const f of [...removedNames, ...kept]) await writeFile(join(out, f), '');
    expect(await removeStaleTemps([join(out, 'a.png')])).toBe(2);
    expect((await readdir(out)).sort()).toEqual([...kept].sort());
  });
});

describe('planning and verifying a shard', () => {
  it('names outputs over all inputs: a shard\'s clashing input keeps its extension as in a plain run', async () => {
    const items = ['x.bmp', 'x.tiff', 'y.png'].map((rel) => ({ path: join(root, 'in', rel), rel }));
    const out = join(root, 'planned');
    const all = await planOutputs(items, out, 'png');
    // The clashing pair is split by one of these shardings (else this test would show nothing).
    expect([2, 3].some((n) => shardOf('x.bmp', n) !== shardOf('x.tiff', n))).toBe(true);
    for (let n = 2; n <= 3; n++) {
      const outputs: string[] = [];
      for (let i = 0; i < n; i++) {
        const plan = await planOutputs(items, out, 'png', { select: (it) => inShard(it.rel, { index: i, count: n }) });
        outputs.push(...plan.todo.map((p) => p.output));
      }
      expect(outputs.sort()).toEqual(all.todo.map((p) => p.output).sort());
    }
    expect(all.todo.map((p) => p.output)).toEqual(['x.bmp.png', 'x.tiff.png', 'y.png'].map((f) => join(out, f)));
  });

  it('reports missing and incomplete outputs, capped, and the totals', async () => {
    const items = Array.from({ length: 30 }, (_, i) => ({ path: join(root, 'in', `v${i}.png`), rel: `v${i}.png` }));
    const out = join(root, 'verify');
    await mkdir(out, { recursive: true });
    const png = Buffer.from('89504e470d0a1a0a0000000049454e44ae426082', 'hex'); // signature + IEND
    for (let i = 0; i < 30; i++) if (i % 10 !== 0) await writeFile(join(out, `v${i}.png`), i === 5 ? png.subarray(0, 12) : png);
    const r = await verifyOutputs(items, out, 'png');
    expect(r.expected).toBe(30);
    expect(r.missing.map((p) => p.rel)).toEqual(['v0.png', 'v10.png', 'v20.png']);
    expect(r.incomplete.map((p) => p.rel)).toEqual(['v5.png']);
    const lines = verifyLines('extract', r, 2);
    expect(lines).toEqual([
      `extract: missing ${join(out, 'v0.png')} (from ${join(root, 'in', 'v0.png')})`,
      `extract: missing ${join(out, 'v10.png')} (from ${join(root, 'in', 'v10.png')})`,
      'extract: ... and 2 more missing or incomplete',
      'extract: verified: 26 of 30 outputs complete, 3 missing, 1 incomplete; run the same extract again to finish them',
    ]);
    const shard = { index: shardOf('v5.png', 3), count: 3 };
    const mine = await verifyOutputs(items, out, 'png', { select: (it) => inShard(it.rel, shard) });
    expect(mine.expected).toBe(items.filter((it) => inShard(it.rel, shard)).length);
    expect(mine.incomplete.map((p) => p.rel)).toEqual(['v5.png']);
  });
});
