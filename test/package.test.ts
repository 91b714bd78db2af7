/**
 * The npm package as a user gets it. `npm pack` (which builds through `prepare`) must ship dist/,
 * bin/, the WGSL sources and the docs, and nothing of the repository's tests, fixtures (a malicious
 * pickle among them), tools, benchmarks or web page. The tarball is then installed into an empty
 * project, as `npm install ./dnf-webgpu-*.tgz` does for a user (no build runs: npm runs `prepare`
 * for git and folder dependencies only), and used from there: `npx dnf --version` and
 * `npx dnf doctor --json`, the package's examples as a user copies them into their project (the
 * Node one against the tiny UNet of tools/golden/unet.py and the small Bottleneck classifier, as
 * test/detect-cli.test.ts builds them; its verdicts must be `dnf detect`'s), and the browser example
 * bundled by esbuild and by Vite from the installed package's browser entry (no Node module may
 * reach those bundles), each bundle then run in headless Chromium on SwiftShader's WebGPU with the
 * same models and images, its probabilities those of `dnf detect` on SwiftShader in Node. Takes
 * 1.5 to 2.5 minutes on 2 shared cores (the build, an install that uses the npm cache where it can,
 * shader compiles in Node and in Chromium).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, extname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import { chromium, type Browser } from 'playwright-core';
import { build as viteBuild, type Rollup } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pattern, writeModels, type Models } from './detect-setup.js';

const repo = fileURLToPath(new URL('..', import.meta.url));
const CHROMIUM = process.env.DNF_CHROMIUM ?? '/usr/bin/chromium';
/** As test/browser.test.ts runs Chromium: headless, WebGPU on SwiftShader. */
const CHROMIUM_FLAGS = ['--no-sandbox', '--disable-gpu-sandbox', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--enable-unsafe-webgpu', '--use-webgpu-adapter=swiftshader', '--use-angle=swiftshader'];
const SLOW = 300_000; // a build, an npm install and bundles on 2 shared cores

/** The package's examples (a Node script, and a page folder with index.html and main.js), as the tarball holds them. */
const EXAMPLES = (project: string) => join(project, 'node_modules', 'dnf-webgpu', 'examples');
/** A TypeScript user of both entry points. */
const TYPED_USER = join(repo, 'test', 'fixtures', 'package', 'typed.ts');

/**
 * The packed tarball's upper size. It measures 0.74 MB (dist/ with its declarations and source
 * maps, the examples, the WGSL sources, the docs); the repository's test fixtures, tools and
 * benchmarks, which the tarball shipped before `files`, made it 6.6 MB.
 */
const MAX_TARBALL_BYTES = 1.5e6;

/** What may not reach a browser bundle: Node's modules, and the Node-only parts and dependencies of the package. */
const NODE_ONLY_MODULE = /node_modules\/(sharp|@img|webgpu|commander|vega|vega-lite)\/|dnf-webgpu\/dist\/(node|cli)\/|-node\.js$/;
const NODE_IMPORT = /(?:\bfrom|\bimport|\brequire)\s*\(?\s*["']node:/;

interface Packed {
  filename: string;
  size: number;
  unpackedSize: number;
  entryCount: number;
  files: Array<{ path: string; size: number }>;
}

let dir: string;
let project: string;
let packed: Packed;
let paths: string[];
let browser: Browser | undefined;
let server: Server | undefined;
let models: Models;
/** Test images of a few sizes and formats, decoded and resized as any input is. */
let images: string[];

/**
 * The environment without what npm sets for the script this test may run under (`npm test`,
 * `npm exec -c`): the command, package and lifecycle of the repository's own npm run, which a
 * nested npm would take as its own (npm_config_call makes every nested npx fail). The user's npm
 * settings (registry, cache) stay.
 */
function userEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = { ...process.env, ...extra };
  for (const key of Object.keys(env)) {
    if (/^npm_(config_call|config_local_prefix|command|execpath|lifecycle_|package_|node_execpath)/i.test(key) || key === 'INIT_CWD') delete env[key];
  }
  return env;
}

function run(cmd: string, args: string[], cwd: string) {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout: SLOW, env: userEnv() });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Runs a command that must succeed; its output is in the error otherwise. */
function mustRun(cmd: string, args: string[], cwd: string): string {
  const r = run(cmd, args, cwd);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.code}):\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** `npx dnf detect --json ARGS` in the consumer project: a verdict per input, in order. */
function detect(args: string[], env: Record<string, string> = {}): Array<{ prob: number; label: string }> {
  const r = spawnSync('npx', ['--no', '--', 'dnf', 'detect', '--json', ...args], { cwd: project, encoding: 'utf8', timeout: SLOW, env: userEnv(env) });
  if (r.status !== 0) throw new Error(`dnf detect failed (${r.status}):\n${r.stderr}`);
  return r.stdout.trim().split('\n').map((line) => JSON.parse(line));
}

/** A result line of the examples: `NAME: LABEL (P(generated) = P...`. */
function exampleLine(line: string) {
  const m = /^(.+): (real|generated) \(P\(generated\) = (\d\.\d{4})\b/.exec(line);
  return m ? { file: m[1], label: m[2], prob: Number(m[3]) } : undefined;
}

/** The examples print P(generated) to 4 decimals: within half a unit of the last digit. */
const PRINTED = 5e-5;

function expectVerdicts(got: Array<{ label: string; prob: number }>, want: Array<{ label: string; prob: number }>, tolerance: number) {
  expect(got.map((v) => v.label)).toEqual(want.map((v) => v.label));
  got.forEach((v, i) => expect(Math.abs(v.prob - want[i].prob)).toBeLessThanOrEqual(tolerance));
}

/** `npx dnf ARGS` in the consumer project; `--no` (never fetch a package of that name) needs `--` before the command. */
const npx = (args: string[]) => mustRun('npx', ['--no', '--', 'dnf', ...args], project);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dnf-package-'));
  const out = mustRun('npm', ['pack', '--json', '--pack-destination', dir], repo);
  [packed] = JSON.parse(out.slice(out.indexOf('[')));
  paths = packed.files.map((f) => f.path);
  console.log(`dnf-webgpu tarball: ${packed.filename}, ${packed.size} bytes packed, ${packed.unpackedSize} unpacked, ${packed.entryCount} files`);

  project = join(dir, 'consumer');
  await mkdir(project);
  await writeFile(join(project, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, type: 'module' }));
  mustRun('npm', ['install', join(dir, packed.filename), '--prefer-offline', '--no-audit', '--no-fund'], project);
  await cp(EXAMPLES(project), join(project, 'examples'), { recursive: true });
  await cp(TYPED_USER, join(project, 'typed.ts'));

  models = await writeModels(dir);
  images = [join(dir, 'a.png'), join(dir, 'b.jpg'), join(dir, 'c.png')];
  await pattern(40, 30, 3).png().toFile(images[0]);
  await pattern(17, 23, 7).jpeg({ quality: 90 }).toFile(images[1]);
  await pattern(64, 64, 11).png().toFile(images[2]);
}, SLOW);

afterAll(async () => {
  await browser?.close();
  server?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('npm pack', () => {
  it('ships dist/, bin/, the WGSL sources and the docs, nothing else', async () => {
    const top = new Set(paths.map((p) => (p.includes('/') ? p.slice(0, p.indexOf('/') + 1) : p)));
    expect([...top].sort()).toEqual(['LICENSE', 'README.md', 'bin/', 'dist/', 'examples/', 'package.json', 'shaders/', 'weights/'].sort());
    expect(paths.filter((p) => p.startsWith('weights/'))).toEqual(['weights/README.md']);
    expect(paths.filter((p) => /(^|\/)(test|fixtures|tools|bench|web|\.ci)\//.test(p))).toEqual([]);
    expect(paths.filter((p) => /\.(pth|pt|pkl|pickle|ckpt|safetensors|test\.[jt]s)$/.test(p))).toEqual([]);
    const shaders = readdirSync(join(repo, 'shaders')).map((f) => `shaders/${f}`);
    expect(paths.filter((p) => p.startsWith('shaders/')).sort()).toEqual(shaders.sort());
    expect(packed.size).toBeLessThan(MAX_TARBALL_BYTES);
  });

  it('holds every entry point package.json names', async () => {
    const pkg = JSON.parse(await readFile(join(repo, 'package.json'), 'utf8'));
    const entries = [pkg.main, pkg.types, ...Object.values(pkg.bin), ...Object.values(pkg.exports).flatMap((e) => Object.values(e as object))];
    for (const entry of entries) expect(paths).toContain(String(entry).replace(/^\.\//, ''));
    for (const entry of ['dist/index.js', 'dist/node/index.js', 'dist/cli/main.js', 'bin/dnf.js', 'examples/detect.mjs', 'examples/browser/index.html', 'examples/browser/main.js']) {
      expect(paths).toContain(entry);
    }
  });

  it('builds dist/ from src/ alone: each module from a source file, no stale or test outputs', () => {
    const modules = paths.filter((p) => p.startsWith('dist/') && p.endsWith('.js'));
    expect(modules.length).toBeGreaterThan(50);
    const stale = modules.filter((p) => !existsSync(join(repo, 'src', p.slice('dist/'.length).replace(/\.js$/, '.ts'))));
    expect(stale).toEqual([]);
    for (const p of modules) {
      expect(paths).toContain(p.replace(/\.js$/, '.d.ts'));
      expect(paths).toContain(`${p}.map`);
    }
  });
});

describe('the installed tarball', () => {
  it('is what was packed (installing ran no build)', () => {
    const installed = join(project, 'node_modules', 'dnf-webgpu');
    const files = readdirSync(installed, { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile())
      .map((e) => relative(installed, join(e.parentPath, e.name)));
    expect(files.sort()).toEqual([...paths].sort());
  });

  it('`npx dnf --version` prints the package version', async () => {
    const { version } = JSON.parse(await readFile(join(repo, 'package.json'), 'utf8'));
    expect(npx(['--version']).trim()).toBe(version);
  });

  it('`npx dnf doctor --json` finds an adapter and passes the self-test', () => {
    const report = JSON.parse(npx(['doctor', '--json']));
    expect(report.adapter.description.length).toBeGreaterThan(0);
    expect(report.selfTest.ok).toBe(true);
  }, SLOW);

  it("runs the Node example: one line per image with `dnf detect`'s verdict", () => {
    const unet = ['--unet', models.unet, '--model-config', models.config];
    const lines = mustRun(process.execPath, ['examples/detect.mjs', ...unet, '--classifier', models.classifier, ...images], project).trim().split('\n');
    expect(lines.map((line) => exampleLine(line)?.file)).toEqual(images);
    // Same adapter and code as the CLI: only the example's printing (4 decimals) differs.
    expectVerdicts(lines.map((line) => exampleLine(line)!), detect([...unet, '--classifier', models.classifier, ...images]), PRINTED);
  }, SLOW);

  it('types both entry points for a strict TypeScript user (WebGPU types included)', async () => {
    const options = { strict: true, target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', lib: ['ES2022', 'DOM'], types: [], skipLibCheck: false, noEmit: true };
    await writeFile(join(project, 'tsconfig.json'), JSON.stringify({ compilerOptions: options, files: ['typed.ts'] }));
    const r = run(process.execPath, [join(repo, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], project);
    expect(r.stdout + r.stderr).toBe('');
    expect(r.code).toBe(0);
  }, SLOW);
});

/** Serves `root` over HTTP on an ephemeral localhost port (a secure context, as WebGPU needs). */
async function serve(root: string): Promise<string> {
  const types: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.map': 'application/json' };
  server = createServer(async (req, res) => {
    const path = join(root, decodeURIComponent(new URL(req.url ?? '/', 'http://localhost').pathname));
    try {
      const body = await readFile(path.endsWith('/') ? join(path, 'index.html') : path);
      res.writeHead(200, { 'content-type': types[extname(path) || '.html'] ?? 'application/octet-stream' }).end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((done) => server!.listen(0, '127.0.0.1', done));
  return `http://localhost:${(server!.address() as AddressInfo).port}`;
}

/**
 * Opens the browser example at `url` in Chromium, gives it the models and the images through its
 * file inputs, presses Detect, and returns its result lines once there is one per image (or its
 * one-line error).
 */
async function detectInPage(url: string): Promise<string[]> {
  browser ??= await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_FLAGS });
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(err.message));
  try {
    await page.goto(url);
    await page.setInputFiles('#unet', models.unet);
    await page.setInputFiles('#classifier', models.classifier);
    await page.setInputFiles('#images', images);
    await page.click('#run');
    await page.waitForFunction(
      (n) => {
        const text = document.getElementById('out')?.textContent ?? '';
        const busy = text === '' || /^(Reading|Downloading|Running on)/.test(text);
        return (text.match(/P\(generated\)/g) ?? []).length === n || !busy;
      },
      images.length,
      { timeout: 240_000, polling: 250 },
    );
    expect(errors).toEqual([]);
    const lines = ((await page.textContent('#out')) ?? '').trim().split('\n');
    return lines[0].startsWith('Running on') ? lines.slice(1) : lines;
  } finally {
    await page.close();
  }
}

describe('the browser entry, bundled from the installed package', () => {
  let site: string;
  let base: string;
  /** What Node gives for the page's inputs on the page's adapter (SwiftShader), the config taken from the weights as the page does. */
  let want: Array<{ prob: number; label: string }>;

  beforeAll(async () => {
    site = join(dir, 'site');
    base = await serve(site);
    want = detect(['--unet', models.unet, '--classifier', models.classifier, ...images], { DNF_BACKEND: 'swiftshader' });
  }, SLOW);

  /**
   * The page's verdicts are Node's: P(generated) within the printing's half unit plus 1e-5, the
   * bound test/browser.test.ts holds the page's probabilities to against Node's on SwiftShader.
   */
  async function expectNodeVerdicts(url: string) {
    const lines = await detectInPage(url);
    expect(lines.map((line) => exampleLine(line)?.file ?? line)).toEqual(images.map((f) => basename(f)));
    expectVerdicts(lines.map((line) => exampleLine(line)!), want, PRINTED + 1e-5);
  }

  it('bundles with esbuild, without Node modules, and detects in Chromium as Node does', async () => {
    const outdir = join(site, 'esbuild');
    const result = await esbuild.build({
      entryPoints: [join(project, 'examples', 'browser', 'main.js')],
      absWorkingDir: project,
      bundle: true,
      platform: 'browser',
      format: 'esm',
      target: 'es2022',
      outdir,
      metafile: true,
      logLevel: 'silent',
    });
    expect(result.errors).toEqual([]);
    expect(result.warnings).toEqual([]);
    const inputs = Object.keys(result.metafile.inputs);
    expect(inputs.filter((p) => p.includes('node_modules/dnf-webgpu/dist/')).length).toBeGreaterThan(10);
    expect(inputs.filter((p) => NODE_ONLY_MODULE.test(p))).toEqual([]);
    const code = await readFile(join(outdir, 'main.js'), 'utf8');
    expect(code).not.toMatch(NODE_IMPORT);
    await cp(join(project, 'examples', 'browser', 'index.html'), join(outdir, 'index.html'));
    await expectNodeVerdicts(`${base}/esbuild/`);
  }, SLOW);

  it('bundles with Vite, without Node modules or warnings, and detects in Chromium as Node does', async () => {
    const warnings: string[] = [];
    const logger = {
      info: () => {},
      warn: (msg: string) => warnings.push(msg),
      warnOnce: (msg: string) => warnings.push(msg),
      error: (msg: string) => warnings.push(msg),
      clearScreen: () => {},
      hasErrorLogged: () => false,
      hasWarned: false,
    };
    const outDir = join(site, 'vite');
    const output = (await viteBuild({
      root: join(project, 'examples', 'browser'),
      base: './',
      configFile: false,
      logLevel: 'warn',
      customLogger: logger,
      build: { outDir, emptyOutDir: true },
    })) as Rollup.RollupOutput;
    expect(warnings).toEqual([]);
    const chunks = output.output.filter((o): o is Rollup.OutputChunk => o.type === 'chunk');
    const modules = chunks.flatMap((c) => c.moduleIds);
    expect(modules.filter((p) => p.includes('node_modules/dnf-webgpu/dist/')).length).toBeGreaterThan(10);
    expect(modules.filter((p) => NODE_ONLY_MODULE.test(p))).toEqual([]);
    for (const chunk of chunks) expect(chunk.code).not.toMatch(NODE_IMPORT);
    await expectNodeVerdicts(`${base}/vite/`);
  }, SLOW);
});
