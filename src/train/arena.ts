/**
 * The flat parameter arena of a trainable model (tinygrad's fused optimizer): every parameter
 * tensor sits at a 256-byte aligned offset of one buffer, and its gradient and both Adam moments
 * at the same offset of three more buffers, so that the optimizer is one dispatch over all
 * parameters instead of one per tensor. Parameters are in PyTorch's layout ([Cout, Cin, k, k] for
 * convs, [out, in] for linear layers), the order of the state dict.
 *
 * A model whose parameters exceed one storage binding (ResNet101 and larger: 178 MB, more than
 * the 128 MiB of browsers and the GL adapter) is split into segments that each fit one binding;
 * a tensor never straddles two. The gaps between tensors are zero in all four buffers and stay
 * zero through Adam (a zero gradient and zero moments give a zero update).
 */
import type { Gpu } from '../gpu/gpu.js';
import { BufferUsage } from '../gpu/usage.js';
import { numel, Tensor, VIEW_ALIGN, type Shape } from '../tensor.js';

export interface ArenaEntry {
  name: string;
  shape: number[];
  segment: number;
  /** Byte offset within the segment. */
  offset: number;
}

/** One segment's four buffers, and views of the whole segment (for the optimizer). */
export interface ArenaSegment {
  bytes: number;
  param: Tensor;
  grad: Tensor;
  m: Tensor;
  v: Tensor;
}

export type ArenaKind = 'param' | 'grad' | 'm' | 'v';
const KINDS: ArenaKind[] = ['param', 'grad', 'm', 'v'];

/** Places tensors (name, shape) in order into segments of at most `maxBytes`. */
export function planArena(tensors: ReadonlyArray<readonly [string, Shape]>, maxBytes: number): { entries: ArenaEntry[]; segments: number[] } {
  const entries: ArenaEntry[] = [];
  const segments: number[] = [];
  let at = 0;
  for (const [name, shape] of tensors) {
    const bytes = numel(shape) * 4;
    if (bytes > maxBytes) throw new Error(`parameter ${name} [${shape}] needs ${bytes} bytes, more than one storage binding (${maxBytes})`);
    if (!segments.length || at + bytes > maxBytes) {
      segments.push(0);
      at = 0;
    }
    entries.push({ name, shape: [...shape], segment: segments.length - 1, offset: at });
    at = Math.ceil((at + Math.max(bytes, 4)) / VIEW_ALIGN) * VIEW_ALIGN;
    segments[segments.length - 1] = Math.min(at, maxBytes);
  }
  return { entries, segments };
}

export class ParamArena {
  readonly entries: ArenaEntry[];
  readonly segments: ArenaSegment[];
  private readonly byName = new Map<string, ArenaEntry>();
  private readonly buffers: GPUBuffer[] = [];

  constructor(readonly gpu: Gpu, tensors: ReadonlyArray<readonly [string, Shape]>) {
    const plan = planArena(tensors, gpu.maxBinding);
    this.entries = plan.entries;
    for (const e of this.entries) this.byName.set(e.name, e);
    this.segments = plan.segments.map((bytes, i) => {
      const views = KINDS.map((kind) => {
        // Buffers start zeroed (WebGPU guarantees it), which the padding relies on.
        const buffer = gpu.device.createBuffer({ size: bytes, usage: BufferUsage.STORAGE | BufferUsage.COPY_SRC | BufferUsage.COPY_DST, label: `arena.${kind}.${i}` });
        this.buffers.push(buffer);
        return Tensor.view(gpu, buffer, 0, [bytes / 4], `arena.${kind}.${i}`);
      });
      return { bytes, param: views[0], grad: views[1], m: views[2], v: views[3] };
    });
  }

  /** Total bytes of one of the four buffers (all segments). */
  get bytes(): number {
    return this.segments.reduce((a, s) => a + s.bytes, 0);
  }

  /** Elements of all parameters (without padding). */
  get count(): number {
    return this.entries.reduce((a, e) => a + numel(e.shape), 0);
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  entry(name: string): ArenaEntry {
    const e = this.byName.get(name);
    if (!e) throw new Error(`the parameter arena has no tensor ${name}`);
    return e;
  }

  /** The tensor `name` of one of the four buffers, as a view. */
  view(name: string, kind: ArenaKind = 'param'): Tensor {
    const e = this.entry(name);
    return Tensor.view(this.gpu, this.segments[e.segment][kind].buffer, e.offset, e.shape, `${kind}:${name}`);
  }

  /** Writes a parameter's values (PyTorch layout). */
  set(name: string, data: Float32Array, kind: ArenaKind = 'param'): void {
    const e = this.entry(name);
    if (data.length !== numel(e.shape)) throw new Error(`${name}: ${data.length} values do not fill [${e.shape}]`);
    this.gpu.write(this.segments[e.segment][kind].buffer, e.offset, data);
  }

  /** Reads every tensor of one buffer back: one read per segment. */
  async readAll(kind: ArenaKind = 'param'): Promise<Map<string, Float32Array>> {
    const out = new Map<string, Float32Array>();
    for (let s = 0; s < this.segments.length; s++) {
      const all = await this.segments[s][kind].read();
      for (const e of this.entries) {
        if (e.segment === s) out.set(e.name, all.slice(e.offset / 4, e.offset / 4 + numel(e.shape)));
      }
    }
    return out;
  }

  destroy(): void {
    for (const b of this.buffers) b.destroy();
    this.buffers.length = 0;
  }
}
