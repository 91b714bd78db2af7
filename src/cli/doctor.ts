/** `dnf doctor`: which GPU the engine uses, its limits and features, and a matmul self-test. */
import type { Command } from 'commander';
import { withGpu } from '../node/acquire.js';
import { selfTest } from '../selftest.js';

export function register(program: Command): void {
  program
    .command('doctor')
    .description('show the GPU adapter, backend, limits and features, and run a quick matmul self-test')
    .option('--json', 'print one JSON object')
    .action(async (opts: { json?: boolean }) => {
      await withGpu({ backend: program.opts().backend }, async (gpu) => {
        const test = await selfTest(gpu);
        const report = { ...gpu.describe(), selfTest: test };
        if (opts.json) {
          console.log(JSON.stringify(report, null, 2));
        } else {
          const a = report.adapter;
          console.log(`backend        ${report.backend} (${report.featureLevel} feature level)`);
          console.log(`adapter        ${[a.vendor, a.architecture, a.description].filter(Boolean).join(' / ')}${a.isFallbackAdapter ? ' (fallback)' : ''}`);
          for (const [k, v] of Object.entries(report.limits)) console.log(`${k.padEnd(34)} ${v}`);
          console.log(`features       ${report.features.join(', ') || '(none)'}`);
          console.log(
            `self-test      ${test.ok ? 'ok' : 'FAILED'}: matmul error ${test.maxRelError.toExponential(2)}; ` +
              `${test.size}^3 in ${test.ms.toFixed(1)} ms = ${test.gflops.toFixed(2)} GFLOP/s`,
          );
        }
        if (!test.ok) process.exitCode = 1;
      });
    });
}
