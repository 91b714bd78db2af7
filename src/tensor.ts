/**
 * A float32 tensor living in a GPU buffer. Tensors are disposed explicitly (the buffer goes back
 * to the Gpu's pool); views made by `reshape` share the storage, which is released when the last
 * holder is disposed. `Tensor.view` places a tensor at a byte offset of a buffer it does not own
 * (a parameter arena): kernels bind `t.binding`, which is the whole pooled buffer for an owned
 * tensor and the tensor's own range for a view.
 */
import type { Gpu } from './gpu/gpu.js';

export type Shape = readonly number[];

export function numel(shape: Shape): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** WebGPU's guaranteed minStorageBufferOffsetAlignment: views start at multiples of it. */
export const VIEW_ALIGN = 256;

class Storage {
  refs = 1;
  /** owned: the buffer came from the pool and goes back to it; else it belongs to someone else (an arena). */
  constructor(readonly gpu: Gpu, readonly buffer: GPUBuffer, readonly owned: boolean) {}
  release(): void {
    if (--this.refs === 0 && this.owned) this.gpu.pool.release(this.buffer);
    if (this.refs < 0) throw new Error('tensor disposed twice');
  }
}

export class Tensor {
  readonly dtype = 'f32' as const;
  private storage: Storage | null;

  private constructor(storage: Storage, readonly shape: Shape, readonly label: string, readonly offset = 0) {
    this.storage = storage;
  }

  /** An uninitialised tensor (contents are whatever the recycled buffer held). */
  static empty(gpu: Gpu, shape: Shape, label = 'tensor'): Tensor {
    checkShape(shape);
    const buffer = gpu.pool.acquire(Math.max(4, numel(shape) * 4), label);
    return new Tensor(new Storage(gpu, buffer, true), [...shape], label);
  }

  /** A tensor holding a copy of `data` (length must equal the shape's element count). */
  static from(gpu: Gpu, data: Float32Array, shape: Shape, label = 'tensor'): Tensor {
    checkShape(shape);
    if (data.length !== numel(shape)) throw new Error(`${label}: ${data.length} values do not fill shape [${shape}]`);
    const buffer = gpu.upload(data.length ? data : new Float32Array(1), label);
    return new Tensor(new Storage(gpu, buffer, true), [...shape], label);
  }

  /**
   * A tensor at byte `offset` of `buffer`, which stays its owner's (dispose() releases nothing).
   * The offset must be a multiple of VIEW_ALIGN so that kernels can bind the range.
   */
  static view(gpu: Gpu, buffer: GPUBuffer, offset: number, shape: Shape, label = 'view'): Tensor {
    checkShape(shape);
    if (offset % VIEW_ALIGN || offset < 0) throw new Error(`${label}: view offset ${offset} is not a multiple of ${VIEW_ALIGN}`);
    if (offset + numel(shape) * 4 > buffer.size) throw new Error(`${label}: view [${shape}] at ${offset} overruns a ${buffer.size}-byte buffer`);
    return new Tensor(new Storage(gpu, buffer, false), [...shape], label, offset);
  }

  /**
   * What a kernel binds: the whole buffer for an owned tensor (kernels may read its 16-byte
   * padding as vec4), the tensor's range rounded up to 16 bytes (within the buffer) for a view.
   */
  get binding(): { buffer: GPUBuffer; offset: number; size: number } {
    const s = this.live();
    if (s.owned) return { buffer: s.buffer, offset: 0, size: s.buffer.size };
    const size = Math.min(Math.ceil(Math.max(4, this.byteLength) / 16) * 16, s.buffer.size - this.offset);
    return { buffer: s.buffer, offset: this.offset, size };
  }

  get gpu(): Gpu {
    return this.live().gpu;
  }

  get buffer(): GPUBuffer {
    return this.live().buffer;
  }

  get size(): number {
    return numel(this.shape);
  }

  get byteLength(): number {
    return this.size * 4;
  }

  get disposed(): boolean {
    return this.storage === null;
  }

  private live(): Storage {
    if (!this.storage) throw new Error(`tensor '${this.label}' used after dispose()`);
    return this.storage;
  }

  /** A view with another shape of the same element count, sharing the buffer. */
  reshape(shape: Shape): Tensor {
    const s = this.live();
    const resolved = resolveShape(shape, this.size);
    s.refs++;
    return new Tensor(s, resolved, this.label, this.offset);
  }

  /** Copies the values back to the CPU (after all recorded GPU work). */
  async read(): Promise<Float32Array> {
    const s = this.live();
    if (!this.size) return new Float32Array(0);
    return new Float32Array(await s.gpu.read(s.buffer, this.offset, this.byteLength));
  }

  dispose(): void {
    this.storage?.release();
    this.storage = null;
  }
}

function checkShape(shape: Shape): void {
  for (const d of shape) if (!Number.isSafeInteger(d) || d < 0) throw new Error(`invalid shape [${shape}]`);
}

/** Resolves one -1 entry and checks the element count. */
function resolveShape(shape: Shape, size: number): number[] {
  const out = [...shape];
  const unknown = out.indexOf(-1);
  if (unknown >= 0) {
    const known = out.reduce((a, d, i) => (i === unknown ? a : a * d), 1);
    out[unknown] = known ? size / known : 0;
  }
  checkShape(out);
  if (numel(out) !== size) throw new Error(`cannot reshape ${size} elements to [${shape}]`);
  return out;
}
