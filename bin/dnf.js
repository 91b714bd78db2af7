#!/usr/bin/env node
// The `dnf` command: runs the compiled CLI (built by `npm ci` / `npm run build`).
let cli;
try {
  cli = await import('../dist/cli/main.js');
} catch (err) {
  if (err && err.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes('main.js')) {
    console.error('dnf: the engine is not built; run `npm run build` in the dnf-webgpu folder.');
    process.exit(2);
  }
  throw err;
}
process.exit(await cli.main(process.argv.slice(2)));
