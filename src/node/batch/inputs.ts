/**
 * Input collection for batch commands: files and folders named on the command line become one
 * deterministic list of files, each with the relative path its output will mirror.
 */
import { readdir, realpath, stat } from 'node:fs/promises';
import { basename, extname, join, relative, resolve, sep } from 'node:path';
import { DnfError } from '../../errors.js';

/** The image file extensions batch commands pick up inside folders (compared case-insensitively): src/image/formats.ts. */
export { IMAGE_EXTENSIONS } from '../../image/formats.js';

/** One input file. */
export interface InputItem {
  /** The file's path as the user can find it (the input joined with the path inside it). */
  path: string;
  /**
   * Where its output goes, relative to the output folder (before the extension changes): the path
   * inside the named folder, or the bare file name for a file named directly.
   */
  rel: string;
}

export interface CollectOptions {
  /** Folders never descended into (e.g. the output folder when it lies inside an input folder). */
  exclude?: readonly string[];
}

/**
 * Expands `inputs` (files and folders) into files. Folders are walked recursively, keeping files
 * whose extension is in `exts` and skipping hidden files and folders (names starting with '.');
 * a file named directly is kept whatever its extension. Each input's files are sorted by `rel`
 * (code-unit order), inputs keep their command-line order, exact duplicates are dropped.
 * Throws a DnfError (exit 2) for a missing input, or when nothing at all is found.
 */
export async function collectInputs(
  inputs: readonly string[],
  exts: readonly string[],
  options: CollectOptions = {},
): Promise<InputItem[]> {
  const wanted = new Set(exts.map((e) => e.toLowerCase()));
  const exclude = new Set((options.exclude ?? []).map((p) => resolve(p)));
  const items: InputItem[] = [];
  const seen = new Set<string>();
  for (const input of inputs) {
    const st = await stat(input).catch((e: NodeJS.ErrnoException) => {
      const why = e.code === 'ENOENT' ? 'no such file or folder' : `cannot read it (${e.code ?? e.message})`;
      throw new DnfError(`${input}: ${why}; check the path`);
    });
    const found: InputItem[] = [];
    if (st.isDirectory()) {
      await walk(input, input, wanted, exclude, new Set([await realpath(input)]), found);
      found.sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
    } else {
      found.push({ path: input, rel: basename(input) });
    }
    for (const item of found) {
      const key = `${resolve(item.path)}\0${item.rel}`;
      if (seen.has(key)) continue;
      seen.add(key);
      items.push(item);
    }
  }
  if (items.length === 0) {
    throw new DnfError(
      `no images found in ${inputs.join(', ')} (looked for ${exts.join(', ')} files, hidden ones skipped); check the paths`,
    );
  }
  return items;
}

/** Adds the matching files under `dir` to `out`; `visited` holds real paths to stop link cycles. */
async function walk(
  root: string,
  dir: string,
  wanted: ReadonlySet<string>,
  exclude: ReadonlySet<string>,
  visited: Set<string>,
  out: InputItem[],
): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true }).catch((e: NodeJS.ErrnoException) => {
    throw new DnfError(`${dir}: cannot list the folder (${e.code ?? e.message}); check its permissions`);
  });
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)); // readdir order varies
  for (const entry of entries) {
    if (entry.name.startsWith('.')) continue;
    const path = join(dir, entry.name);
    let isDir = entry.isDirectory();
    let isFile = entry.isFile();
    if (entry.isSymbolicLink()) {
      const target = await stat(path).catch(() => null); // a dangling link is not an input
      isDir = !!target?.isDirectory();
      isFile = !!target?.isFile();
    }
    if (isDir) {
      if (exclude.has(resolve(path))) continue;
      const real = await realpath(path);
      if (visited.has(real)) continue;
      visited.add(real);
      await walk(root, path, wanted, exclude, visited, out);
    } else if (isFile && wanted.has(extname(entry.name).slice(1).toLowerCase())) {
      out.push({ path, rel: relative(root, path).split(sep).join('/') });
    }
  }
}
