/**
 * The `dnf` supervisor (src/node/supervisor.ts): Dawn's two "artificially reduced" notices are
 * dropped from stderr and nothing else is; `dnf doctor` prints nothing on stderr on either CPU
 * adapter; a real Dawn validation error still reaches the user. Runs the built dist/ (run
 * `npm run build` first).
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { noiseFilter } from '../src/node/supervisor.js';

const repo = fileURLToPath(new URL('..', import.meta.url));
const bin = join(repo, 'bin', 'dnf.js');
const NOTICE_U = 'Warning: maxDynamicUniformBuffersPerPipelineLayout artificially reduced from 90 to 16 to fit dynamic offset allocation limit.';
const NOTICE_S = 'Warning: maxDynamicStorageBuffersPerPipelineLayout artificially reduced from 80 to 16 to fit dynamic offset allocation limit.';

function filtered(chunks: string[]): { out: string; afterEach: string[] } {
  let out = '';
  const afterEach: string[] = [];
  const f = noiseFilter((t) => (out += t));
  for (const c of chunks) {
    f.push(c);
    afterEach.push(out);
  }
  f.end();
  return { out, afterEach };
}

describe('noiseFilter', () => {
  it('drops exactly the two Dawn notices, also when split over chunks, and keeps every other line', () => {
    const { out } = filtered([`${NOTICE_U}\n${NOTICE_S.slice(0, 30)}`, `${NOTICE_S.slice(30)}\nreal line\n`, 'Warning: something else\n']);
    expect(out).toBe('real line\nWarning: something else\n');
  });

  it('passes a partial line (a progress bar redraw) at once, unless it may still become a notice', () => {
    const { afterEach } = filtered(['\rextract [###.....] 3/8', ' (37%)', 'Warning: maxDyn', 'amic... no, a different line\n']);
    expect(afterEach[0]).toBe('\rextract [###.....] 3/8');
    expect(afterEach[1]).toBe('\rextract [###.....] 3/8 (37%)');
    expect(afterEach[2]).toBe(afterEach[1]); // held: could be the notice
    expect(afterEach[3]).toBe('\rextract [###.....] 3/8 (37%)Warning: maxDynamic... no, a different line\n');
  });

  it('keeps a notice-like line that differs from the notice (a changed or real warning)', () => {
    const other = NOTICE_U.replace('artificially reduced', 'reduced');
    expect(filtered([`${other}\n`]).out).toBe(`${other}\n`);
    expect(filtered([`x ${NOTICE_U}\n`]).out).toBe(`x ${NOTICE_U}\n`);
  });
});

describe('stderr of real runs', () => {
  const clean = { ...process.env };
  delete clean.DNF_BACKEND;
  delete clean.XDG_RUNTIME_DIR; // as in a container: SwiftShader's warning needs it unset

  it.each(['opengles', 'swiftshader'])('dnf doctor on %s prints nothing on stderr', (backend) => {
    const r = spawnSync(process.execPath, [bin, 'doctor'], { env: { ...clean, DNF_BACKEND: backend }, encoding: 'utf8', timeout: 120_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`backend\\s+${backend}`));
    expect(r.stderr).toBe('');
  });

  it('the notices are real: unsupervised, the GL backend prints them (so the test above can fail)', () => {
    const r = spawnSync(process.execPath, [bin, 'doctor'], { env: { ...clean, DNF_BACKEND: 'opengles', DNF_STDERR_FILTER: '0' }, encoding: 'utf8', timeout: 120_000 });
    expect(r.status).toBe(0);
    expect(r.stderr.split('\n')).toEqual(expect.arrayContaining([NOTICE_U, NOTICE_S]));
  });

  it('a Dawn validation error still reaches the user through the supervisor', () => {
    // A child that makes an invalid buffer twice: on the engine's device (the error comes back
    // through Gpu.sync, the engine prints it) and on a bare Dawn device (Dawn prints it itself).
    const dir = mkdtempSync(join(tmpdir(), 'dnf-supervisor-'));
    const acquire = pathToFileURL(join(repo, 'dist', 'node', 'acquire.js')).href;
    const supervisor = pathToFileURL(join(repo, 'dist', 'node', 'supervisor.js')).href;
    const webgpu = pathToFileURL(join(repo, 'node_modules', 'webgpu', 'index.js')).href;
    const child = join(dir, 'child.mjs');
    writeFileSync(child, `
      const { acquireGpu } = await import(${JSON.stringify(acquire)});
      const gpu = await acquireGpu({ backend: 'opengles' });
      gpu.device.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.STORAGE });
      try { await gpu.sync(); } catch (err) { process.stderr.write('engine: ' + err.message + '\\n'); }
      const { create } = await import(${JSON.stringify(webgpu)});
      // Kept referenced to the end, as src/node/acquire.ts keeps its own: a Dawn instance collected
      // while its threads run crashes the process at exit (SIGSEGV or SIGABRT, now and then).
      globalThis.dawnInstance = create(['backend=opengles']);
      const adapter = await globalThis.dawnInstance.requestAdapter({ featureLevel: 'compatibility' });
      const device = await adapter.requestDevice();
      device.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.STORAGE });
      await device.queue.onSubmittedWorkDone();
      process.exit(3);`);
    const parent = join(dir, 'parent.mjs');
    writeFileSync(parent, `
      const { runSupervised } = await import(${JSON.stringify(supervisor)});
      process.exit(await runSupervised(${JSON.stringify(child)}, []));`);
    const r = spawnSync(process.execPath, [parent], { env: clean, encoding: 'utf8', timeout: 120_000 });
    expect(r.status).toBe(3); // the child's exit status comes through
    expect(r.stderr).toMatch(/^engine: GPU error: .*MapRead/m);
    // Dawn's own report of the bare device's error (it writes it to stdout or stderr).
    expect(`${r.stdout}${r.stderr}`).toMatch(/validation:\s*\nBuffer usages \(BufferUsage::\(MapRead\|Storage\)\) is invalid/);
    expect(r.stderr).not.toMatch(/artificially reduced/);
  });
});

const supervisorUrl = pathToFileURL(join(repo, 'dist', 'node', 'supervisor.js')).href;

/** A script that runs `childSource` (an ES module) under runSupervised, as bin/dnf.js runs the CLI. */
function supervisedScript(childSource: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'dnf-supervisor-'));
  const child = join(dir, 'child.mjs');
  writeFileSync(child, childSource);
  const parent = join(dir, 'parent.mjs');
  writeFileSync(parent, `
    const { runSupervised } = await import(${JSON.stringify(supervisorUrl)});
    process.exit(await runSupervised(${JSON.stringify(child)}, []));`);
  return parent;
}

describe('signals through the supervisor', () => {
  it('SIGTERM to the supervisor ends the child, and the supervisor ends by the same signal', async () => {
    const parent = supervisedScript(`process.stderr.write('ready\\n'); setInterval(() => {}, 1000);`);
    const p = spawn(process.execPath, [parent], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    await new Promise<void>((res) => p.stderr.on('data', (d: Buffer) => { stderr += d; if (stderr.includes('ready')) res(); }));
    const t0 = Date.now();
    p.kill('SIGTERM');
    const [code, signal] = await new Promise<[number | null, string | null]>((res) => p.on('exit', (c, s) => res([c, s])));
    expect({ code, signal }).toEqual({ code: null, signal: 'SIGTERM' });
    expect(Date.now() - t0).toBeLessThan(2000); // the whole test takes ~0.5 s with both starts: 2 s bounds a loaded machine
  });
});

describe('a supervisor killed outright', () => {
  it('takes its child with it (kill -9 of `dnf` stops the work instead of orphaning it)', async () => {
    const parent = supervisedScript(`const s = await import(${JSON.stringify(supervisorUrl)}); s.followSupervisor(); process.stderr.write('pid ' + process.pid + '\\n'); setInterval(() => {}, 1000);`);
    const p = spawn(process.execPath, [parent], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    const pid = await new Promise<number>((res) => p.stderr.on('data', (d: Buffer) => { stderr += d; const m = /pid (\d+)/.exec(stderr); if (m) res(Number(m[1])); }));
    const alive = () => { try { process.kill(pid, 0); return true; } catch { return false; } };
    expect(alive()).toBe(true);
    p.kill('SIGKILL');
    const t0 = Date.now();
    while (alive() && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 20));
    // An idle child goes within milliseconds of its supervisor; 5 s bounds a loaded machine.
    expect(alive()).toBe(false);
  });
});

describe('the supervised child', () => {
  it('sees the supervisor\'s terminal (progress bars draw as unsupervised), and only when it is the child', () => {
    const supervisor = pathToFileURL(join(repo, 'dist', 'node', 'supervisor.js')).href;
    const script = `const s = await import(${JSON.stringify(supervisor)}); s.adoptSupervisorTerminal(); console.log(JSON.stringify([!!process.stderr.isTTY, process.stderr.columns ?? null]));`;
    const run = (env: Record<string, string>) =>
      JSON.parse(spawnSync(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, ...env }, encoding: 'utf8' }).stdout);
    expect(run({ DNF_SUPERVISED: '1', DNF_STDERR_TTY: '1', DNF_STDERR_COLUMNS: '57' })).toEqual([true, 57]);
    expect(run({ DNF_SUPERVISED: '1', DNF_STDERR_TTY: '', DNF_STDERR_COLUMNS: '' })).toEqual([false, null]);
    expect(run({ DNF_SUPERVISED: '', DNF_STDERR_TTY: '1', DNF_STDERR_COLUMNS: '57' })).toEqual([false, null]);
  });
});

