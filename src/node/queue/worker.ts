/**
 * A queue worker: takes batches from a DnfQueue (BullMQ), works on each through the batch runner
 * that extract uses (decode alone per file, the GPU per batch, atomic writes, outputs that exist
 * complete skipped), records what it did, and acknowledges.
 *
 * Delivery: a worker holds a lock on its batch and renews it every half `lockMs`; when the worker
 * dies (kill -9, a machine lost) the lock expires and the stalled check of any live worker (every
 * `lockMs`) puts the batch back, for another worker to take: at most about twice `lockMs` after
 * the death. A batch put back more than `maxStalled` times, or whose processing threw `attempts`
 * times (push.ts), is failed with the reason. A file that fails (a bad image) fails alone: it is
 * recorded with its message and the batch completes; it is not retried. Outputs are written under
 * temp names and renamed, so a batch redone after a death writes every output exactly once; the
 * temp files of the dead worker are removed when its batch is taken again on its host (plan.ts
 * removeStaleTemps). No output claims are taken: the queue's lock decides who works on a file.
 *
 * The processing itself is the caller's `processBatch` (the CLI's: extract's DNF writer), so the
 * queue's own cost can be measured with one that computes nothing (bench/scale.mjs).
 */
import { hostname } from 'node:os';
import { join, relative, resolve, sep } from 'node:path';
import { WaitingError, Worker } from 'bullmq';
import { DnfError } from '../../errors.js';
import { decodeImageFile } from '../../image/decode-node.js';
import type { RgbImage } from '../../image/pixels.js';
import { decodedImageLimits } from '../batch/memory.js';
import { isCompleteOutput, removeStaleTemps, type PlannedItem } from '../batch/plan.js';
import { runBatches, type Prepared } from '../batch/runner.js';
import { formatDuration, Progress, type ProgressSink } from '../progress.js';
import type { BatchData, BatchJob, BatchResult, DnfQueue } from './store.js';
import { connectionOptions, PREFIX } from './store.js';

export interface QueueWorkerOptions {
  queue: DnfQueue;
  /** The output folder, where every output name of the queue is joined. */
  output: string;
  /** Images per processBatch call. */
  batchSize: number;
  processBatch(entries: Prepared<PlannedItem, RgbImage>[]): Promise<Array<string | Error>>;
  /** How long a batch's lock lasts without renewal (a dead worker's batch comes back after about twice this). */
  lockMs: number;
  /** Times a batch may be put back after its worker died before it is failed (default 2). */
  maxStalled?: number;
  /** Stop once no batch is waiting, delayed or active anywhere (otherwise: wait for more). */
  exitWhenEmpty: boolean;
  /** Aborting it stops the worker: the batch in flight stops after its current GPU batch and goes back to the queue. */
  signal?: AbortSignal;
  sink?: ProgressSink;
}

export interface QueueWorkerReport {
  batches: number;
  done: number;
  skipped: number;
  failed: number;
  interrupted: boolean;
}

/** How often an idle worker with exitWhenEmpty looks whether the queue is empty. */
const EMPTY_POLL_MS = 500;

/** Refuses an output folder inside an input folder of the queue (its outputs would be inputs of a later push). */
export async function checkOutputFolder(q: DnfQueue, output: string): Promise<void> {
  const out = resolve(output);
  for (const folder of await q.folders()) {
    const rel = relative(folder, out);
    if (rel === '' || (!rel.startsWith('..') && !rel.startsWith(sep) && !/^[A-Za-z]:/.test(rel))) {
      throw new DnfError(`-o ${output}: lies inside ${folder}, an input folder of queue ${q.name}; choose an output folder outside the inputs`, 2);
    }
  }
}

/** Runs the worker until the queue is empty (exitWhenEmpty) or the signal aborts. */
export async function runQueueWorker(opts: QueueWorkerOptions): Promise<QueueWorkerReport> {
  const q = opts.queue;
  const sink = opts.sink ?? process.stderr;
  const say = (line: string) => sink.write(`worker: ${line}\n`);
  const name = `${hostname()} ${process.pid}`;
  const report: QueueWorkerReport = { batches: 0, done: 0, skipped: 0, failed: 0, interrupted: false };
  let fatal: unknown;

  const process1 = async (job: BatchJob, token?: string): Promise<BatchResult> => {
    const started = Date.now();
    const items: PlannedItem[] = job.data.files.map((f) => ({ path: f.path, rel: f.rel, output: join(opts.output, ...f.out.split('/')) }));
    await removeStaleTemps(items.map((i) => i.output));
    const complete = await Promise.all(items.map((i) => isCompleteOutput(i.output)));
    const todo = items.filter((_, k) => !complete[k]);
    const progress = new Progress(todo.length, { label: 'worker', sink, everyItems: Infinity, everyMs: 60_000 });
    let outcome;
    try {
      outcome = await runBatches({
        items: todo,
        batchSize: opts.batchSize,
        name: (item) => item.path,
        prepare: (item) => decodeImageFile(item.path),
        ...decodedImageLimits((item: PlannedItem) => item.path),
        processBatch: opts.processBatch,
        signal: opts.signal,
        progress,
      });
    } catch (e) {
      fatal = e instanceof DnfError && e.exitCode === 2 ? e : undefined; // a setup error (the GPU lost): this worker stops
      throw e; // the batch fails this attempt; BullMQ retries it (push's --attempts)
    } finally {
      progress.finish();
    }
    if (outcome.interrupted) {
      await job.moveToWait(token); // back to the queue as it was: outputs written so far are kept (resume)
      throw new WaitingError();
    }
    const result: BatchResult = {
      done: outcome.done.length,
      skipped: items.length - todo.length,
      failed: outcome.failed.length,
      at: Date.now(),
      ms: Date.now() - started,
      worker: name,
    };
    const doneOrSkipped = [...outcome.done.map((d) => d.item.path), ...items.filter((_, k) => complete[k]).map((i) => i.path)];
    await q.record(job.id!, result, outcome.failed.map((f) => ({ path: f.item.path, message: f.message })), doneOrSkipped);
    report.batches++;
    report.done += result.done;
    report.skipped += result.skipped;
    report.failed += result.failed;
    say(`${job.id}: ${items.length} files, ${result.done} done, ${result.skipped} skipped (already done), ${result.failed} failed in ${formatDuration(result.ms)}`);
    return result;
  };

  const worker = new Worker<BatchData, BatchResult>(q.name, process1, {
    connection: connectionOptions(q.url, false),
    prefix: PREFIX,
    name,
    concurrency: 1,
    lockDuration: opts.lockMs,
    stalledInterval: opts.lockMs,
    maxStalledCount: opts.maxStalled ?? 2,
    drainDelay: Math.max(1, Math.min(5, Math.round(opts.lockMs / 1000))),
  });
  let lastError = '';
  worker.on('error', (e) => {
    const text = e instanceof Error ? e.message : String(e);
    if (text !== lastError) say(`Redis: ${text} (retrying)`);
    lastError = text;
  });
  worker.on('failed', (job, e) => {
    if (job && !(e instanceof WaitingError)) say(`${job.id} failed (attempt ${job.attemptsMade} of ${job.opts.attempts ?? 1}): ${e.message}`);
  });

  try {
    await new Promise<void>((resolveStop) => {
      const stop = () => {
        clearInterval(poll);
        opts.signal?.removeEventListener('abort', onAbort);
        resolveStop();
      };
      const onAbort = () => {
        report.interrupted = true;
        stop();
      };
      opts.signal?.addEventListener('abort', onAbort);
      let looking = false;
      const poll = setInterval(() => {
        if (fatal !== undefined) return stop();
        if (!opts.exitWhenEmpty || looking) return;
        looking = true;
        q.queue
          .getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'waiting-children')
          .then((c) => {
            if (Object.values(c).every((n) => n === 0)) stop();
          }, () => {})
          .finally(() => (looking = false));
      }, EMPTY_POLL_MS);
      if (opts.signal?.aborted) onAbort();
    });
  } finally {
    await worker.close(); // waits for the batch in flight (interrupted: it goes back to the queue)
  }
  if (fatal !== undefined) throw fatal;
  return report;
}
