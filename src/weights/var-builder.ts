/**
 * Maps checkpoint keys to modules, candle style: each constructor receives a VarBuilder and hands
 * `vb.pp('down').pp(0)` to its children, so module fields spell the state-dict keys.
 *
 * Tensors are read lazily, one at a time (the caller uploads each to the GPU and drops the CPU
 * copy, so a large checkpoint is never in memory at once). A problem with a key (absent, wrong
 * shape, not a float dtype) does not stop the build: it is recorded and a zero placeholder is
 * returned, and `finish()` then reports every problem, plus the keys nothing asked for, in one error.
 * A model that can list its keys beforehand calls `check(layout)` first: the same error from the
 * header alone, before anything is read or allocated (placeholders then never happen).
 */
import { DnfError } from '../errors.js';
import type { Gpu } from '../gpu/gpu.js';
import { Tensor } from '../tensor.js';
import { numel, type SafetensorsFile } from './safetensors.js';

const FLOAT_DTYPES = new Set(['F32', 'F16', 'BF16', 'F64']);
/** Keys named per category in the error before "and N more", and the characters shown of each. */
const LIST_LIMIT = 5;
const ITEM_CHARS = 80;

interface LoadState {
  readonly gpu: Gpu;
  readonly file: SafetensorsFile;
  readonly used: Set<string>;
  readonly missing: string[];
  readonly mismatched: string[];
}

export class VarBuilder {
  private constructor(private readonly state: LoadState, readonly prefix: string) {}

  /** Weights from `file`, for modules on `gpu`. */
  static fromSafetensors(gpu: Gpu, file: SafetensorsFile): VarBuilder {
    return new VarBuilder({ gpu, file, used: new Set(), missing: [], mismatched: [] }, '');
  }

  get gpu(): Gpu {
    return this.state.gpu;
  }

  /** A builder for the child module `segment` (keys `<prefix>.<segment>.*`). */
  pp(segment: string | number): VarBuilder {
    return new VarBuilder(this.state, this.key(String(segment)));
  }

  /** The full key of `name` under this builder's prefix. */
  key(name: string): string {
    return this.prefix ? `${this.prefix}.${name}` : name;
  }

  /** True when the checkpoint has `name` under this prefix (for optional parameters). */
  contains(name: string): boolean {
    return this.state.file.has(this.key(name));
  }

  /**
   * The tensor `name` as float32, which must have exactly `shape`. When it is absent, has another
   * shape or a non-float dtype, the problem is recorded for finish() and zeros are returned.
   */
  async get(name: string, shape: readonly number[]): Promise<Float32Array> {
    const key = this.key(name);
    const { file, used, missing, mismatched } = this.state;
    const problem = keyProblem(file, key, shape);
    if (problem === 'missing') missing.push(`${key} [${shape.join(',')}]`);
    else used.add(key);
    if (problem && problem !== 'missing') mismatched.push(problem);
    return problem ? new Float32Array(numel(shape)) : file.readF32(key);
  }

  /** The name of the checkpoint file. */
  get source(): string {
    return this.state.file.source.name;
  }

  /** The shape of `name` under this prefix as the header gives it (nothing is read); undefined when absent. */
  shapeOf(name: string): readonly number[] | undefined {
    const key = this.key(name);
    return this.state.file.has(key) ? this.state.file.info(key).shape : undefined;
  }

  /**
   * Compares the header with `layout` (names under this prefix, with the shapes the model will ask
   * for) before anything is read or allocated: throws finish()'s error when a key is absent, has
   * another shape or a non-float dtype, or when the checkpoint has keys the layout lacks.
   */
  check(layout: ReadonlyArray<readonly [string, readonly number[]]>, what = 'the model'): void {
    checkLayout(this.state.file, layout, what, this.prefix);
  }

  /** `get` uploaded to a GPU tensor labelled with its key (the CPU copy is dropped). */
  async tensor(name: string, shape: readonly number[]): Promise<Tensor> {
    return Tensor.from(this.state.gpu, await this.get(name, shape), shape, this.key(name));
  }

  /**
   * Throws one DnfError naming the file and listing the missing, mis-shaped and unused keys, when
   * there are any. Call once after the whole model is built. `what` names the model for the fix.
   */
  finish(what = 'the model'): void {
    const { file, used, missing, mismatched } = this.state;
    fitError(file.source.name, what, missing, mismatched, file.names().filter((k) => !used.has(k)));
  }
}

/**
 * VarBuilder.check without a builder: `file`'s header against `layout` (keys under `prefix`).
 * Throws finish()'s error when they differ; reads and allocates nothing.
 */
export function checkLayout(file: SafetensorsFile, layout: ReadonlyArray<readonly [string, readonly number[]]>, what = 'the model', prefix = ''): void {
  const missing: string[] = [];
  const mismatched: string[] = [];
  const wanted = new Set<string>();
  for (const [name, shape] of layout) {
    const key = prefix ? `${prefix}.${name}` : name;
    wanted.add(key);
    const problem = keyProblem(file, key, shape);
    if (problem === 'missing') missing.push(`${key} [${shape.join(',')}]`);
    else if (problem) mismatched.push(problem);
  }
  fitError(file.source.name, what, missing, mismatched, file.names().filter((k) => !wanted.has(k)));
}

/** What is wrong with `key` for a tensor of `shape`: 'missing', a description, or null. */
function keyProblem(file: SafetensorsFile, key: string, shape: readonly number[]): string | null {
  if (!file.has(key)) return 'missing';
  const info = file.info(key);
  if (!FLOAT_DTYPES.has(info.dtype)) return `${key} has dtype ${info.dtype}, not a float`;
  if (info.shape.length !== shape.length || info.shape.some((d, i) => d !== shape[i])) return `${key} [${info.shape.join(',')}] should be [${shape.join(',')}]`;
  return null;
}

/** The one error of finish() and check(), when there is a problem. */
function fitError(source: string, what: string, missing: string[], mismatched: string[], unused: string[]): void {
  if (!missing.length && !mismatched.length && !unused.length) return;
  const parts: string[] = [];
  if (missing.length) parts.push(`${missing.length} missing (${list(missing)})`);
  if (mismatched.length) parts.push(`${mismatched.length} mis-shaped (${list(mismatched)})`);
  if (unused.length) parts.push(`${unused.length} unused (${list(unused)})`);
  throw new DnfError(`${source}: the checkpoint does not fit ${what}: ${parts.join('; ')}; check that the checkpoint and the model config belong together`);
}

function list(keys: string[]): string {
  const item = (k: string) => {
    const t = k.replace(/[\x00-\x1f\x7f-\x9f\u2028\u2029]/g, '?');
    return t.length > ITEM_CHARS ? `${t.slice(0, ITEM_CHARS)}...` : t;
  };
  const shown = keys.slice(0, LIST_LIMIT).map(item).join(', ');
  return keys.length > LIST_LIMIT ? `${shown} and ${keys.length - LIST_LIMIT} more` : shown;
}
