#!/usr/bin/env node
// The `dnf` command: runs the compiled CLI (built by `npm ci` / `npm run build`) in a supervised
// child process (dist/node/supervisor.js says why); DNF_STDERR_FILTER=0 runs it in this process.
import { fileURLToPath } from 'node:url';

let cli;
let supervisor;
try {
  supervisor = await import('../dist/node/supervisor.js');
  if (process.env.DNF_STDERR_FILTER !== '0' && !supervisor.isSupervisedChild()) {
    process.exit(await supervisor.runSupervised(fileURLToPath(import.meta.url), process.argv.slice(2)));
  }
  cli = await import('../dist/cli/main.js');
} catch (err) {
  if (err && err.code === 'ERR_MODULE_NOT_FOUND' && /supervisor\.js|main\.js/.test(String(err.message))) {
    console.error('dnf: the engine is not built; run `npm run build` in the dnf-webgpu folder.');
    process.exit(2);
  }
  throw err;
}
supervisor.adoptSupervisorTerminal();
supervisor.followSupervisor();
process.exit(await cli.main(process.argv.slice(2)));
