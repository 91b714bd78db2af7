/**
 * Output planning for batch commands: each input gets one output path under the output folder,
 * mirroring its relative path with a new extension, and outputs that exist complete are skipped
 * (resume) unless the user asks to overwrite them.
 *
 * Name clashes: inputs that differ only in their extension (`a.bmp` and `a.tiff` in one folder)
 * would share `a.png`. Those inputs, and only those, keep their source extension instead
 * (`a.bmp.png`, `a.tiff.png`); the others keep the plain name. The rule depends only on the set
 * of inputs, so the same command finds the same outputs again (resume); adding `a.tiff` to a
 * folder that had `a.bmp` alone moves a.bmp's output from a.png to a.bmp.png. `keepExt` (extract's
 * --keep-ext) keeps every source extension. A clash that remains (`a.bmp.jpg` beside `a.bmp` and
 * `a.png`...) is refused before any work starts.
 */
import { open, readdir, unlink } from 'node:fs/promises';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { DnfError } from '../../errors.js';
import { openSafetensors, tempHost } from '../files.js';
import { isStaleClaim, processRuns } from './claims.js';
import type { InputItem } from './inputs.js';

/** An input with the file its output goes to. */
export interface PlannedItem extends InputItem {
  output: string;
}

export interface OutputPlan {
  /** Items whose output is still to be written, in input order. */
  todo: PlannedItem[];
  /** Items whose output exists already (empty with `overwrite`). */
  skipped: PlannedItem[];
  /** Items that keep their source extension because their plain output name clashed. */
  renamed: PlannedItem[];
}

export interface PlanOptions {
  /** Redo items whose output exists. */
  overwrite?: boolean;
  /** Every output keeps its input's extension: `a.bmp` -> `a.bmp.png`. */
  keepExt?: boolean;
  /**
   * Only these items are this run's (a shard: ./shard.ts). Names are still decided over all the
   * items, so a shard's outputs are named as in a run over everything.
   */
  select?: (item: InputItem) => boolean;
}

/** `<outDir>/<rel>` with rel's extension (if any) replaced by `.ext`, or kept before it with `keepExt`. */
export function outputPathFor(outDir: string, rel: string, ext: string, keepExt = false): string {
  const stem = keepExt ? rel : rel.slice(0, rel.length - extname(rel).length);
  return join(outDir, `${stem}.${ext}`);
}

/** Folders are case-insensitive by default on macOS and Windows: compare paths as they would. */
const pathKey = (p: string): string => {
  const abs = resolve(p);
  return process.platform === 'darwin' || process.platform === 'win32' ? abs.toLowerCase() : abs;
};

/**
 * Maps every item to its output (see the header for clashes), touching no file. Throws a DnfError
 * (exit 2) when two inputs would still write the same output, or an output would replace an input.
 */
export function nameOutputs(
  items: readonly InputItem[],
  outDir: string,
  ext: string,
  keepExt = false,
): { planned: PlannedItem[]; renamed: PlannedItem[] } {
  const plain = items.map((item) => outputPathFor(outDir, item.rel, ext, keepExt));
  const sharing = new Map<string, number>();
  for (const out of plain) sharing.set(pathKey(out), (sharing.get(pathKey(out)) ?? 0) + 1);

  const inputs = new Set(items.map((it) => pathKey(it.path)));
  const owner = new Map<string, PlannedItem>();
  const planned: PlannedItem[] = [];
  const renamed: PlannedItem[] = [];
  items.forEach((item, i) => {
    const clashed = sharing.get(pathKey(plain[i]))! > 1;
    const output = clashed ? outputPathFor(outDir, item.rel, ext, true) : plain[i];
    const key = pathKey(output);
    const other = owner.get(key);
    if (other) {
      throw new DnfError(
        `${other.path} and ${item.path} would both be written to ${output}; rename one of them or process them into separate output folders`,
      );
    }
    if (inputs.has(key)) {
      throw new DnfError(`${output}: the output would replace an input image; choose an output folder outside the inputs`);
    }
    const p = { ...item, output };
    owner.set(key, p);
    planned.push(p);
    if (clashed) renamed.push(p);
  });
  return { planned, renamed };
}

/**
 * Names every item's output (nameOutputs) and splits the selected ones (all by default) into work
 * to do and work already done. Also removes temp files that an earlier, killed run of this host
 * left beside the selected outputs.
 */
export async function planOutputs(
  items: readonly InputItem[],
  outDir: string,
  ext: string,
  options: PlanOptions = {},
): Promise<OutputPlan> {
  const named = nameOutputs(items, outDir, ext, options.keepExt);
  const select = options.select;
  const planned = select ? named.planned.filter(select) : named.planned;
  const renamed = select ? named.renamed.filter(select) : named.renamed;
  await removeStaleTemps(planned.map((p) => p.output));

  const exists = await Promise.all(planned.map((p) => isCompleteOutput(p.output)));
  const plan: OutputPlan = { todo: [], skipped: [], renamed };
  planned.forEach((p, i) => (exists[i] && !options.overwrite ? plan.skipped : plan.todo).push(p));
  return plan;
}

/**
 * The one-line note on renamed outputs: 'a.bmp and a.tiff share an output name: their outputs
 * keep the source extension (a.bmp.png, a.tiff.png)' (the first few named, then a count).
 */
export function renamedNote(renamed: readonly PlannedItem[], show = 4): string | null {
  if (!renamed.length) return null;
  const names = renamed.slice(0, show).map((p) => p.rel);
  const outs = renamed.slice(0, show).map((p) => basename(p.output));
  const more = renamed.length > show ? ` and ${renamed.length - show} more` : '';
  return `${names.join(', ')}${more} would share output names: these outputs keep the source extension (${outs.join(', ')}${more ? ', ...' : ''}); --keep-ext does so for all`;
}

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
/** The last 12 bytes of every complete PNG: the IEND chunk (length 0, type, CRC). */
const PNG_IEND = [0, 0, 0, 0, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82];

/**
 * Whether `path` is a complete output: a PNG that starts with the signature and ends with IEND, a
 * safetensors file whose header is valid and whose tensors lie within it, or any other non-empty
 * file. Outputs are written atomically, so an incomplete one comes from elsewhere (a full disk, a
 * copy cut short); it is redone rather than counted as done.
 */
export async function isCompleteOutput(path: string): Promise<boolean> {
  let fh;
  try {
    fh = await open(path, 'r');
  } catch {
    return false;
  }
  try {
    const st = await fh.stat();
    if (!st.isFile() || st.size === 0) return false;
    if (path.endsWith('.png')) {
      if (st.size < PNG_SIGNATURE.length + PNG_IEND.length) return false;
      const head = Buffer.alloc(8);
      const tail = Buffer.alloc(12);
      await fh.read(head, 0, 8, 0);
      await fh.read(tail, 0, 12, st.size - 12);
      return PNG_SIGNATURE.every((b, i) => head[i] === b) && PNG_IEND.every((b, i) => tail[i] === b);
    }
    if (path.endsWith('.safetensors')) return await openSafetensors(path).then((f) => f.close().then(() => true), () => false);
    return true;
  } finally {
    await fh.close();
  }
}

/**
 * Deletes temp files (the names of writeFileAtomic in ../files.ts) beside the given outputs whose
 * writing process no longer runs, and stale `<output>.claim` files (see claims.ts): leftovers of a
 * killed run. On a folder shared by machines only this host's temps are judged: a pid means
 * nothing on another host, whose run may be writing that temp right now.
 * - `<output>.<host>.<pid>.<12 hex>.tmp`: removed when host is this one and pid is gone;
 * - `<output>.<pid>.<12 hex>.tmp` (older runs, no host): removed when pid is gone here, as before.
 */
export async function removeStaleTemps(outputs: readonly string[]): Promise<number> {
  const byDir = new Map<string, Set<string>>();
  for (const out of outputs) {
    const dir = dirname(out);
    if (!byDir.has(dir)) byDir.set(dir, new Set());
    byDir.get(dir)!.add(basename(out));
  }
  const host = tempHost();
  let removed = 0;
  for (const [dir, names] of byDir) {
    const entries = await readdir(dir).catch(() => [] as string[]); // not created yet: nothing to clean
    for (const entry of entries) {
      const claim = /^(.+)\.claim$/.exec(entry);
      if (claim && names.has(claim[1])) {
        if (await isStaleClaim(join(dir, entry))) await unlink(join(dir, entry)).then(() => removed++, () => {});
        continue;
      }
      if (isStaleTemp(entry, names, host)) await unlink(join(dir, entry)).then(() => removed++, () => {});
    }
  }
  return removed;
}

/** Whether `entry` is a temp of one of `names` written by a process of `host` that no longer runs. */
function isStaleTemp(entry: string, names: ReadonlySet<string>, host: string): boolean {
  const withHost = /^(.+)\.([A-Za-z0-9-]+)\.(\d+)\.[0-9a-f]{12}\.tmp$/.exec(entry);
  if (withHost && names.has(withHost[1])) return withHost[2] === host && !processRuns(Number(withHost[3]));
  const old = /^(.+)\.(\d+)\.[0-9a-f]{12}\.tmp$/.exec(entry);
  return !!old && names.has(old[1]) && !processRuns(Number(old[2]));
}
