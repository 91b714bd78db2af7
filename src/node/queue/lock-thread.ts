/**
 * The BullMQ side of a queue worker, in a thread of its own (worker.ts starts it): takes batches,
 * hands each to the main thread, keeps the batch's lock renewed while the main thread computes,
 * runs the stalled check, and acknowledges with what the main thread answers.
 *
 * Why a thread: on CPU adapters a GPU batch holds the JavaScript thread for its whole duration
 * (measured: up to 3.9 s for 16 images of the 12x12 test UNet on llvmpipe; minutes with the LSUN
 * UNet), and BullMQ renews a lock from a timer. Renewed from the computing thread the lock would
 * expire during every long GPU batch and the batch would go to a second worker while the first
 * still works on it. Here the timers run on this thread's event loop, which nothing blocks.
 *
 * Messages: main -> thread: {done, id, result} | {failed, id, message} | {interrupted, id} | {close}.
 * thread -> main: {job, id, data} | {empty} | {log, line} | {closed}.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { Queue, WaitingError, Worker, type Job } from 'bullmq';
import { connectionOptions, PREFIX, type BatchData, type BatchResult } from './store.js';

export interface LockThreadData {
  url: string;
  name: string;
  workerName: string;
  lockMs: number;
  maxStalled: number;
  exitWhenEmpty: boolean;
}

export type ToThread =
  | { kind: 'done'; id: string; result: BatchResult }
  | { kind: 'failed'; id: string; message: string }
  | { kind: 'interrupted'; id: string }
  | { kind: 'close' };

export type FromThread = { kind: 'job'; id: string; data: BatchData } | { kind: 'empty' } | { kind: 'log'; line: string } | { kind: 'closed' };

/** How often an idle worker with exitWhenEmpty looks whether the queue is empty. */
const EMPTY_POLL_MS = 500;

const port = parentPort!;
const opts = workerData as LockThreadData;
const post = (m: FromThread) => port.postMessage(m);
const answers = new Map<string, (m: ToThread) => void>();

const worker = new Worker<BatchData, BatchResult>(
  opts.name,
  async (job: Job<BatchData, BatchResult>, token?: string) => {
    const id = job.id!;
    const answer = await new Promise<ToThread>((resolve) => {
      answers.set(id, resolve);
      post({ kind: 'job', id, data: job.data });
    });
    answers.delete(id);
    if (answer.kind === 'done') return answer.result;
    if (answer.kind === 'interrupted') {
      await job.moveToWait(token); // back to the queue as it was, no attempt counted
      throw new WaitingError();
    }
    throw new Error(answer.kind === 'failed' ? answer.message : 'the worker stopped');
  },
  {
    connection: connectionOptions(opts.url, false),
    prefix: PREFIX,
    name: opts.workerName,
    concurrency: 1,
    lockDuration: opts.lockMs,
    stalledInterval: opts.lockMs,
    maxStalledCount: opts.maxStalled,
    drainDelay: Math.max(1, Math.min(5, Math.round(opts.lockMs / 1000))),
  },
);

let lastError = '';
worker.on('error', (e) => {
  const text = e instanceof Error ? e.message : String(e);
  if (text !== lastError) post({ kind: 'log', line: `Redis: ${text} (retrying)` });
  lastError = text;
});
worker.on('failed', (job, e) => {
  if (job && !(e instanceof WaitingError)) post({ kind: 'log', line: `${job.id} failed (attempt ${job.attemptsMade} of ${job.opts.attempts ?? 1}): ${e.message}` });
});

/** For the job counts of exitWhenEmpty. */
const counter = opts.exitWhenEmpty ? new Queue(opts.name, { connection: connectionOptions(opts.url, false), prefix: PREFIX }) : undefined;
counter?.on('error', () => {}); // the worker reports connection errors
let looking = false;
const poll = opts.exitWhenEmpty
  ? setInterval(() => {
      if (looking) return;
      looking = true;
      counter!
        .getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'waiting-children')
        .then((counts) => {
          if (Object.values(counts).every((n) => n === 0)) post({ kind: 'empty' });
        }, () => {})
        .finally(() => (looking = false));
    }, EMPTY_POLL_MS)
  : undefined;

port.on('message', (m: ToThread) => {
  if (m.kind !== 'close') {
    answers.get(m.id)?.(m);
    return;
  }
  clearInterval(poll);
  Promise.all([worker.close(), counter?.close()]).then(
    () => post({ kind: 'closed' }),
    () => post({ kind: 'closed' }),
  );
});
