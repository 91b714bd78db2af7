/**
 * The contract every reader of untrusted bytes keeps, checked case by case: given any input it
 * returns a valid result or throws a DnfError (one line, naming the file), never another exception,
 * within a time and memory bound. `fuzzReader` runs a fast-check property under that contract and
 * writes its figures (cases, failures, worst time, worst heap growth) to
 * test-output/fuzz/<reader>.json, so long runs (`npm run fuzz`) can be reported.
 *
 * Case counts: DNF_FUZZ_RUNS (the long run) or the test's own default (the bounded run in
 * `npm test`); DNF_FUZZ_SEED fixes the seed (default: a constant, so `npm test` is reproducible).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import fc from 'fast-check';
import { expect } from 'vitest';
import { DnfError } from '../../src/errors.js';

export interface ReaderBounds {
  /** Longest a single case may take, in ms. */
  maxMs: number;
  /** Largest heap growth a single case may cause, in bytes (checked after the case, before GC). */
  maxHeapBytes: number;
  /** The longest error message allowed (error lines are capped). */
  maxMessageLength?: number;
}

export interface FuzzFigures {
  reader: string;
  cases: number;
  failures: number;
  dnfErrors: number;
  valid: number;
  worstMs: number;
  worstHeapBytes: number;
  seed: number;
}

/** Cases for this run: DNF_FUZZ_RUNS when set, else `bounded`. */
export function fuzzRuns(bounded: number): number {
  const env = Number(process.env.DNF_FUZZ_RUNS);
  return Number.isInteger(env) && env > 0 ? env : bounded;
}

export const fuzzSeed = (): number => {
  const env = Number(process.env.DNF_FUZZ_SEED);
  return Number.isInteger(env) ? env : 20261201;
};

/**
 * Checks `read` on every input `arb` generates: it must resolve (any value `validate` accepts)
 * or reject with a DnfError whose message names `fileName` and stays one short line.
 */
export async function fuzzReader<I>(
  reader: string,
  arb: fc.Arbitrary<I>,
  read: (input: I) => unknown | Promise<unknown>,
  opts: ReaderBounds & { runs: number; fileName: string; validate?: (result: unknown, input: I) => void },
): Promise<FuzzFigures> {
  const figures: FuzzFigures = { reader, cases: 0, failures: 0, dnfErrors: 0, valid: 0, worstMs: 0, worstHeapBytes: 0, seed: fuzzSeed() };
  const maxMessage = opts.maxMessageLength ?? 400;
  const property = fc.asyncProperty(arb, async (input) => {
    figures.cases++;
    const heap0 = process.memoryUsage().heapUsed;
    const t0 = performance.now();
    let outcome: { value: unknown } | { error: unknown };
    try {
      outcome = { value: await read(input) };
    } catch (error) {
      outcome = { error };
    }
    const ms = performance.now() - t0;
    const heap = process.memoryUsage().heapUsed - heap0;
    figures.worstMs = Math.max(figures.worstMs, ms);
    figures.worstHeapBytes = Math.max(figures.worstHeapBytes, heap);
    try {
      if (ms > opts.maxMs) throw new Error(`took ${ms.toFixed(0)} ms (bound ${opts.maxMs} ms)`);
      if (heap > opts.maxHeapBytes) throw new Error(`heap grew by ${heap} bytes (bound ${opts.maxHeapBytes})`);
      if ('error' in outcome) {
        const e = outcome.error;
        if (!(e instanceof DnfError)) throw new Error(`threw ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)} instead of a DnfError`);
        if (!e.message.includes(opts.fileName)) throw new Error(`DnfError does not name the file: ${e.message.slice(0, 200)}`);
        if (e.message.length > maxMessage || /\n/.test(e.message)) throw new Error(`DnfError is not one short line (${e.message.length} chars): ${e.message.slice(0, 200)}`);
        figures.dnfErrors++;
      } else {
        opts.validate?.(outcome.value, input);
        figures.valid++;
      }
    } catch (e) {
      figures.failures++;
      throw e;
    }
  });
  try {
    await fc.assert(property, { numRuns: opts.runs, seed: figures.seed, endOnFailure: true });
  } finally {
    mkdirSync('test-output/fuzz', { recursive: true });
    writeFileSync(`test-output/fuzz/${reader}.json`, `${JSON.stringify(figures, null, 2)}\n`);
  }
  expect(figures.failures).toBe(0);
  return figures;
}
