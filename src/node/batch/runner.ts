/**
 * The batch runner shared by extract, detect and eval: items go through a per-item `prepare` step
 * (decoding: a bad file fails alone), then the good ones of each batch through one `processBatch`
 * call (the GPU). One bad input never stops the job: it is reported in one line and counted.
 *
 * Failure rules (only setup problems stop the job; anything about one input is that input's failure):
 * - `prepare` throwing fails that item, unless it throws a DnfError with exit code 2 (a setup
 *   problem that would hit every item): that stops the job.
 * - `processBatch` returning an Error in an item's slot fails that item.
 * - `processBatch` throwing reruns the batch one item at a time to find the culprit, whatever it
 *   threw (a resize limit, a GPU validation error, a write error), and an item that throws alone
 *   fails alone. Two cases stop the job instead: a DnfError with exit code 2 (setup, or the GPU
 *   device lost), and a batch whose every item fails alone with one same error that is not a
 *   DnfError(1) about an input: that is the engine failing, not the inputs, and repeating it for
 *   every file would only bury it.
 *
 * Memory: with `memoryBudget` and `cost`, batches are sized by bytes as well as by count. A batch
 * closes early when its next item would take it past half the budget (an item larger than that
 * goes alone), and the next batch is prepared while the current one is processed only when both
 * fit the budget together; otherwise it is prepared after. So decoded pixels held at once stay
 * within the budget, or within one item when a single item is larger.
 *
 * While the GPU works on one batch the next one is prepared, so decoding overlaps the GPU. With
 * `finishBatch`, a batch's results are finished (encoded and written, say) while the next batch
 * is processed, so that the GPU does not wait for the writes either; batches still settle (progress,
 * `settled`, the outcome) in input order, each once its finish is done.
 * An aborted `signal` stops the job between batches: a batch whose processing started finishes
 * (its outputs are complete), the rest is left for the next run.
 */
import { DnfError, oneLine } from '../../errors.js';
import type { Progress } from '../progress.js';

/** An item with what `prepare` made of it. */
export interface Prepared<T, D> {
  item: T;
  data: D;
}

/**
 * A batch job: items prepared, processed in batches, optionally finished. R is an item's result;
 * C what processBatch computes for it (R itself unless a finishBatch turns C into R).
 */
export interface BatchJob<T, D, R, C = R> {
  items: readonly T[];
  /** Items per processBatch call (the last batch may be smaller). */
  batchSize: number;
  /** Per-item work before batching, e.g. decoding the file. */
  prepare(item: T): Promise<D>;
  /** Works on the prepared items of one batch: one result or Error per entry, in order. */
  processBatch(entries: Prepared<T, D>[]): Promise<Array<C | Error>>;
  /**
   * Finishes what processBatch computed for a batch's items (those it did not fail), while the
   * next batch is processed: one result or Error per item, in order. Failures as processBatch's:
   * throwing reruns it item by item. Without it, processBatch's results are the results.
   */
  finishBatch?(items: T[], computed: C[]): Promise<Array<R | Error>>;
  /** How messages name an item (usually its path). */
  name(item: T): string;
  /** Aborting it stops the job after the batch in flight. */
  signal?: AbortSignal;
  /** Gets counts after each batch and one message per failed item. */
  progress: Progress;
  /** How many items `prepare` works on at once (default 4). */
  prepareConcurrency?: number;
  /** Bytes an item will hold once prepared (e.g. its decoded pixels, from the file's header). */
  cost?(item: T): Promise<number> | number;
  /** Most bytes of prepared items to hold at once (needs `cost`; default: no limit). */
  memoryBudget?: number;
  /** Called once a batch's prepared data is dropped, with its cost (e.g. to collect garbage). */
  released?(bytes: number): void;
  /**
   * Called after each batch with its items in input order, each with its result or its failure
   * (skipped items left out): batches come in input order too, so outputs that list failed
   * items among the others (detect's --json) keep the input order.
   */
  settled?(entries: Array<Settled<T, R>>): void;
}

/** One item of a finished batch: its result, or the failure reported for it. */
export type Settled<T, R> = { item: T; result: R; failure?: undefined } | { item: T; result?: undefined; failure: ItemFailure<T> };

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
  /** Items whose `prepare` threw ItemSkipped: another run has them. */
  skipped: T[];
  /** Items not attempted because the signal aborted. */
  remaining: number;
  interrupted: boolean;
}

/** Thrown by `prepare` for an item that is not this run's to do (another run did it or is doing it). */
export class ItemSkipped extends Error {}

/** Whether an error stops the job: a setup problem (DnfError with exit code 2, e.g. the device lost). */
const isFatal = (e: unknown): boolean => e instanceof DnfError && e.exitCode === 2;
/** Whether an error is about one input. */
const isInputError = (e: unknown): boolean => e instanceof DnfError && e.exitCode === 1;

/** One line naming the item: the error's message, prefixed with the item's name unless it has it, capped in length. */
export function failureMessage(name: string, e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return oneLine(msg.includes(name) ? msg : `${name}: ${msg}`);
}

interface PreparedBatch<T, D> {
  ready: Prepared<T, D>[];
  failed: Array<{ item: T; error: unknown }>;
  skipped: T[];
  /** A setup error from prepare: the job must stop. */
  fatal?: unknown;
}

/** A batch's items with the bytes they will hold. */
interface PlannedBatch<T> {
  start: number;
  items: T[];
  bytes: number;
}

/** Runs `job`; resolves with what happened, rejects only on errors that stop the job. */
export function runBatches<T, D, R, C>(job: BatchJob<T, D, R, C> & Required<Pick<BatchJob<T, D, R, C>, 'finishBatch'>>): Promise<BatchOutcome<T, R>>;
export function runBatches<T, D, R>(job: BatchJob<T, D, R>): Promise<BatchOutcome<T, R>>;
export function runBatches<T, D, R, C>(job: BatchJob<T, D, R, C>): Promise<BatchOutcome<T, R>>;
export async function runBatches<T, D, R, C>(job: BatchJob<T, D, R, C>): Promise<BatchOutcome<T, R>> {
  if (!Number.isInteger(job.batchSize) || job.batchSize < 1) throw new Error(`runBatches: batchSize must be a positive integer, got ${job.batchSize}`);
  const budget = job.cost && job.memoryBudget !== undefined ? job.memoryBudget : Infinity;
  const outcome: BatchOutcome<T, R> = { done: [], failed: [], skipped: [], remaining: 0, interrupted: false };
  const fail = (item: T, error: unknown): ItemFailure<T> => {
    const message = failureMessage(job.name(item), error);
    const failure = { item, error, message };
    outcome.failed.push(failure);
    job.progress.message(message);
    return failure;
  };

  let cursor = 0;
  /** Costs found for items past the last batch's cut, by index: each item's header is read once. */
  const known = new Map<number, number>();
  /** The next batch: up to batchSize items, within half the budget unless a single item. */
  const planBatch = async (): Promise<PlannedBatch<T> | null> => {
    if (cursor >= job.items.length) return null;
    const start = cursor;
    const candidates = job.items.slice(start, start + job.batchSize);
    const costs = job.cost ? await Promise.all(candidates.map(async (it, k) => known.get(start + k) ?? costOf(job, it))) : candidates.map(() => 0);
    let n = 0;
    let bytes = 0;
    while (n < candidates.length && (n === 0 || bytes + costs[n] <= budget / 2)) bytes += costs[n++];
    cursor = start + n;
    known.clear();
    for (let k = n; k < candidates.length; k++) known.set(start + k, costs[k]);
    return { start, items: candidates.slice(0, n), bytes };
  };

  /** Settles a processed batch: its failures, finish and results, in input order. */
  const settle = async (batch: PlannedBatch<T>, prepared: PreparedBatch<T, D>, ready: T[], computed: Array<C | Error>) => {
    const ends = new Map<T, Settled<T, R>>();
    for (const f of prepared.failed) ends.set(f.item, { item: f.item, failure: fail(f.item, f.error) });
    if (prepared.skipped.length) {
      outcome.skipped.push(...prepared.skipped);
      job.progress.skip(prepared.skipped.length);
    }
    const results = await finishIsolated(job, ready, computed);
    let done = 0;
    results.forEach((r, i) => {
      const item = ready[i];
      if (r instanceof Error) ends.set(item, { item, failure: fail(item, r) });
      else {
        outcome.done.push({ item, result: r });
        ends.set(item, { item, result: r });
        done++;
      }
    });
    job.settled?.(batch.items.flatMap((item) => ends.get(item) ?? []));
    job.progress.advance(done, batch.items.length - done - prepared.skipped.length);
  };
  // The batch being finished while the next is processed (finishBatch only), and its error.
  let finishing: Promise<void> = Promise.resolve();
  let finishError: { error: unknown } | null = null;
  const settled = async () => {
    await finishing;
    if (finishError) throw finishError.error;
  };

  let current = await planBatch();
  let next: Promise<PreparedBatch<T, D>> | null = current ? prepareBatch(job, current.items) : null;
  try {
    while (current) {
      const prepared = await next!;
      if (job.signal?.aborted) {
        outcome.interrupted = true;
        outcome.remaining = job.items.length - current.start;
        break;
      }
      if (prepared.fatal !== undefined) throw prepared.fatal;
      const following = await planBatch();
      const overlap = following !== null && current.bytes + following.bytes <= budget;
      next = following && overlap ? prepareBatch(job, following.items) : null;

      const ready = prepared.ready.map((e) => e.item);
      const computed = prepared.ready.length ? await processIsolated(job, prepared.ready) : [];
      prepared.ready.length = 0; // the decoded data can go before the next batch is decoded
      await settled(); // the previous batch, finished meanwhile, settles first
      const batch = current;
      finishing = settle(batch, prepared, ready, computed).catch((error) => {
        finishError = { error };
      });
      if (!job.finishBatch) await settled();
      job.released?.(batch.bytes);
      if (following && !overlap) next = prepareBatch(job, following.items);
      current = following;
    }
  } finally {
    await finishing; // a batch whose processing started is finished, whatever stops the job
  }
  await settled();
  return outcome;
}

/**
 * finishBatch over the items processBatch did not fail (their results passed through), rerun item
 * by item when it throws, as processIsolated; processBatch's results as they are without it.
 */
async function finishIsolated<T, D, R, C>(job: BatchJob<T, D, R, C>, items: T[], computed: Array<C | Error>): Promise<Array<R | Error>> {
  if (!job.finishBatch) return computed as Array<R | Error>;
  const at = computed.flatMap((c, i) => (c instanceof Error ? [] : [i]));
  const out = computed.slice() as Array<R | Error>;
  const finished = at.length ? await isolated(at, (ks) => job.finishBatch!(ks.map((k) => items[k]), ks.map((k) => computed[k] as C)), 'finishBatch') : [];
  at.forEach((k, j) => (out[k] = finished[j]));
  return out;
}

/** The item's cost in bytes; a cost that cannot be found counts as 0 (prepare will report the file). */
async function costOf<T, D, R, C>(job: BatchJob<T, D, R, C>, item: T): Promise<number> {
  try {
    const c = await job.cost!(item);
    return Number.isFinite(c) && c > 0 ? c : 0;
  } catch {
    return 0;
  }
}

/** Prepares each item of a batch (a few at a time); never rejects. */
async function prepareBatch<T, D, R, C>(job: BatchJob<T, D, R, C>, items: T[]): Promise<PreparedBatch<T, D>> {
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

  const out: PreparedBatch<T, D> = { ready: [], failed: [], skipped: [] };
  settled.forEach((s, i) => {
    if ('data' in s) out.ready.push({ item: items[i], data: s.data });
    else if (s.error instanceof ItemSkipped) out.skipped.push(items[i]);
    else if (isFatal(s.error)) out.fatal ??= s.error;
    else out.failed.push({ item: items[i], error: s.error });
  });
  return out;
}

/**
 * processBatch, rerun item by item when it throws, to isolate the bad input. Rethrows setup errors,
 * and an error that every item of the batch hits alike (see the header).
 */
async function processIsolated<T, D, R, C>(job: BatchJob<T, D, R, C>, entries: Prepared<T, D>[]): Promise<Array<C | Error>> {
  return isolated(entries, (es) => job.processBatch(es), 'processBatch');
}

/** `work` on a batch, rerun one entry at a time when it throws (see processIsolated). */
async function isolated<E, V>(entries: E[], work: (entries: E[]) => Promise<Array<V | Error>>, name: string): Promise<Array<V | Error>> {
  let results: Array<V | Error>;
  try {
    results = await work(entries);
  } catch (e) {
    if (isFatal(e)) throw e;
    if (entries.length === 1) return [asError(e)];
    const one: Array<V | Error> = [];
    for (const entry of entries) one.push(...(await isolated([entry], work, name)));
    const alike = one.every((r) => r instanceof Error && !isInputError(r) && r.message === (one[0] as Error).message);
    if (alike) throw one[0];
    return one;
  }
  if (results.length !== entries.length) {
    throw new Error(`${name} returned ${results.length} results for ${entries.length} items`);
  }
  return results;
}

const asError = (e: unknown): Error => (e instanceof Error ? e : new Error(String(e)));
