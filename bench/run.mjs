#!/usr/bin/env node
// Benchmark runner: `node bench/run.mjs [names...] [--backend NAME] [--out FILE]`.
// Runs bench/<name>.mjs (all when none named) on one GPU and prints one JSON object per result
// line on stdout: {bench, adapter, backend, lane_reads, kernel, size, ms, gflops, ...} (lane_reads:
// how this Gpu reads lane-varying inputs, src/gpu/lane-reads.ts). Needs `npm run build`.
import { readdirSync } from 'node:fs';
import { appendFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { acquireGpu } from '../dist/node/acquire.js';

const here = dirname(fileURLToPath(import.meta.url));
/** Scripts with their own command line (run them directly), not benchmarks of one GPU. */
const STANDALONE = new Set(['run.mjs', 'soak.mjs', 'scale.mjs']);
const args = process.argv.slice(2);
const opt = (flag) => {
  const i = args.indexOf(flag);
  if (i < 0) return undefined;
  const v = args[i + 1];
  args.splice(i, 2);
  return v;
};
const backend = opt('--backend');
const out = opt('--out');
const names = args.length ? args : readdirSync(here).filter((f) => f.endsWith('.mjs') && !STANDALONE.has(f)).map((f) => f.replace(/\.mjs$/, ''));

const gpu = await acquireGpu({ backend });
const adapter = [gpu.adapter.vendor, gpu.adapter.architecture, gpu.adapter.description].filter(Boolean).join(' / ');
try {
  for (const name of names) {
    const mod = await import(join(here, `${name}.mjs`));
    await mod.run(gpu, (result) => {
      const line = JSON.stringify({ bench: name, adapter, backend: gpu.backend, lane_reads: gpu.laneReads, ...result });
      console.log(line);
      if (out) appendFileSync(out, line + '\n');
    });
  }
} finally {
  gpu.destroy();
}
