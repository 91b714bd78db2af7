/**
 * GPU objects evicted from a pool but perhaps still named by recorded commands: destroyed after
 * the next submit (when those commands are the queue's), or, while `keep` is set (a wall-clock
 * profiler replays recorded dispatches later, on the objects they named), once the replay is
 * done (releaseKept). Shared by the buffer pool and the texel pool.
 */
export class Retired<T> {
  private pending: T[] = [];
  private kept: T[] = [];
  /** While set, evicted objects outlive the submit, until releaseKept(). */
  keep = false;

  constructor(private readonly destroy: (x: T) => void) {}

  add(x: T): void {
    this.pending.push(x);
  }

  /** Destroys (or, with keep, keeps) the objects evicted before the submit that just happened. */
  afterSubmit(): void {
    if (this.keep) this.kept.push(...this.pending);
    else for (const x of this.pending) this.destroy(x);
    this.pending = [];
  }

  /** Destroys the objects kept for a replay. */
  releaseKept(): void {
    for (const x of this.kept) this.destroy(x);
    this.kept = [];
  }

  /** Forgets everything (the objects are destroyed by their owner). */
  clear(): void {
    this.pending = [];
    this.kept = [];
  }
}
