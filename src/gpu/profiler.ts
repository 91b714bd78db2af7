/**
 * Per-kernel GPU time. With the adapter's 'timestamp-query' feature every dispatch gets its own
 * compute pass with begin/end timestamps. Otherwise ('wallclock') the run itself is not timed:
 * completion callbacks are unreliable there (Dawn's GL backend on llvmpipe reports a whole batch
 * as done at once), so each dispatch is recorded (pipeline, buffers, a copy of its params) and
 * report() replays them one by one, waiting for each through a 4-byte readback; the time of an
 * empty round trip is subtracted. Replays recompute on whatever the buffers hold by then, which
 * is harmless: every kernel's indices come from its params.
 */
import { BufferUsage, MapMode } from './usage.js';

export type ProfileMode = 'timestamp' | 'wallclock';

export interface KernelTime {
  kernel: string;
  calls: number;
  ms: number;
}

const CAPACITY = 1024; // dispatches per query set
const MAX_RECORDS = 100_000; // dispatches kept for a wall-clock replay

/** What a wall-clock replay needs to run one dispatch again. */
export interface RecordedDispatch {
  label: string;
  pipeline: GPUComputePipeline;
  layout: GPUBindGroupLayout;
  /** The Params bytes (empty when the shader has none; then every entry is a storage binding). */
  params: Uint8Array;
  storage: GPUBindGroupEntry[];
  workgroups: [number, number, number];
}

export class Profiler {
  private readonly totals = new Map<string, { calls: number; ns: number }>();
  private querySet: GPUQuerySet | null = null;
  private labels: string[] = [];
  private readonly inflight: Array<Promise<void>> = [];
  private records: RecordedDispatch[] = [];
  private submitted: { labels: string[]; resolved: GPUBuffer; read: GPUBuffer } | null = null;

  /** `replayed`: called when the recorded dispatches are no longer needed (replayed or dropped). */
  constructor(private readonly device: GPUDevice, readonly mode: ProfileMode, private readonly replayed: () => void = () => {}) {
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

  /** Wall-clock mode: keeps a dispatch for the replay in report(). */
  record(d: RecordedDispatch): void {
    if (this.records.length < MAX_RECORDS) this.records.push(d);
  }

  private async roundTrip(probe: GPUBuffer, src: GPUBuffer, d?: RecordedDispatch, uniform?: GPUBuffer): Promise<number> {
    const encoder = this.device.createCommandEncoder({ label: 'profile-replay' });
    if (d) {
      const entries = d.params.byteLength
        ? [{ binding: 0, resource: { buffer: uniform!, offset: 0, size: d.params.byteLength } }, ...d.storage]
        : d.storage;
      if (d.params.byteLength) this.device.queue.writeBuffer(uniform!, 0, d.params as Uint8Array<ArrayBuffer>);
      const pass = encoder.beginComputePass({ label: d.label });
      pass.setPipeline(d.pipeline);
      pass.setBindGroup(0, this.device.createBindGroup({ layout: d.layout, entries }));
      pass.dispatchWorkgroups(...d.workgroups);
      pass.end();
    }
    encoder.copyBufferToBuffer(src, 0, probe, 0, 4);
    const t0 = performance.now();
    this.device.queue.submit([encoder.finish()]);
    await probe.mapAsync(MapMode.READ);
    const ms = performance.now() - t0;
    probe.unmap();
    return ms;
  }

  /** Replays the recorded dispatches one at a time and adds their times. */
  private async replay(): Promise<void> {
    const records = this.records;
    this.records = [];
    if (!records.length) return this.replayed();
    const probe = this.device.createBuffer({ size: 4, usage: BufferUsage.MAP_READ | BufferUsage.COPY_DST, label: 'probe' });
    const src = this.device.createBuffer({ size: 16, usage: BufferUsage.COPY_SRC, label: 'probe-src' });
    const uniform = this.device.createBuffer({ size: 256, usage: BufferUsage.UNIFORM | BufferUsage.COPY_DST, label: 'replay-params' });
    try {
      const empty: number[] = [];
      for (let i = 0; i < 5; i++) empty.push(await this.roundTrip(probe, src));
      const overhead = empty.sort((a, b) => a - b)[2];
      for (const d of records) this.add(d.label, Math.max(0, (await this.roundTrip(probe, src, d, uniform)) - overhead) * 1e6);
    } finally {
      probe.destroy();
      src.destroy();
      uniform.destroy();
      this.replayed();
    }
  }

  private add(label: string, ns: number): void {
    const t = this.totals.get(label) ?? { calls: 0, ns: 0 };
    t.calls++;
    t.ns += Math.max(0, ns);
    this.totals.set(label, t);
  }

  /**
   * Waits for outstanding timings (wall-clock mode: replays the recorded dispatches, so call it
   * after the work and before freeing its buffers) and returns the totals, longest first.
   */
  async report(): Promise<KernelTime[]> {
    await Promise.all(this.inflight.splice(0));
    await this.replay();
    return [...this.totals.entries()]
      .map(([kernel, t]) => ({ kernel, calls: t.calls, ms: t.ns / 1e6 }))
      .sort((a, b) => b.ms - a.ms);
  }

  /** Forgets what was measured or recorded so far. */
  reset(): void {
    this.totals.clear();
    this.records = [];
    this.replayed();
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
