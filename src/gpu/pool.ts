/**
 * Storage buffers recycled by size class. Released buffers go back to a free list of their class
 * and are handed out again; queue order makes that safe (a later dispatch that writes a recycled
 * buffer runs after the earlier ones that read it). Classes grow by 1/8 steps so waste stays under
 * 12.5%.
 *
 * Large free buffers are kept only up to a budget in all: a job over images of many sizes (each
 * a new class for its upload slabs and resize intermediates) would otherwise keep one of each for
 * good, and on CPU adapters device memory is the process's memory. The budget is FREE_LARGE_BYTES,
 * or as much as the job has held in use at once (since the last trim()) where that is more, so
 * that a job whose working set outgrows FREE_LARGE_BYTES does not destroy and re-create its own
 * buffers at every pass: the pool then holds at most twice the job's high-water mark. The oldest
 * released go first. A released buffer may still be named by recorded commands, so it is destroyed only
 * after the next submit (src/gpu/retired.ts), when those commands are the queue's.
 */
import { Retired } from './retired.js';
import { BufferUsage } from "./usage.js";

/** Storage and copies (to and from buffers, and into texel mirrors: src/gpu/texels.ts). */
export const STORAGE_USAGE = BufferUsage.STORAGE | BufferUsage.COPY_SRC | BufferUsage.COPY_DST;

export function sizeClass(bytes: number): number {
  const b = Math.max(16, Math.ceil(bytes / 16) * 16);
  if (b <= 4096) return Math.ceil(b / 256) * 256;
  return roundUpEighth(b);
}

/** n (8 or more) rounded up to a multiple of 1/8 of the power of two at or below it: classes at most 12.5% apart. */
export function roundUpEighth(n: number): number {
  const step = 2 ** (Math.floor(Math.log2(n)) - 3);
  return Math.ceil(n / step) * step;
}

/** Buffers from this size are large. */
const LARGE_BYTES = 16 << 20;
/**
 * Free large buffers kept for reuse, in all, at least. The LSUN UNet's forward at batch 1 needs
 * more: 0.76 GB in use at most (weights included), up to 0.70 GB of its large buffers free at
 * once between layers, and with this alone as the budget it re-created 16 buffers (424 MB) per
 * forward (counted with a pool instrumented for it), paid in page faults and zeroing on llvmpipe (bench/unet, 2-core Xeon: 8.9 .. 9.3 s a forward against
 * 8.0 .. 8.5 s, 110,000 page faults per forward against 1,150).
 */
const FREE_LARGE_BYTES = 256 << 20;

export class BufferPool {
  private readonly free = new Map<number, GPUBuffer[]>();
  /** Free large buffers, oldest released first. */
  private readonly freeLarge = new Set<GPUBuffer>();
  private freeLargeBytes = 0;
  /** Evicted from the free lists, destroyed after the next submit (or kept for a replay: retired.keep). */
  readonly retired = new Retired<GPUBuffer>((b) => this.destroyHeld(b));
  /** Bytes in buffers handed out and not yet released. */
  inUse = 0;
  /** Highest `inUse` + free bytes since the last resetPeak(): what the pool holds from the device. */
  peak = 0;
  private held = 0;
  /** Highest `inUse` since the last trim(): the free large buffers' budget where above FREE_LARGE_BYTES. */
  private inUseHigh = 0;

  constructor(private readonly device: GPUDevice, private readonly maxBufferSize: number) {}

  acquire(bytes: number, label: string): GPUBuffer {
    let size = sizeClass(bytes);
    if (size > this.maxBufferSize) size = Math.ceil(bytes / 16) * 16;
    if (size > this.maxBufferSize) {
      throw new Error(`buffer '${label}' needs ${bytes} bytes, more than this adapter's maxBufferSize ${this.maxBufferSize}`);
    }
    const list = this.free.get(size);
    let buf = list?.pop();
    if (buf && this.freeLarge.delete(buf)) this.freeLargeBytes -= size;
    if (!buf) {
      buf = this.device.createBuffer({ size, usage: STORAGE_USAGE, label });
      this.held += size;
    }
    this.inUse += size;
    this.inUseHigh = Math.max(this.inUseHigh, this.inUse);
    this.peak = Math.max(this.peak, this.held);
    return buf;
  }

  release(buf: GPUBuffer): void {
    const size = buf.size;
    this.inUse -= size;
    let list = this.free.get(size);
    if (!list) this.free.set(size, (list = []));
    list.push(buf);
    if (size < LARGE_BYTES) return;
    this.freeLarge.add(buf);
    this.freeLargeBytes += size;
    const budget = Math.max(FREE_LARGE_BYTES, this.inUseHigh);
    for (const old of this.freeLarge) {
      if (this.freeLargeBytes <= budget) break;
      this.freeLarge.delete(old);
      this.freeLargeBytes -= old.size;
      const l = this.free.get(old.size)!;
      l.splice(l.indexOf(old), 1);
      this.retired.add(old);
    }
  }


  private destroyHeld(b: GPUBuffer): void {
    this.held -= b.size;
    b.destroy();
  }

  /** Destroys every free buffer (memory goes back to the device). */
  trim(): void {
    for (const list of this.free.values()) for (const b of list) { this.held -= b.size; b.destroy(); }
    this.free.clear();
    this.freeLarge.clear();
    this.freeLargeBytes = 0;
    this.inUseHigh = this.inUse;
    this.retired.afterSubmit();
  }

  /** Bytes currently allocated from the device by this pool (in use + free). */
  get heldBytes(): number {
    return this.held;
  }

  resetPeak(): void {
    this.peak = this.held;
  }
}
