/** The `dnf` command as a user runs it: doctor, usage errors, missing adapter, clean exit. */
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const bin = fileURLToPath(new URL('../bin/dnf.js', import.meta.url));

function dnf(args: string[], env: Record<string, string> = {}) {
  const clean = { ...process.env };
  delete clean.DNF_BACKEND; // run as a user would: no environment variables
  const r = spawnSync(process.execPath, [bin, ...args], { env: { ...clean, ...env }, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, signal: r.signal };
}

describe('dnf doctor', () => {
  it('--json names the backend and adapter and passes the self-test, then exits', () => {
    const r = dnf(['doctor', '--json']);
    expect(r.signal).toBeNull(); // exited by itself (no hang on the Dawn instance)
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(['vulkan', 'opengles', 'swiftshader', 'metal', 'd3d12']).toContain(report.backend);
    expect(report.adapter.description.length).toBeGreaterThan(0);
    expect(report.limits.maxStorageBufferBindingSize).toBeGreaterThanOrEqual(128 * 1024 * 1024);
    expect(report.selfTest.ok).toBe(true);
    expect(report.selfTest.gflops).toBeGreaterThan(0);
    // CPU adapters (CI's) measure how to read lane-varying inputs (src/gpu/lane-reads.ts).
    expect(['storage', 'texels']).toContain(report.laneReads.reads);
    expect(report.laneReads.probe.reads).toBe(report.laneReads.reads);
  });

  it('names the lane reads in its text, as forced by DNF_LANE_TEXELS', () => {
    const r = dnf(['doctor'], { DNF_LANE_TEXELS: 'on' });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^lane reads {5}texels \(DNF_LANE_TEXELS=on\)$/m);
    const bad = dnf(['doctor'], { DNF_LANE_TEXELS: 'maybe' });
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim().split('\n')).toEqual([expect.stringMatching(/DNF_LANE_TEXELS\) must be auto, on or off, got 'maybe'/)]);
  });

  it.each(['opengles', 'swiftshader'])('runs on the %s backend when asked', (backend) => {
    const r = dnf(['--backend', backend, 'doctor', '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).backend).toBe(backend);
  });

  it('says in one line what to install when no adapter exists, exit 2', () => {
    // Dawn on Linux has no Metal backend: this stands for a machine without any adapter.
    const r = dnf(['doctor'], { DNF_BACKEND: 'metal' });
    expect(r.code).toBe(2);
    const lines = r.stderr.split('\n').filter((l) => l.startsWith('dnf:'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/no WebGPU adapter found.*apt-get install libegl1 libegl-mesa0 libgles2/);
    expect(r.stderr).not.toMatch(/\bat .*\.js:\d+/); // no stack trace
  });

  it('rejects an unknown backend with the list of choices', () => {
    const r = dnf(['--backend', 'cuda', 'doctor']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown backend 'cuda'; choose one of auto, vulkan/);
  });
});

describe('usage errors', () => {
  it('unknown option', () => {
    const r = dnf(['doctor', '--frobnicate']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown option '--frobnicate'/);
  });

  it('unknown command', () => {
    const r = dnf(['frobnicate']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown command 'frobnicate'/);
  });

  it('is one line naming the command\'s help, exit 2 (not the whole help)', () => {
    const cases: Array<[string[], string]> = [
      [['extract', 'in'], "dnf: required option '-o, --output <dir>' not specified; see `dnf extract --help`"],
      [['extract', 'in', '-o', 'out', '--format', 'jpg'], "dnf: option '--format <format>' argument 'jpg' is invalid. Allowed choices are png, safetensors; see `dnf extract --help`"],
      [['weights', 'list', '--bogus'], "dnf: unknown option '--bogus'; see `dnf weights list --help`"],
      [['frobnicate'], "dnf: unknown command 'frobnicate'; see `dnf --help`"],
    ];
    for (const [args, line] of cases) {
      const r = dnf(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toBe(`${line}\n`);
      expect(r.stdout).toBe('');
    }
  });

  it('--version prints the package version, exit 0', () => {
    const r = dnf(['--version']);
    expect(r.code).toBe(0);
    const pkg = JSON.parse(readFileSync(fileURLToPath(new URL('../package.json', import.meta.url)), 'utf8')) as { version: string };
    expect(r.stdout).toBe(`${pkg.version}\n`);
  });

  it('--help exits 0', () => {
    const r = dnf(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/doctor/);
  });

  it('antialiasing is on by default (the reference on torchvision >= 0.17), --no-antialias turns it off', () => {
    const r = dnf(['extract', '--help']);
    expect(r.code).toBe(0);
    const help = r.stdout.replace(/\s+/g, ' ');
    expect(help).toMatch(/--antialias resize with torch's antialiased bicubic.*upscaling changes too \(default\) --no-antialias plain bicubic/);
  });
});
