/**
 * The image goldens under test/fixtures/images/<sub>/: each folder's expected.json gives, per file,
 * what PIL's `Image.open(f).convert('RGB')` made of it (tools/golden/image_files.py and
 * bmp_tiff_files.py write them).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The folder of one kind of golden, with a trailing slash. */
export const dir = (sub: string) => fileURLToPath(new URL(`fixtures/images/${sub}/`, import.meta.url));

export interface Expected {
  width: number;
  height: number;
  mode: string;
  note: string;
  rgb: string;
}

/** The expectations of the goldens in `sub`, by file name. */
export const expectedIn = (sub: string): Record<string, Expected> => JSON.parse(readFileSync(`${dir(sub)}expected.json`, 'utf8'));
