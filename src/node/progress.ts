/**
 * Progress reporting for batch commands, on stderr: on a terminal a bar redrawn in place (count,
 * percent, images/s, ETA, failures); otherwise (logs, pipes) a plain line every so many images or
 * seconds. Messages (one line per failed input) are printed above the bar. Every line starts with
 * the command's label, e.g. 'extract: '.
 */

/** Where progress goes: a stream, and whether it is a terminal that understands \r and ESC[K. */
export interface ProgressSink {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface ProgressOptions {
  /** The command name that starts each line, e.g. 'extract'. */
  label: string;
  /** Default: process.stderr. */
  sink?: ProgressSink;
  /** Without a terminal: print a line after this many more images... (default 100) */
  everyItems?: number;
  /** ...or once this many milliseconds passed since the last line (default 10 s). */
  everyMs?: number;
  /** Milliseconds clock (tests pass a fake one). */
  now?: () => number;
}

/** 83 s -> '1m23s'; 4000 s -> '1h06m40s'; 2.5 s -> '2.5s'. */
export function formatDuration(ms: number): string {
  const s = ms / 1000;
  if (s < 10) return `${s.toFixed(1)}s`;
  const t = Math.round(s);
  const h = Math.floor(t / 3600);
  const m = Math.floor((t % 3600) / 60);
  const sec = t % 60;
  const pad = (n: number) => String(n).padStart(2, '0');
  return h > 0 ? `${h}h${pad(m)}m${pad(sec)}s` : m > 0 ? `${m}m${pad(sec)}s` : `${sec}s`;
}

/** Images per second with about three significant digits. */
export function formatRate(perSecond: number): string {
  return perSecond >= 100 ? perSecond.toFixed(0) : perSecond >= 10 ? perSecond.toFixed(1) : perSecond.toFixed(2);
}

/**
 * A speed people can read: '3.21 images/s', or below one image a second the time per image,
 * '1m03s/image' (CPU adapters take a minute per image with the LSUN UNet).
 */
export function formatSpeed(perSecond: number): string {
  if (perSecond > 0 && perSecond < 1) return `${formatDuration(1000 / perSecond)}/image`;
  return `${formatRate(perSecond)} images/s`;
}

const REDRAW_MS = 100;
const BAR_WIDTH = 24;

/** Counts processed images of one job and shows how far it got. */
export class Progress {
  private readonly sink: ProgressSink;
  private readonly tty: boolean;
  private readonly now: () => number;
  private readonly everyItems: number;
  private readonly everyMs: number;
  private readonly start: number;
  private done = 0;
  private failed = 0;
  private lastLineAt: number;
  private lastLineCount = 0;
  private barShown = false;
  /** Shown after the counts, e.g. 'loss 0.412' (set it before advance()). */
  detail = '';

  private jobTotal: number;

  constructor(total: number, private readonly options: ProgressOptions) {
    this.jobTotal = total;
    this.sink = options.sink ?? process.stderr;
    this.tty = !!this.sink.isTTY;
    this.now = options.now ?? Date.now;
    this.everyItems = options.everyItems ?? 100;
    this.everyMs = options.everyMs ?? 10_000;
    this.start = this.now();
    this.lastLineAt = this.start;
    if (this.tty) this.drawBar(this.start); // 0/total at once: the first batch may take a while
  }

  /** Images in the job. */
  get total(): number {
    return this.jobTotal;
  }

  /** Milliseconds since the job started. */
  get elapsedMs(): number {
    return this.now() - this.start;
  }

  /** Records finished images (`done` written, `failed` reported) and updates the display. */
  advance(done: number, failed = 0): void {
    this.done += done;
    this.failed += failed;
    const t = this.now();
    const count = this.done + this.failed;
    if (this.tty) {
      if (t - this.lastLineAt >= REDRAW_MS || count === this.total) this.drawBar(t);
    } else if (count - this.lastLineCount >= this.everyItems || t - this.lastLineAt >= this.everyMs) {
      this.sink.write(`${this.options.label}: ${this.status(t)}\n`);
      this.lastLineAt = t;
      this.lastLineCount = count;
    }
  }

  /** Takes `n` images out of the job (another run has them). */
  skip(n: number): void {
    this.jobTotal -= n;
  }

  /** Prints `<label>: <line>` (e.g. a failed input) without breaking the bar. */
  message(line: string): void {
    this.clearBar();
    this.sink.write(`${this.options.label}: ${line}\n`);
    if (this.tty) this.drawBar(this.now());
  }

  /** Removes the bar, leaving the terminal clean for the summary. */
  finish(): void {
    this.clearBar();
  }

  /** '420/1000 (42%), 3.21 images/s, ETA 3m01s, 2 failed' ('1m03s/image' when slower) */
  private status(t: number): string {
    const count = this.done + this.failed;
    const pct = this.total > 0 ? Math.floor((100 * count) / this.total) : 100;
    const rate = count / Math.max(1e-3, (t - this.start) / 1000);
    const parts = [`${count}/${this.total} (${pct}%)`, formatSpeed(rate)];
    if (count > 0 && count < this.total) parts.push(`ETA ${formatDuration(((this.total - count) / rate) * 1000)}`);
    if (this.failed > 0) parts.push(`${this.failed} failed`);
    if (this.detail) parts.push(this.detail);
    return parts.join(', ');
  }

  private drawBar(t: number): void {
    const count = this.done + this.failed;
    const filled = this.total > 0 ? Math.round((BAR_WIDTH * count) / this.total) : BAR_WIDTH;
    const bar = `[${'#'.repeat(filled)}${'.'.repeat(BAR_WIDTH - filled)}]`;
    let text = `${this.options.label} ${bar} ${this.status(t)}`;
    if (this.sink.columns && text.length >= this.sink.columns) text = text.slice(0, this.sink.columns - 1);
    this.sink.write(`\r${text}\x1b[K`);
    this.barShown = true;
    this.lastLineAt = t;
  }

  private clearBar(): void {
    if (!this.barShown) return;
    this.sink.write('\r\x1b[K');
    this.barShown = false;
  }
}

/** What a finished (or interrupted) batch job did, for its closing line. */
export interface JobCounts {
  done: number;
  /** Outputs that existed already. */
  skipped: number;
  failed: number;
  /** Items left undone because the job was interrupted. */
  remaining: number;
  elapsedMs: number;
}

/**
 * The closing lines of a batch job: 'extract: 950 done, 40 skipped (already done), 10 failed in
 * 5m12s (3.04 images/s)', plus how to resume when it was interrupted.
 */
export function formatSummary(label: string, c: JobCounts): string {
  const rate = c.done / Math.max(1e-3, c.elapsedMs / 1000);
  // No rate when nothing was computed (all skipped or failed): "0.00 images/s" would say nothing.
  let text = `${label}: ${c.done} done, ${c.skipped} skipped (already done), ${c.failed} failed in ` +
    `${formatDuration(c.elapsedMs)}${c.done > 0 ? ` (${formatSpeed(rate)})` : ''}`;
  if (c.remaining > 0) text += `\n${label}: interrupted with ${c.remaining} left; run the same command again to finish them`;
  return text;
}
