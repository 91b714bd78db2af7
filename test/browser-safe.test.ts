/**
 * Everything under src/ except the CLI and the Node-specific code must load in a browser: no
 * Node built-ins, no Node-only packages, no process/Buffer globals. Node-specific code lives in
 * src/cli/, src/node/, or in files named `*-node.ts` beside their browser counterparts.
 */
import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const src = fileURLToPath(new URL('../src', import.meta.url));
const NODE_ONLY = ['cli', 'node'];

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

describe('browser-safe sources', () => {
  const shared = files(src).filter((p) => !NODE_ONLY.includes(relative(src, p).split('/')[0]) && !p.endsWith('-node.ts'));
  it('finds the shared sources', () => expect(shared.length).toBeGreaterThan(10));
  it.each(shared.map((p) => [relative(src, p), p]))('%s', (_rel, path) => {
    const code = readFileSync(path, 'utf8').replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, '');
    expect(code).not.toMatch(/from\s+['"](node:|fs|path|url|os|child_process|sharp|webgpu|commander)['"/]/);
    expect(code).not.toMatch(/import\(\s*['"](node:|fs|sharp|webgpu)/);
    expect(code).not.toMatch(/\bprocess\.|\bBuffer\.|\brequire\(/);
    // Shared code may only import other shared code.
    for (const m of code.matchAll(/from\s+['"](\.{1,2}\/[^'"]+)['"]/g)) {
      expect(m[1]).not.toMatch(/(^|\/)(cli|node)\/|-node\.js$/);
    }
  });
});
