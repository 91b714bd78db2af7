/**
 * Node entry for checkpoint conversion: reads a PyTorch .pth/.pt/.ckpt/.bin (without running any of
 * its code, see src/weights/pickle.ts) or a safetensors file, extracts the state dict (renaming a
 * diffusers UNet's tensors, see src/weights/diffusers-keys.ts) and writes it, atomically, as
 * safetensors or, for an output ending in .pth/.pt, as a PyTorch checkpoint (src/weights/torch-writer.ts).
 *
 * A PyTorch output is meant for `model.load_state_dict(torch.load(f)['model'], strict=True)`, so it
 * keeps what the safetensors path drops: integer tensors, and the BatchNorm num_batches_tracked
 * counters (int64 0-d tensors) of a safetensors input. From a PyTorch input the counters are lost
 * (src/weights/convert.ts drops them); PyTorch still loads that state dict strictly, since without
 * the state dict's _metadata versions BatchNorm fills the missing counters in with 0.
 */
import { stat } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import { DnfError } from '../errors.js';
import { printable } from '../weights/pickle.js';
import { checkpointToTensors, type ConvertOptions, type ConvertedCheckpoint } from '../weights/convert.js';
import { SafetensorsFile, numel, type ByteSource, type TensorToWrite } from '../weights/safetensors.js';
import { encodeTorchCheckpoint, stateDictObject } from '../weights/torch-writer.js';
import { openFileSource, writeFileAtomic, writeSafetensorsFile } from './files.js';

export interface ConvertFileOptions extends ConvertOptions {
  /** Replace an existing output file (otherwise it is an error). */
  overwrite?: boolean;
  /** Extra safetensors metadata, written over the defaults (format, source, source_format, state_dict). */
  metadata?: Record<string, string>;
  /**
   * For a .pth/.pt output: the key the state dict is saved under ('/' between levels), or '' for a
   * bare state dict. Default 'model', i.e. torch.save({'model': state_dict}).
   */
  outputKey?: string;
}

export interface ConvertSummary extends Omit<ConvertedCheckpoint, 'tensors'> {
  input: string;
  output: string;
  /** What was written: 'safetensors', or 'torch zip' for a .pth/.pt output. */
  outputFormat: 'safetensors' | 'torch zip';
  /** For a torch output: where its state dict is, as Python would index it ("['model']", "" for a bare one). */
  outputPath?: string;
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

/** Whether `path` names a PyTorch checkpoint to write (.pth or .pt) rather than a safetensors file. */
export function isTorchOutputPath(path: string): boolean {
  return /\.pth?$/i.test(path);
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(() => true, () => false);
}

/** Converts one checkpoint; refuses to replace `output` unless opts.overwrite. */
export async function convertCheckpoint(input: string, output: string, opts: ConvertFileOptions = {}): Promise<ConvertSummary> {
  if (resolve(input) === resolve(output)) throw new DnfError(`${output}: the output would replace the input checkpoint; choose another output path`);
  if (!opts.overwrite && (await exists(output))) throw new DnfError(`${output}: already exists; pass --overwrite to replace it`);
  const torchOut = isTorchOutputPath(output);
  if (opts.outputKey !== undefined && !torchOut) throw new DnfError(`${output}: an output key applies to .pth/.pt outputs only; drop it or write a .pth file`);
  const src = await openFileSource(input);
  let conv: ConvertedCheckpoint;
  try {
    conv = await checkpointToTensors(src, torchOut ? { ...opts, keepIntegers: true } : opts);
    if (torchOut) conv = await withBatchCounts(src, conv);
  } finally {
    await src.close().catch(() => {});
  }
  const { tensors, ...rest } = conv;
  if (torchOut) {
    const outputKey = opts.outputKey ?? 'model';
    await writeTorchFile(output, tensors, outputKey);
    const outputPath = outputKey === '' ? '' : outputKey.split('/').map((k) => `['${printable(k)}']`).join('');
    return { ...rest, input, output, outputFormat: 'torch zip', outputPath, tensorCount: tensors.length, bytes: (await stat(output)).size };
  }
  rest.metadata.source = basename(input);
  Object.assign(rest.metadata, opts.metadata);
  await writeSafetensorsFile(output, tensors, rest.metadata);
  return { ...rest, input, output, outputFormat: 'safetensors', tensorCount: tensors.length, bytes: (await stat(output)).size };
}

/**
 * A safetensors input's tensors in file order with the num_batches_tracked counters the reader
 * dropped put back (it keeps every other tensor when asked to keep integers); other inputs as they are.
 */
async function withBatchCounts(src: ByteSource, conv: ConvertedCheckpoint): Promise<ConvertedCheckpoint> {
  if (conv.format !== 'safetensors' || conv.renamedFrom || conv.dropped.length === 0) return conv;
  const file = await SafetensorsFile.open(src);
  const kept = new Map(conv.tensors.map((t) => [t.name, t]));
  const tensors: TensorToWrite[] = [];
  for (const name of file.names()) {
    const { dtype, shape } = file.info(name);
    tensors.push(kept.get(name) ?? { name, dtype, shape, data: await file.read(name) });
  }
  const parameters = tensors.reduce((n, t) => n + numel(t.shape), 0);
  return { ...conv, tensors, parameters, dropped: [] };
}

/** torch.save({outputKey: OrderedDict(tensors)}) in the zip format, streamed entry by entry to a temp file and renamed. */
async function writeTorchFile(path: string, tensors: readonly TensorToWrite[], outputKey: string): Promise<void> {
  let enc;
  try {
    enc = encodeTorchCheckpoint(stateDictObject(tensors, outputKey));
  } catch (e) {
    if (e instanceof DnfError) throw new DnfError(`${path}: ${e.message}`, e.exitCode);
    throw e;
  }
  await writeFileAtomic(path, enc.chunks);
}

/** One line for the CLI: what was read, what was written, what was left out. */
export function formatSummary(s: ConvertSummary): string {
  const parts = [
    `${s.input} (${s.format === 'safetensors' ? 'safetensors' : `torch ${s.format}`}${s.path ? `, state dict ${s.path}` : ''}` +
      `${s.renamedFrom ? `, ${s.renamedFrom} names mapped to the reference names` : ''}) -> ${s.output}` +
      `${s.outputFormat === 'torch zip' ? ` (torch zip, ${s.outputPath ? `state dict ${s.outputPath}` : 'bare state dict'})` : ''}:`,
    `${s.tensorCount} tensors, ${s.parameters.toLocaleString('en-US')} parameters, ${s.bytes < 2 ** 20 ? `${(s.bytes / 1024).toFixed(1)} KiB` : `${(s.bytes / 2 ** 20).toFixed(1)} MiB`}`,
  ];
  if (s.strippedPrefix) parts.push(`; stripped '${s.strippedPrefix}'`);
  if (s.dropped.length) parts.push(`; dropped ${s.dropped.length} (${s.dropped.slice(0, 3).map(printable).join(', ')}${s.dropped.length > 3 ? ', ...' : ''})`);
  if (s.ignored.length) parts.push(`; ignored ${s.ignored.slice(0, 5).map(printable).join(', ')}${s.ignored.length > 5 ? ', ...' : ''}`);
  return parts.join(' ').replace(/ ;/g, ';');
}
