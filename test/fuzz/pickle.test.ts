/**
 * Fuzzes the restricted unpickler with opcode streams (pickle-streams.ts), mutations of the real
 * torch pickles in the fixtures (PyTorch 1.13, zip and legacy), and streams that reach dangerous
 * globals. A tripwire guards "never code execution": the caller's allow-list table also holds every
 * dangerous name with a function that records being called, and every call of the table is counted;
 * no dangerous entry may ever run, exploit streams must be refused before anything is called, and
 * nothing may appear on disk.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { expect, it } from 'vitest';
import { unpickle, type GlobalDef } from '../../src/weights/pickle.js';
import { bytesSource } from '../../src/weights/safetensors.js';
import { ZipReader } from '../../src/weights/zip.js';
import { mutate, mutationsArb } from './arbitraries.js';
import { fuzzReader, fuzzRuns } from './harness.js';
import { DANGEROUS_GLOBALS, SAFE_GLOBALS, exploitArb, streamArb, treeStreamArb } from './pickle-streams.js';

const FILE = 'fuzz.pkl';
const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'checkpoints');

/** The tripwire: calls of the table's entries, and any dangerous one that ran. */
const calls = { allowed: 0, dangerous: [] as string[] };
const globals = new Map<string, GlobalDef>();
for (const [m, n] of DANGEROUS_GLOBALS) globals.set(`${m}.${n}`, { call: () => { calls.dangerous.push(`${m}.${n}`); return null; } });
for (const [m, n] of SAFE_GLOBALS.filter(([m]) => m.startsWith('torch'))) globals.set(`${m}.${n}`, { call: (a) => { calls.allowed++; return { rebuilt: a.length }; } });

/** Real torch pickles: data.pkl of the zip fixtures, the object pickle of the legacy ones. */
async function realPickles(): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for (const f of ['sd.zip.pt', 'wrapped.zip.pt', 'numpy-in-sd.zip.pt', 'malicious.zip.pt']) {
    const zip = await ZipReader.open(bytesSource(f, new Uint8Array(readFileSync(join(FIXTURES, f)))));
    const pkl = [...zip.entries.values()].find((e) => e.name.endsWith('data.pkl'))!;
    out.push(await zip.read(pkl));
  }
  for (const f of ['sd.legacy.pt', 'wrapped.legacy.pt', 'list.legacy.ckpt']) {
    const data = new Uint8Array(readFileSync(join(FIXTURES, f)));
    let end = 0;
    for (let i = 0; i < 3; i++) end = unpickle(data, { name: f }, end).end;
    const main = unpickle(data, { name: f, persistentLoad: (pid) => pid }, end);
    out.push(data.slice(end, main.end));
  }
  out.push(new Uint8Array(readFileSync(join(FIXTURES, 'malicious.pkl'))));
  return out;
}

interface Case { bytes: Uint8Array; exploit: boolean; strict: boolean }

it('pickle: opcode streams, mutated torch pickles and exploits give a value or a one-line DnfError, and never call a global', async () => {
  const real = await realPickles();
  const mutated = fc.tuple(fc.constantFrom(...real), mutationsArb(4)).map(([b, m]) => mutate(b, m));
  const arb: fc.Arbitrary<Case> = fc.oneof(
    { weight: 3, arbitrary: fc.record({ bytes: streamArb, exploit: fc.constant(false), strict: fc.boolean() }) },
    { weight: 3, arbitrary: fc.record({ bytes: treeStreamArb, exploit: fc.constant(false), strict: fc.boolean() }) },
    { weight: 3, arbitrary: fc.record({ bytes: mutated, exploit: fc.constant(false), strict: fc.boolean() }) },
    { weight: 1, arbitrary: fc.record({ bytes: exploitArb, exploit: fc.constant(true), strict: fc.boolean() }) },
  );
  const read = (c: Case) => {
    const before = calls.allowed;
    try {
      return unpickle(c.bytes, { name: FILE, globals, strictGlobals: c.strict, persistentLoad: (pid) => ({ pid: Array.isArray(pid) ? pid.length : typeof pid }) }).value;
    } catch (e) {
      if (c.exploit && !/refuses to load global/.test((e as Error).message)) throw new Error(`an exploit stream was not refused as such: ${(e as Error).message}`);
      throw e;
    } finally {
      if (calls.dangerous.length) throw new Error(`TRIPWIRE: ${calls.dangerous.join(', ')} was called`);
      if (c.exploit && calls.allowed !== before) throw new Error('an exploit stream called an allow-listed global before being refused');
    }
  };
  await fuzzReader('pickle', arb, read, {
    runs: fuzzRuns(4000), fileName: FILE, maxMs: 1500, maxHeapBytes: 128 * 2 ** 20,
    validate: (_, c) => { if (c.exploit) throw new Error('an exploit stream was read without a refusal'); },
  });
  expect(calls.dangerous).toEqual([]);
  expect(existsSync('/tmp/dnf-fuzz-pwned')).toBe(false);
});
