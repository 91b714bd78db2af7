/**
 * A queue worker: takes batches from a DnfQueue (BullMQ), works on each through the batch runner
 * that extract uses (decode alone per file, the GPU per batch, atomic writes, outputs that exist
 * complete skipped), records what it did, and acknowledges.
 *
 * Delivery: a worker holds a lock on its batch and renews it every half `lockMs`, from a thread of
 * its own (lock-thread.ts: a GPU batch holds this thread for its whole duration); when the worker
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
import { Worker as Thread } from 'node:worker_threads';
import { DnfError } from '../../errors.js';
import { decodeImageFile } from '../../image/decode-node.js';
import type { RgbImage } from '../../image/pixels.js';
import { decodedImageLimits } from '../batch/memory.js';
import { isCompleteOutput, removeStaleTemps, type PlannedItem } from '../batch/plan.js';
import { runBatches, type Prepared } from '../batch/runner.js';
import { formatDuration, Progress, type ProgressSink } from '../progress.js';
import type { FromThread, LockThreadData, ToThread } from './lock-thread.js';
import type { BatchData, BatchResult, DnfQueue } from './store.js';

export interface QueueWorkerOptions<C = string> {
  queue: DnfQueue;
  /** The output folder, where every output name of the queue is joined. */
  output: string;
  /** Images per processBatch call. */
  batchSize: number;
  processBatch(entries: Prepared<PlannedItem, RgbImage>[]): Promise<Array<C | Error>>;
  /** Writes what processBatch computed while the next GPU batch runs (see runBatches); without it, processBatch writes. */
  finishBatch?(items: PlannedItem[], computed: C[]): Promise<Array<string | Error>>;
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
export async function runQueueWorker<C = string>(opts: QueueWorkerOptions<C>): Promise<QueueWorkerReport> {
  const q = opts.queue;
  const sink = opts.sink ?? process.stderr;
  const say = (line: string) => sink.write(`worker: ${line}\n`);
  const name = `${hostname()} ${process.pid}`;
  const report: QueueWorkerReport = { batches: 0, done: 0, skipped: 0, failed: 0, interrupted: false };

  /** Works on one batch: its result, or null when interrupted (it goes back to the queue). */
  const work = async (id: string, data: BatchData): Promise<BatchResult | null> => {
    const started = Date.now();
    const items: PlannedItem[] = data.files.map((f) => ({ path: f.path, rel: f.rel, output: join(opts.output, ...f.out.split('/')) }));
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
        finishBatch: opts.finishBatch,
        signal: opts.signal,
        progress,
      });
    } finally {
      progress.finish();
    }
    if (outcome.interrupted) return null;
    const result: BatchResult = {
      done: outcome.done.length,
      skipped: items.length - todo.length,
      failed: outcome.failed.length,
      at: Date.now(),
      ms: Date.now() - started,
      worker: name,
    };
    const doneOrSkipped = [...outcome.done.map((d) => d.item.path), ...items.filter((_, k) => complete[k]).map((i) => i.path)];
    await q.record(id, result, outcome.failed.map((f) => ({ path: f.item.path, message: f.message })), doneOrSkipped);
    report.batches++;
    report.done += result.done;
    report.skipped += result.skipped;
    report.failed += result.failed;
    say(`${id}: ${items.length} files, ${result.done} done, ${result.skipped} skipped (already done), ${result.failed} failed in ${formatDuration(result.ms)}`);
    return result;
  };

  const data: LockThreadData = { url: q.url, name: q.name, workerName: name, lockMs: opts.lockMs, maxStalled: opts.maxStalled ?? 2, exitWhenEmpty: opts.exitWhenEmpty };
  const thread = new Thread(new URL('./lock-thread.js', import.meta.url), { workerData: data });
  const send = (m: ToThread) => thread.postMessage(m);
  let fatal: unknown;
  let closing = false;
  const close = () => {
    if (closing) return;
    closing = true;
    send({ kind: 'close' });
  };
  const onAbort = () => {
    report.interrupted = true;
    close();
  };
  opts.signal?.addEventListener('abort', onAbort);
  if (opts.signal?.aborted) onAbort();
  /** Batches are handed over one at a time (concurrency 1), so they are worked on in turn. */
  let chain = Promise.resolve();
  try {
    await new Promise<void>((resolveRun, rejectRun) => {
      thread.on('error', rejectRun);
      thread.on('exit', () => resolveRun());
      thread.on('message', (m: FromThread) => {
        if (m.kind === 'log') say(m.line);
        else if (m.kind === 'empty') close();
        else if (m.kind === 'closed') void thread.terminate();
        else if (m.kind === 'job') {
          chain = chain.then(async () => {
            if (fatal !== undefined) return send({ kind: 'interrupted', id: m.id }); // stopping: back to the queue untouched
            try {
              const result = await work(m.id, m.data);
              send(result ? { kind: 'done', id: m.id, result } : { kind: 'interrupted', id: m.id });
            } catch (e) {
              // A setup error (the GPU lost) stops this worker; the batch fails this attempt and BullMQ retries it (push's --attempts).
              if (e instanceof DnfError && e.exitCode === 2) fatal ??= e;
              send({ kind: 'failed', id: m.id, message: e instanceof Error ? e.message : String(e) });
              if (fatal !== undefined) close();
            }
          });
        }
      });
    });
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
  }
  await chain;
  if (fatal !== undefined) throw fatal;
  return report;
}
