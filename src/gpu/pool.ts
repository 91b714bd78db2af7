/**
 * Storage buffers recycled by size class. Released buffers go back to a free list of their class
 * and are handed out again; queue order makes that safe (a later dispatch that writes a recycled
 * buffer runs after the earlier ones that read it). Classes grow by 1/8 steps so waste stays under
 * 12.5%.
 */
import { BufferUsage } from "./usage.js";

export const STORAGE_USAGE = BufferUsage.STORAGE | BufferUsage.COPY_SRC | BufferUsage.COPY_DST;

export function sizeClass(bytes: number): number {
  const b = Math.max(16, Math.ceil(bytes / 16) * 16);
  if (b <= 4096) return Math.ceil(b / 256) * 256;
  const step = 2 ** (Math.floor(Math.log2(b)) - 3);
  return Math.ceil(b / step) * step;
}

export class BufferPool {
  private readonly free = new Map<number, GPUBuffer[]>();
  /** Bytes in buffers handed out and not yet released. */
  inUse = 0;
  /** Highest `inUse` + free bytes since the last resetPeak(): what the pool holds from the device. */
  peak = 0;
  private held = 0;

  constructor(private readonly device: GPUDevice, private readonly maxBufferSize: number) {}

  acquire(bytes: number, label: string): GPUBuffer {
    let size = sizeClass(bytes);
    if (size > this.maxBufferSize) size = Math.ceil(bytes / 16) * 16;
    if (size > this.maxBufferSize) {
      throw new Error(`buffer '${label}' needs ${bytes} bytes, more than this adapter's maxBufferSize ${this.maxBufferSize}`);
    }
    const list = this.free.get(size);
    let buf = list?.pop();
    if (!buf) {
      buf = this.device.createBuffer({ size, usage: STORAGE_USAGE, label });
      this.held += size;
    }
    this.inUse += size;
    this.peak = Math.max(this.peak, this.held);
    return buf;
  }

  release(buf: GPUBuffer): void {
    const size = buf.size;
    this.inUse -= size;
    let list = this.free.get(size);
    if (!list) this.free.set(size, (list = []));
    list.push(buf);
  }

  /** Destroys every free buffer (memory goes back to the device). */
  trim(): void {
    for (const list of this.free.values()) for (const b of list) { this.held -= b.size; b.destroy(); }
    this.free.clear();
  }

  /** Bytes currently allocated from the device by this pool (in use + free). */
  get heldBytes(): number {
    return this.held;
  }

  resetPeak(): void {
    this.peak = this.held;
  }
}
