/**
 * The one-call API (src/node/detector.ts over src/pipeline/detector.ts) against the built CLI,
 * with the tiny UNet and the small Bottleneck classifier of test/detect-setup.ts: for every kind
 * of weights source (a path, an ArrayBuffer, a Blob, a URL served with HTTP ranges by a local
 * server), detect() gives the probabilities `dnf detect --json` prints and the DNFs `dnf extract`
 * writes, exactly (one code path: same bits); a .pth classifier gives the converted file's; a
 * wrong file is one line; dispose() destroys the GPU it acquired. And examples/detect.mjs and the
 * README's example run as written, through the package's own name (built dist/).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DnfError } from '../../src/errors.js';
import { decodeImageFile } from '../../src/image/decode-node.js';
import { parseUnetConfig, type UnetConfig } from '../../src/models/unet-config.js';
import { createDetector } from '../../src/node/detector.js';
import { classifierPth, pattern, repo, writeModels, type Models } from '../detect-setup.js';
import { testGpu } from './helpers.js';

let root: string;
let models: Models;
let config: UnetConfig;
let server: Server;
let base: string;
const images: string[] = [];
/** What the built CLI says about `images`. */
let cli: { probs: number[]; dnfs: Buffer[] };

function run(args: string[]) {
  const r = spawnSync(process.execPath, [join(repo, 'bin', 'dnf.js'), ...args], { cwd: root, encoding: 'utf8', timeout: 300_000 });
  if (r.status !== 0) throw new Error(`dnf ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'dnf-detector-api-'));
  models = await writeModels(root);
  config = parseUnetConfig(JSON.parse(await readFile(models.config, 'utf8')), models.config);
  for (const [i, [w, h]] of [[20, 16], [12, 12], [30, 22]].entries()) {
    const path = join(root, `img${i}.png`);
    await pattern(w, h, 3 + 5 * i).png().toFile(path);
    images.push(path);
  }
  const json = run(['detect', ...images, '--classifier', models.classifier, ...models.unetArgs, '--json']);
  const probs = json.trim().split('\n').map((l) => (JSON.parse(l) as { prob: number }).prob);
  const out = join(root, 'dnf');
  await mkdir(out);
  run(['extract', ...images, '-o', out, ...models.unetArgs]);
  const dnfs = await Promise.all(images.map(async (p) => (await decodeImageFile(join(out, basename(p)))).data as Buffer));
  cli = { probs, dnfs: dnfs.map((d) => Buffer.from(d)) };

  // A file server that honours Range, as a CDN does.
  server = createServer((req, res) => {
    const path = join(root, decodeURIComponent(req.url!.slice(1)));
    let bytes: Buffer;
    try {
      bytes = readFileSync(path);
    } catch {
      res.writeHead(404, 'Not Found').end();
      return;
    }
    const m = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
    if (!m) {
      res.writeHead(200, { 'Content-Length': bytes.length }).end(bytes);
      return;
    }
    const [a, b] = [Number(m[1]), Math.min(Number(m[2]), bytes.length - 1)];
    res.writeHead(206, { 'Content-Range': `bytes ${a}-${b}/${bytes.length}`, 'Content-Length': b - a + 1 }).end(bytes.subarray(a, b + 1));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}, 600_000);

afterAll(async () => {
  await new Promise<void>((resolve) => server?.close(() => resolve()));
  if (root) await rm(root, { recursive: true, force: true });
});

const bytesOf = (path: string) => {
  const b = readFileSync(path);
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength);
};

describe('createDetector', { timeout: 600_000 }, () => {
  it.each([
    ['paths', () => ({ unet: models.unet, classifier: models.classifier })],
    ['ArrayBuffers', () => ({ unet: bytesOf(models.unet), classifier: bytesOf(models.classifier) })],
    ['Blobs', () => ({ unet: new Blob([readFileSync(models.unet)]), classifier: new Blob([readFileSync(models.classifier)]) })],
    ['URLs read in ranges', () => ({ unet: `${base}/${basename(models.unet)}`, classifier: new URL(`${base}/${basename(models.classifier)}`) })],
  ])('from %s: the probabilities of `dnf detect --json` and the DNFs of `dnf extract`, bit for bit', async (_kind, sources) => {
    const gpu = await testGpu();
    const progress: string[] = [];
    const detector = await createDetector({ ...sources(), unetConfig: config, gpu, onProgress: (p) => progress.push(`${p.model} ${p.stage} ${p.done}/${p.total}`) });
    try {
      const results = await detector.detect(images);
      expect(results.map((r) => r.prob)).toEqual(cli.probs);
      for (const [i, r] of results.entries()) {
        expect(Buffer.from(r.dnf.data).equals(cli.dnfs[i])).toBe(true);
        expect([r.dnf.width, r.dnf.height]).toEqual([config.resolution, config.resolution]);
        expect(r.label).toBe(r.prob > 0.5 ? 'generated' : 'real');
        expect(Math.fround(1 / (1 + Math.exp(-r.logit)))).toBe(r.prob);
      }
      // Images as encoded bytes and decoded pixels give the same; classify() on dnf() is detect().
      const asBytes = await detector.detect([readFileSync(images[0]), await decodeImageFile(images[1])]);
      expect(asBytes.map((r) => r.prob)).toEqual(cli.probs.slice(0, 2));
      expect((await detector.classify(await detector.dnf(images))).map((r) => r.prob)).toEqual(cli.probs);
      // Both models reported their bytes, the last report of each being the whole file.
      for (const model of ['unet', 'classifier']) {
        const last = progress.filter((l) => l.startsWith(`${model} `)).at(-1)!;
        const [done, total] = last.split(' ')[2].split('/').map(Number);
        expect(done).toBe(total);
        expect(total).toBeGreaterThan(0);
      }
    } finally {
      await detector.dispose();
    }
  });

  it('takes a .pth classifier (converted in memory, with a note) and the threshold given', async () => {
    const gpu = await testGpu();
    const notes: string[] = [];
    const detector = await createDetector({ unet: models.unet, classifier: classifierPth, unetConfig: config, gpu, threshold: 0.99, onNote: (l) => notes.push(l) });
    try {
      const results = await detector.detect(images);
      expect(results.map((r) => r.prob)).toEqual(cli.probs);
      expect(results.every((r) => r.label === (r.prob > 0.99 ? 'generated' : 'real'))).toBe(true);
      expect(notes).toEqual([`${classifierPth}: a PyTorch checkpoint (zip), converted in memory; \`dnf convert ${classifierPth}\` once saves this step`]);
      expect(detector.describe()).toMatch(/^\w+, ResNet \(bottleneck blocks 1,2,1,1, stem 10\) \(resnet-bottleneck\.zip\.pth\), DNF by tiny-unet\.safetensors$/);
    } finally {
      await detector.dispose();
    }
  });

  it('without unetConfig, uses the config the tensor shapes imply, and says so', async () => {
    const gpu = await testGpu();
    const notes: string[] = [];
    const detector = await createDetector({ unet: models.unet, gpu, onNote: (l) => notes.push(l) });
    try {
      expect(detector.unet!.config).toEqual({ ...config, resolution: 32, attn_resolutions: [16] });
      expect(notes).toEqual([expect.stringMatching(/tiny-unet\.safetensors: no UNet config recorded; .* resolution 32 is taken from the attention level/)]);
      const [dnf] = await detector.dnf([images[0]]);
      expect([dnf.width, dnf.height]).toEqual([32, 32]);
      // No classifier: dnf() works, detect() says what to give.
      await expect(detector.detect([images[0]])).rejects.toThrow('detect() needs a classifier: give createDetector a classifier (a safetensors or .pth DNF classifier, e.g. the best.safetensors `dnf train` writes); dnf() computes DNFs without one');
    } finally {
      await detector.dispose();
    }
  });

  it('refuses a wrong file in one line naming it, before touching the GPU', async () => {
    const swapped = await createDetector({ unet: models.classifier, classifier: models.classifier }).catch((e: unknown) => e);
    expect(swapped).toBeInstanceOf(DnfError);
    expect((swapped as Error).message).toBe(`${models.classifier}: cannot read a UNet config from the tensor shapes (no 4-d conv_in.weight); give its config (--model-config, or createDetector's unetConfig), or check that these are DDPM UNet weights`);
    const png = await createDetector({ unet: models.unet, unetConfig: config, classifier: images[0] }).catch((e: unknown) => e);
    expect(png).toBeInstanceOf(DnfError);
    expect((png as Error).message).not.toContain('\n');
    expect((png as Error).message).toMatch(new RegExp(`^${images[0].replace(/[./]/g, '\\$&')}: `));
    const missing = await createDetector({ unet: `${base}/absent.safetensors` }).catch((e: unknown) => e);
    expect((missing as Error).message).toBe(`${base}/absent.safetensors: the server answered 404 Not Found; check the address`);
  });

  it('dispose() destroys the GPU it acquired, leaves a given one open, and the detector refuses work after', async () => {
    const own = await createDetector({ unet: models.unet, unetConfig: config, classifier: models.classifier });
    const lost = own.gpu.device.lost;
    await own.dispose();
    expect((await lost).reason).toBe('destroyed');
    await expect(own.detect(images)).rejects.toThrow('this detector was disposed; create another with createDetector');

    const gpu = await testGpu();
    const shared = await createDetector({ unet: models.unet, unetConfig: config, classifier: models.classifier, gpu });
    await shared.dispose();
    const again = await createDetector({ unet: models.unet, unetConfig: config, classifier: models.classifier, gpu });
    try {
      expect((await again.detect([images[0]]))[0].prob).toBe(cli.probs[0]);
    } finally {
      await again.dispose();
    }
  });
});

describe('the examples, as written', { timeout: 600_000 }, () => {
  it('examples/detect.mjs prints one line per image with the verdicts of `dnf detect`', () => {
    const r = spawnSync(process.execPath, [join(repo, 'examples', 'detect.mjs'), '--unet', models.unet, '--classifier', models.classifier, '--model-config', models.config, ...images], { cwd: root, encoding: 'utf8', timeout: 300_000 });
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(images.length);
    lines.forEach((line, i) => {
      const label = cli.probs[i] > 0.5 ? 'generated' : 'real';
      expect(line).toMatch(new RegExp(`^${images[i].replace(/[./]/g, '\\$&')}: ${label} \\(P\\(generated\\) = ${cli.probs[i].toFixed(4).replace('.', '\\.')}, logit -?\\d+\\.\\d{4}\\)$`));
    });
  });

  it("the README's example runs as written, with its file names pointing at the fixtures", async () => {
    const readme = await readFile(join(repo, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## Library: one call'));
    const code = /```js\n([\s\S]*?)```/.exec(section)![1];
    // A project of its own that has the package installed (a link to this checkout).
    const project = join(root, 'readme-project');
    await mkdir(join(project, 'node_modules'), { recursive: true });
    await symlink(repo, join(project, 'node_modules', 'dnf-webgpu'), 'dir');
    await mkdir(join(project, 'weights'));
    await symlink(models.unet, join(project, 'weights', 'lsun_bedroom.safetensors'));
    await symlink(models.classifier, join(project, 'best.safetensors'));
    await symlink(images[0], join(project, 'a.png'));
    await pattern(24, 20, 7).jpeg().toFile(join(project, 'b.jpg'));
    await writeFile(join(project, 'example.mjs'), code);
    const r = spawnSync(process.execPath, ['example.mjs'], { cwd: project, encoding: 'utf8', timeout: 300_000 });
    expect(r.status, r.stderr).toBe(0);
    // The tiny weights record no config: the one their shapes imply runs at 32x32.
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(2);
    for (const line of lines) expect(line).toMatch(/^(generated|real) 0\.\d+ -?\d+\.\d+ 32x32$|^(generated|real) (0|1) -?\d+(\.\d+)? 32x32$/);
  });
});
