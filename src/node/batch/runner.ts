/**
 * The batch runner shared by extract, detect and eval: items go through a per-item `prepare` step
 * (decoding: a bad file fails alone), then the good ones of each batch through one `processBatch`
 * call (the GPU). One bad input never stops the job: it is reported in one line and counted.
 *
 * Failure rules:
 * - `prepare` throwing fails that item, unless it throws a DnfError with exit code 2 (a setup
 *   problem that would hit every item): that stops the job.
 * - `processBatch` returning an Error in an item's slot fails that item.
 * - `processBatch` throwing a DnfError with exit code 1 (an input the engine cannot take) reruns
 *   the batch one item at a time to find the culprit; any other throw stops the job.
 *
 * While the GPU works on one batch the next one is prepared, so decoding overlaps the GPU.
 * An aborted `signal` stops the job between batches: a batch whose processing started finishes
 * (its outputs are complete), the rest is left for the next run.
 */
import { DnfError } from '../../errors.js';
import type { Progress } from '../progress.js';

/** An item with what `prepare` made of it. */
export interface Prepared<T, D> {
  item: T;
  data: D;
}

export interface BatchJob<T, D, R> {
  items: readonly T[];
  /** Items per processBatch call (the last batch may be smaller). */
  batchSize: number;
  /** Per-item work before batching, e.g. decoding the file. */
  prepare(item: T): Promise<D>;
  /** Works on the prepared items of one batch: one result or Error per entry, in order. */
  processBatch(entries: Prepared<T, D>[]): Promise<Array<R | Error>>;
  /** How messages name an item (usually its path). */
  name(item: T): string;
  /** Aborting it stops the job after the batch in flight. */
  signal?: AbortSignal;
  /** Gets counts after each batch and one message per failed item. */
  progress: Progress;
  /** How many items `prepare` works on at once (default 4). */
  prepareConcurrency?: number;
}

export interface ItemFailure<T> {
  item: T;
  error: unknown;
  /** The one line printed for it, naming the item. */
  message: string;
}

export interface BatchOutcome<T, R> {
  /** Finished items with their results, in input order. */
  done: Array<{ item: T; result: R }>;
  failed: ItemFailure<T>[];
  /** Items not attempted because the signal aborted. */
  remaining: number;
  interrupted: boolean;
}

/** Whether an error is about one input (the job goes on) rather than the setup (the job stops). */
const isInputError = (e: unknown): boolean => e instanceof DnfError && e.exitCode === 1;

/** One line naming the item: the error's message, prefixed with the item's name unless it has it. */
export function failureMessage(name: string, e: unknown): string {
  const msg = (e instanceof Error ? e.message : String(e)).replace(/\s*\n\s*/g, ' ');
  return msg.includes(name) ? msg : `${name}: ${msg}`;
}

interface PreparedBatch<T, D> {
  ready: Prepared<T, D>[];
  failed: Array<{ item: T; error: unknown }>;
  /** A setup error from prepare: the job must stop. */
  fatal?: unknown;
}

/** Runs `job`; resolves with what happened, rejects only on errors that stop the job. */
export async function runBatches<T, D, R>(job: BatchJob<T, D, R>): Promise<BatchOutcome<T, R>> {
  if (!Number.isInteger(job.batchSize) || job.batchSize < 1) throw new Error(`runBatches: batchSize must be a positive integer, got ${job.batchSize}`);
  const batches: T[][] = [];
  for (let i = 0; i < job.items.length; i += job.batchSize) batches.push(job.items.slice(i, i + job.batchSize));

  const outcome: BatchOutcome<T, R> = { done: [], failed: [], remaining: 0, interrupted: false };
  const fail = (item: T, error: unknown) => {
    const message = failureMessage(job.name(item), error);
    outcome.failed.push({ item, error, message });
    job.progress.message(message);
  };

  let next: Promise<PreparedBatch<T, D>> | null = batches.length ? prepareBatch(job, batches[0]) : null;
  for (let b = 0; b < batches.length; b++) {
    const prepared = await next!;
    if (job.signal?.aborted) {
      outcome.interrupted = true;
      outcome.remaining = job.items.length - b * job.batchSize;
      break;
    }
    if (prepared.fatal !== undefined) throw prepared.fatal;
    next = b + 1 < batches.length ? prepareBatch(job, batches[b + 1]) : null;

    for (const f of prepared.failed) fail(f.item, f.error);
    const results = prepared.ready.length ? await processIsolated(job, prepared.ready) : [];
    let done = 0;
    results.forEach((r, i) => {
      const item = prepared.ready[i].item;
      if (r instanceof Error) fail(item, r);
      else {
        outcome.done.push({ item, result: r });
        done++;
      }
    });
    job.progress.advance(done, batches[b].length - done);
  }
  return outcome;
}

/** Prepares each item of a batch (a few at a time); never rejects. */
async function prepareBatch<T, D, R>(job: BatchJob<T, D, R>, items: T[]): Promise<PreparedBatch<T, D>> {
  const settled: Array<{ data: D } | { error: unknown }> = new Array(items.length);
  let nextIndex = 0;
  const worker = async () => {
    while (nextIndex < items.length) {
      const i = nextIndex++;
      try {
        settled[i] = { data: await job.prepare(items[i]) };
      } catch (error) {
        settled[i] = { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(items.length, job.prepareConcurrency ?? 4) }, worker));

  const out: PreparedBatch<T, D> = { ready: [], failed: [] };
  settled.forEach((s, i) => {
    if ('data' in s) out.ready.push({ item: items[i], data: s.data });
    else if (s.error instanceof DnfError && s.error.exitCode === 2) out.fatal ??= s.error;
    else out.failed.push({ item: items[i], error: s.error });
  });
  return out;
}

/** processBatch, retried item by item when it throws an input error, to isolate the bad one. */
async function processIsolated<T, D, R>(job: BatchJob<T, D, R>, entries: Prepared<T, D>[]): Promise<Array<R | Error>> {
  let results: Array<R | Error>;
  try {
    results = await job.processBatch(entries);
  } catch (e) {
    if (!isInputError(e)) throw e;
    if (entries.length === 1) return [e as DnfError];
    const one: Array<R | Error> = [];
    for (const entry of entries) one.push(...(await processIsolated(job, [entry])));
    return one;
  }
  if (results.length !== entries.length) {
    throw new Error(`processBatch returned ${results.length} results for ${entries.length} items`);
  }
  return results;
}
