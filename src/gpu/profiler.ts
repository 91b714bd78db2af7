/**
 * Per-kernel GPU time. With the adapter's 'timestamp-query' feature every dispatch gets its own
 * compute pass with begin/end timestamps; otherwise ('wallclock') every dispatch is submitted alone
 * and timed between the completions of consecutive submissions (coarser, and it includes the
 * submission overhead, but available everywhere).
 */
import { BufferUsage, MapMode } from './usage.js';

export type ProfileMode = 'timestamp' | 'wallclock';

export interface KernelTime {
  kernel: string;
  calls: number;
  ms: number;
}

const CAPACITY = 1024; // dispatches per query set

export class Profiler {
  private readonly totals = new Map<string, { calls: number; ns: number }>();
  private querySet: GPUQuerySet | null = null;
  private labels: string[] = [];
  private readonly inflight: Array<Promise<void>> = [];
  private lastDone = 0;
  private submitted: { labels: string[]; resolved: GPUBuffer; read: GPUBuffer } | null = null;

  constructor(private readonly device: GPUDevice, readonly mode: ProfileMode) {
    if (mode === 'timestamp') this.querySet = device.createQuerySet({ type: 'timestamp', count: 2 * CAPACITY, label: 'profile' });
  }

  /** True when the query set is full and the recording must be flushed. */
  get full(): boolean {
    return this.labels.length >= CAPACITY;
  }

  timestampWrites(label: string): GPUComputePassTimestampWrites | undefined {
    if (!this.querySet) return undefined;
    const i = this.labels.push(label) - 1;
    return { querySet: this.querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 };
  }

  /** Called before the encoder is finished: resolves this batch's timestamps into a buffer. */
  resolve(encoder: GPUCommandEncoder): void {
    if (!this.querySet || !this.labels.length) return;
    const bytes = this.labels.length * 16;
    const resolved = this.device.createBuffer({ size: bytes, usage: BufferUsage.QUERY_RESOLVE | BufferUsage.COPY_SRC });
    const read = this.device.createBuffer({ size: bytes, usage: BufferUsage.MAP_READ | BufferUsage.COPY_DST });
    encoder.resolveQuerySet(this.querySet, 0, this.labels.length * 2, resolved, 0);
    encoder.copyBufferToBuffer(resolved, 0, read, 0, bytes);
    this.submitted = { labels: this.labels, resolved, read };
    this.labels = [];
  }

  /** Called after the submit that carried resolve(): maps the timestamps once the GPU is done. */
  afterSubmit(): void {
    const batch = this.submitted;
    if (!batch) return;
    this.submitted = null;
    this.inflight.push(
      batch.read.mapAsync(MapMode.READ).then(() => {
        const t = new BigInt64Array(batch.read.getMappedRange());
        batch.labels.forEach((label, i) => this.add(label, Number(t[2 * i + 1] - t[2 * i])));
        batch.read.unmap();
        batch.read.destroy();
        batch.resolved.destroy();
      }),
    );
  }

  /** Wall-clock mode: `done` resolves when the dispatch labelled `label` (submitted alone) has finished. */
  wallclockMark(label: string, done: Promise<undefined | void>): void {
    if (!this.lastDone) this.lastDone = performance.now();
    this.inflight.push(
      done.then(() => {
        const now = performance.now();
        this.add(label, (now - this.lastDone) * 1e6);
        this.lastDone = now;
      }),
    );
  }

  /** Starts a new measurement window (wall-clock mode measures from here). */
  start(): void {
    this.lastDone = performance.now();
  }

  private add(label: string, ns: number): void {
    const t = this.totals.get(label) ?? { calls: 0, ns: 0 };
    t.calls++;
    t.ns += Math.max(0, ns);
    this.totals.set(label, t);
  }

  /** Waits for outstanding timings and returns the totals, longest first. */
  async report(): Promise<KernelTime[]> {
    await Promise.all(this.inflight.splice(0));
    return [...this.totals.entries()]
      .map(([kernel, t]) => ({ kernel, calls: t.calls, ms: t.ns / 1e6 }))
      .sort((a, b) => b.ms - a.ms);
  }

  reset(): void {
    this.totals.clear();
    this.lastDone = 0;
  }

  destroy(): void {
    this.querySet?.destroy();
  }
}

/** Formats a profile as an aligned text table (for DNF_PROFILE=1 output on stderr). */
export function formatProfile(rows: KernelTime[]): string {
  const total = rows.reduce((s, r) => s + r.ms, 0) || 1;
  const w = Math.max(6, ...rows.map((r) => r.kernel.length));
  const lines = rows.map((r) => `${r.kernel.padEnd(w)}  ${String(r.calls).padStart(6)}  ${r.ms.toFixed(2).padStart(10)}  ${((100 * r.ms) / total).toFixed(1).padStart(5)}%`);
  return [`${'kernel'.padEnd(w)}  ${'calls'.padStart(6)}  ${'ms'.padStart(10)}  ${'share'.padStart(6)}`, ...lines].join('\n');
}
