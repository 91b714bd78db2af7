/**
 * `dnf queue status`: how far a queue got, in files and in batches, from BullMQ's job counts and
 * the results the workers recorded (store.ts), with the rate of the last minutes and an ETA.
 *
 * Files: pushed = every file ever pushed; done = outputs written or found complete; failed =
 * files that could not be done (each with its message); active = files of the batches being worked
 * on; waiting = the rest (in waiting or delayed batches, or in failed batches, which are counted
 * apart). Rate: files finished in the batches that finished in the last RATE_WINDOW_MS, over that
 * window (shorter when the queue's first batch finished within it).
 */
import type { DnfQueue } from './store.js';

export interface QueueStatus {
  name: string;
  files: { pushed: number; done: number; failed: number; active: number; waiting: number; inFailedBatches: number };
  batches: { done: number; active: number; waiting: number; delayed: number; failed: number };
  /** Files per second over the recent window; 0 when nothing finished in it. */
  rate: number;
  /** Seconds until the waiting and active files are done at `rate`; null without a rate or when nothing is left. */
  etaSeconds: number | null;
  /** Files that failed, with their messages. */
  failedFiles: Array<{ path: string; message: string }>;
  /** Batches that failed as a whole, with the reason and their files' count. */
  failedBatches: Array<{ id: string; reason: string; files: number }>;
}

export const RATE_WINDOW_MS = 5 * 60_000;

export async function queueStatus(q: DnfQueue, now = Date.now()): Promise<QueueStatus> {
  const [counts, jobs, results, failedFiles, active, failed] = await Promise.all([
    q.counts(),
    q.queue.getJobCounts('completed', 'active', 'waiting', 'prioritized', 'delayed', 'failed'),
    q.results(),
    q.failedFiles(),
    q.queue.getActive(),
    q.queue.getFailed(),
  ]);
  let done = 0;
  let first = Infinity;
  let recent = 0;
  for (const r of results.values()) {
    done += r.done + r.skipped;
    first = Math.min(first, r.at - r.ms);
    if (r.at >= now - RATE_WINDOW_MS) recent += r.done + r.skipped + r.failed;
  }
  const window = Math.min(RATE_WINDOW_MS, now - first);
  const rate = recent > 0 && window > 0 ? recent / (window / 1000) : 0;
  const activeFiles = active.reduce((n, j) => n + (j.data?.files?.length ?? 0), 0);
  const inFailedBatches = failed.reduce((n, j) => n + (j.data?.files?.length ?? 0), 0);
  const waiting = Math.max(0, counts.files - done - counts.failed - activeFiles - inFailedBatches);
  const left = waiting + activeFiles;
  return {
    name: q.name,
    files: { pushed: counts.files, done, failed: counts.failed, active: activeFiles, waiting, inFailedBatches },
    batches: {
      done: jobs.completed,
      active: jobs.active,
      waiting: jobs.waiting + jobs.prioritized,
      delayed: jobs.delayed,
      failed: jobs.failed,
    },
    rate,
    etaSeconds: rate > 0 && left > 0 ? left / rate : null,
    failedFiles: Object.entries(failedFiles).map(([path, message]) => ({ path, message })).sort((a, b) => (a.path < b.path ? -1 : 1)),
    failedBatches: failed.map((j) => ({ id: j.id ?? '?', reason: j.failedReason ?? 'unknown', files: j.data?.files?.length ?? 0 })),
  };
}
