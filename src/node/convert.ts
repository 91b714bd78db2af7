/**
 * Node entry for checkpoint conversion: reads a PyTorch .pth/.pt/.ckpt/.bin (without running any of
 * its code, see src/weights/pickle.ts) or a safetensors file, extracts the state dict (renaming a
 * diffusers UNet's tensors, see src/weights/diffusers-keys.ts) and writes it as safetensors, atomically.
 */
import { stat } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import { DnfError } from '../errors.js';
import { printable } from '../weights/pickle.js';
import { checkpointToTensors, type ConvertOptions, type ConvertedCheckpoint } from '../weights/convert.js';
import { openFileSource, writeSafetensorsFile } from './files.js';

export interface ConvertFileOptions extends ConvertOptions {
  /** Replace an existing output file (otherwise it is an error). */
  overwrite?: boolean;
  /** Extra safetensors metadata, written over the defaults (format, source, source_format, state_dict). */
  metadata?: Record<string, string>;
}

export interface ConvertSummary extends Omit<ConvertedCheckpoint, 'tensors'> {
  input: string;
  output: string;
  /** Number of tensors written. */
  tensorCount: number;
  /** Size of the written file in bytes. */
  bytes: number;
}

/** The default output: the input path with its extension replaced by .safetensors (.dnf.safetensors for a .safetensors input). */
export function defaultOutputPath(input: string): string {
  if (/\.safetensors$/i.test(input)) return input.replace(/\.safetensors$/i, '.dnf.safetensors');
  return input.replace(/(\.(pth?|ckpt|bin|tar|pkl))?$/i, '.safetensors');
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(() => true, () => false);
}

/** Converts one checkpoint; refuses to replace `output` unless opts.overwrite. */
export async function convertCheckpoint(input: string, output: string, opts: ConvertFileOptions = {}): Promise<ConvertSummary> {
  if (resolve(input) === resolve(output)) throw new DnfError(`${output}: the output would replace the input checkpoint; choose another output path`);
  if (!opts.overwrite && (await exists(output))) throw new DnfError(`${output}: already exists; pass --overwrite to replace it`);
  const src = await openFileSource(input);
  let conv: ConvertedCheckpoint;
  try {
    conv = await checkpointToTensors(src, opts);
  } finally {
    await src.close().catch(() => {});
  }
  const { tensors, ...rest } = conv;
  rest.metadata.source = basename(input);
  Object.assign(rest.metadata, opts.metadata);
  await writeSafetensorsFile(output, tensors, rest.metadata);
  return { ...rest, input, output, tensorCount: tensors.length, bytes: (await stat(output)).size };
}

/** One line for the CLI: what was read, what was written, what was left out. */
export function formatSummary(s: ConvertSummary): string {
  const parts = [
    `${s.input} (${s.format === 'safetensors' ? 'safetensors' : `torch ${s.format}`}${s.path ? `, state dict ${s.path}` : ''}` +
      `${s.renamedFrom ? `, ${s.renamedFrom} names mapped to the reference names` : ''}) -> ${s.output}:`,
    `${s.tensorCount} tensors, ${s.parameters.toLocaleString('en-US')} parameters, ${s.bytes < 2 ** 20 ? `${(s.bytes / 1024).toFixed(1)} KiB` : `${(s.bytes / 2 ** 20).toFixed(1)} MiB`}`,
  ];
  if (s.strippedPrefix) parts.push(`; stripped '${s.strippedPrefix}'`);
  if (s.dropped.length) parts.push(`; dropped ${s.dropped.length} (${s.dropped.slice(0, 3).map(printable).join(', ')}${s.dropped.length > 3 ? ', ...' : ''})`);
  if (s.ignored.length) parts.push(`; ignored ${s.ignored.slice(0, 5).map(printable).join(', ')}${s.ignored.length > 5 ? ', ...' : ''}`);
  return parts.join(' ').replace(/ ;/g, ';');
}
