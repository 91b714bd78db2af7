/**
 * The parts of `dnf eval --report` without a browser (src/node/report/): which mistakes the
 * collector keeps (the most confident of each kind, ties in file order, whatever the order they
 * arrive in), their thumbnails, the curves' SVG (rendered by vega from the ROC and PR points of
 * src/metrics-roc.ts), and the page's HTML: every row and metric, escaped text, the format and
 * robustness slots empty or filled, and nothing that points outside the file.
 * The page in Chromium: test/report-browser.test.ts; through the CLI: test/eval-cli.test.ts.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { evalMetrics } from '../src/metrics-eval.js';
import { ranking } from '../src/metrics-roc.js';
import { cornerPoints, curvesSpec } from '../src/node/report/curves.js';
import { renderVegaLiteSvg as renderSvg } from '../src/plot-svg.js';
import { escapeHtml, reportHtml, shownPath, type ReportContent, type ReportRow } from '../src/node/report/html.js';
import { MistakeCollector, thumbnail } from '../src/node/report/mistakes.js';
import { writeEvalReport } from '../src/node/report/write.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

const rgb = (width: number, height: number, value: number) => ({ width, height, data: new Uint8Array(width * height * 3).fill(value) });

/** A decodable PNG data: URI's size. */
async function uriSize(uri: string): Promise<{ width: number; height: number; format: string }> {
  const m = /^data:image\/(jpeg|png);base64,(.+)$/.exec(uri);
  expect(m, uri.slice(0, 40)).not.toBeNull();
  const meta = await sharp(Buffer.from(m![2], 'base64')).metadata();
  return { width: meta.width!, height: meta.height!, format: meta.format! };
}

describe('mistakes', () => {
  it('keeps the most confident mistakes of each kind, ties in file order, in any arrival order', async () => {
    const seen = [
      { file: 'a/r1.png', label: 0, prob: 0.9 }, { file: 'a/r2.png', label: 0, prob: 0.7 }, { file: 'a/r0.png', label: 0, prob: 0.9 },
      { file: 'a/r3.png', label: 0, prob: 0.2 }, // right: not a mistake
      { file: 'a/r4.png', label: 0, prob: 0.6 }, { file: 'a/f1.png', label: 1, prob: 0.1 }, { file: 'a/f2.png', label: 1, prob: 0.5 }, // 0.5 is called real
      { file: 'a/f3.png', label: 1, prob: 0.95 }, // right
    ] as const;
    const pick = async (order: readonly number[]) => {
      const c = new MistakeCollector(0.5, 3, true);
      for (const i of order) c.offer({ ...seen[i], subset: 'a' }, rgb(4, 4, i * 20));
      return c.cards();
    };
    const cards = await pick([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(cards.realCalledFake.map((c) => c.file)).toEqual(['a/r0.png', 'a/r1.png', 'a/r2.png']);
    expect(cards.fakeCalledReal.map((c) => c.file)).toEqual(['a/f1.png', 'a/f2.png']);
    expect([cards.realCalledFakeTotal, cards.fakeCalledRealTotal]).toEqual([4, 2]);
    const reversed = await pick([7, 6, 5, 4, 3, 2, 1, 0]);
    expect(reversed).toEqual(cards);
    // The DNF kept is the one offered (a copy): r0's pixels are 2 * 20.
    const dnf = Buffer.from(/base64,(.+)$/.exec(cards.realCalledFake[0].dnf)![1], 'base64');
    const { data } = await sharp(dnf).raw().toBuffer({ resolveWithObject: true });
    expect([...new Set(data)]).toEqual([40]); // a flat image survives JPEG exactly (measured)
    expect(cards.realCalledFake.every((c) => c.source === null)).toBe(true); // inputs are DNFs
  });

  it('thumbnails fit inside 128 px, never enlarged; a source that cannot be read again has none', async () => {
    expect(await uriSize(await thumbnail(rgb(400, 200, 9)))).toEqual({ width: 128, height: 64, format: 'jpeg' });
    expect(await uriSize(await thumbnail(rgb(30, 50, 9)))).toEqual({ width: 30, height: 50, format: 'jpeg' });
    const c = new MistakeCollector(0.5, 16, false);
    c.offer({ file: '/no/such/file.png', subset: 's', label: 0, prob: 0.8 }, rgb(8, 8, 1));
    const cards = await c.cards();
    expect(cards.realCalledFake[0].source).toBeNull();
    expect(await uriSize(cards.realCalledFake[0].dnf)).toMatchObject({ width: 8, height: 8 });
  });
});

describe('curves', () => {
  it('drops the inner points of straight runs only', () => {
    // (0,0) (0,1) (0,2) (1,2) (2,3) (3,4): (0,1) is inside a vertical run, (1,2) a corner, (2,3) inside a diagonal.
    expect(cornerPoints([0, 0, 0, 1, 2, 3], [0, 1, 2, 2, 3, 4])).toEqual([0, 2, 3, 5]);
  });

  it('renders ROC and PR of a set to SVG, and none for a one-class set', async () => {
    const labels = [0, 0, 1, 0, 1, 1, 1, 0];
    const scores = [0.1, 0.3, 0.35, 0.5, 0.6, 0.8, 0.8, 0.9];
    const m = evalMetrics(labels, scores, 0.5);
    const spec = curvesSpec('set', ranking(labels, scores), m.auc, m.ap);
    expect(JSON.stringify(spec)).toContain(`ROC, AUC ${(100 * m.auc!).toFixed(2)}%`);
    const svg = await renderSvg(spec!);
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toContain('false positive rate');
    expect(svg).toContain('precision-recall, AP');
    expect(await renderSvg(spec!)).toBe(svg); // deterministic
    expect(curvesSpec('real only', ranking([0, 0], [0.2, 0.4]), null, null)).toBeNull();
  });
});

function rowsOf(sets: Record<string, [number[], number[]]>): ReportRow[] {
  return Object.entries(sets).map(([subset, [l, s]]) => ({ subset, kind: 'subset' as const, ...evalMetrics(l, s, 0.5) }));
}

const content = (over: Partial<ReportContent> = {}): ReportContent => ({
  title: 'dnf eval: <root>',
  facts: [['root', '/data/a&b']],
  rows: rowsOf({ 'sd<v1>': [[0, 1, 1], [0.2, 0.9, 0.4]], onlyreal: [[0, 0], [0.1, 0.7]] }),
  curves: [{ name: 'onlyreal', svg: null, note: 'no curves: 2 real and 0 generated images (both are needed)' }],
  mistakes: null,
  failures: [{ file: 'x/"bad".png', error: 'cannot decode image (truncated)' }],
  ...over,
});

describe('report page', () => {
  it('holds every row and metric, escapes text, and points at nothing outside itself', () => {
    const html = reportHtml(content());
    expect(html).toContain('<title>dnf eval: &lt;root&gt;</title>');
    expect(html).toContain('data-subset="sd&lt;v1&gt;"');
    expect(html).not.toContain('sd<v1>');
    expect(html).toContain('<code>x/&quot;bad&quot;.png</code>: cannot decode image (truncated)');
    const sd = content().rows[0];
    for (const v of [sd.acc, sd.ap, sd.auc, sd.oracleAcc, sd.tprAtFpr1, sd.tprAtFpr5, sd.ece]) expect(html).toContain(`<td>${(100 * v!).toFixed(2)}</td>`);
    expect(html).toMatch(/<tr class="subset" data-subset="onlyreal"><th scope="row">onlyreal<\/th><td>2<\/td><td>2<\/td><td>0<\/td>/);
    expect(html).toContain('no curves: 2 real and 0 generated images');
    // No fetchable reference: every src is a data: URI, no href, no url(), no script.
    expect(html).not.toMatch(/<script|href=|url\(|@import/i);
    expect([...html.matchAll(/src="([^"]*)"/g)].every((m) => m[1].startsWith('data:'))).toBe(true);
    expect(html).toContain("default-src 'none'");
  });

  it('shows the format findings and the robustness plot when given, and says so when not', () => {
    const empty = reportHtml(content());
    expect(empty).toContain('The format check did not run.');
    expect(empty).toContain('No robustness sweep in this run.');
    expect(reportHtml(content({ formatFindings: [] }))).toContain('No difference in file format');
    const filled = reportHtml(content({
      formatFindings: ['0_real: 10 JPEG q~75, 16x16; 1_fake: 10 PNG, 16x16 <differ>'],
      robustness: { svg: '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>', caption: 'AP against JPEG quality' },
    }));
    expect(filled).toContain('<li>0_real: 10 JPEG q~75, 16x16; 1_fake: 10 PNG, 16x16 &lt;differ&gt;</li>');
    expect(filled).toMatch(/<img alt="robustness plot" src="data:image\/svg\+xml;base64,[A-Za-z0-9+/=]+"><figcaption>AP against JPEG quality<\/figcaption>/);
    expect(escapeHtml(`a&'"`)).toBe('a&amp;&#39;&quot;');
    expect(shownPath('/data/test/adm/0_real/a.png', '/data/test/')).toBe('adm/0_real/a.png');
    expect(shownPath('/data/testing/a.png', '/data/test')).toBe('/data/testing/a.png');
    expect(shownPath('C:\\t\\a.png', 'C:\\t')).toBe('a.png');
  });

  it('is written atomically to DIR/report.html with a figure per subset and one pooled', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dnf-report-'));
    dirs.push(dir);
    const predictions = [
      { subset: 'a', label: 0, prob: 0.2 }, { subset: 'a', label: 1, prob: 0.7 }, { subset: 'a', label: 1, prob: 0.4 },
      { subset: 'b', label: 0, prob: 0.6 }, { subset: 'b', label: 0, prob: 0.1 },
    ] as const;
    const path = await writeEvalReport(join(dir, 'out'), {
      title: 't', facts: [], rows: rowsOf({ a: [[0, 1, 1], [0.2, 0.7, 0.4]], b: [[0, 0], [0.6, 0.1]] }), predictions, subsets: ['a', 'b'], mistakes: null, failures: [],
    });
    expect(path).toBe(join(dir, 'out', 'report.html'));
    const html = await readFile(path, 'utf8');
    expect([...html.matchAll(/<figure data-set="([^"]+)">/g)].map((m) => m[1])).toEqual(['a', 'b', 'all images (total)']);
    expect(html).toMatch(/<figure data-set="a"><img alt="ROC and precision-recall curves of a" src="data:image\/svg\+xml;base64,/);
    expect(html).toContain('<b>b</b>: <span class="empty">no curves: 2 real and 0 generated images (both are needed)</span>');
  });
});
