/**
 * The training loop of `dnf train` and of the page's Train view (reference section 3, train.py):
 * epochs of shuffled, flipped batches (src/train/schedule.ts: order and flips from (seed, epoch))
 * through Trainer (forward in train mode, BCEWithLogits, backward, Adam), validation accuracy and
 * AP after every epoch with the model as detect runs it (BatchNorm folded, eval-mode running
 * statistics), early stopping with lr drops, the best model so far, and a log record per step and
 * per epoch. It stops between steps when `signal` aborts.
 *
 * Everything about where images and files live is the caller's: the data gives the items and
 * decodes them, and the hooks receive the log records, the best model, the end of each epoch and
 * the moments to save a resumable state (src/node/train/run.ts writes the run folder; the page
 * keeps the curve and the bytes of best.safetensors). The loop continues `state` from wherever it
 * is (a fresh run, or a resumed one), so the same data, settings and seed give the same steps.
 */
import { classifyDnfImages, DEFAULT_THRESHOLD } from '../pipeline/classify.js';
import { DnfError } from '../errors.js';
import type { RgbImage } from '../image/pixels.js';
import { detectionMetrics } from '../metrics.js';
import { epochBatches, type LoadedBatch, type TrainItem } from './batches.js';
import type { BestRecord, RunConfig, TrainState, ValScores } from './run-state.js';
import { batchesPerEpoch, epochFlips, epochOrder, Schedule, type EpochDecision } from './schedule.js';
import type { Trainer } from './trainer.js';

export type StopReason = 'early-stop' | 'epochs' | 'max-steps' | 'interrupted';

/** The images of a run. */
export interface TrainData<T extends TrainItem = TrainItem> {
  train: readonly T[];
  val: readonly T[];
  decode: (item: T) => Promise<RgbImage>;
  /** Batches decoded ahead of the one trained on (default 2). */
  ahead?: number;
  /** Bytes of decoded batches held ahead (default: unbounded). */
  budget?: number;
}

export interface LoopHooks<T extends TrainItem = TrainItem> {
  /** A line for the user. */
  say(line: string): void;
  /** A line about a training image that could not be decoded, the first time (default: say). */
  warn?(line: string): void;
  /** A log record ({type: 'step', ...} or {type: 'epoch', ...}), in order, awaited. */
  log(record: Record<string, unknown>): Promise<void> | void;
  /** An epoch's batches begin: `images` of them still to train on. */
  onEpochStart?(epoch: number, images: number): void;
  /** A batch was trained on (`loss` null when none of its images could be decoded). */
  onBatch?(batch: LoadedBatch<T>, loss: number | null, state: TrainState): void;
  /** An epoch's batches are over (also when it stopped early). */
  onEpochStop?(): void;
  /** The model is the best so far (state.best): keep it. */
  onBest(best: BestRecord, badImages: number): Promise<void>;
  /** A full epoch has ended: state.history holds it. */
  onEpochEnd?(state: TrainState): Promise<void>;
  /** Whether to save a resumable state after this batch (besides on abort and every epoch's end). */
  saveDue?(state: TrainState, batchImages: number): boolean;
  /** Save a resumable state (state.schedule and state.bad are up to date). */
  save?(state: TrainState): Promise<void>;
}

export interface LoopOptions<T extends TrainItem = TrainItem> {
  trainer: Trainer;
  state: TrainState;
  data: TrainData<T>;
  hooks: LoopHooks<T>;
  /** Upper bound on epochs (default 10000, train.py's niter). */
  epochs?: number;
  maxSteps?: number;
  signal?: AbortSignal;
}

export interface LoopReport {
  reason: StopReason;
  /** Training images that could not be decoded (skipped), over the whole run. */
  bad: number;
  /** Of this session's step time, the fraction spent waiting for decoded images. */
  dataWait: number;
  /** This session's training images per second. */
  imagesPerSecond: number;
}

export const pct = (v: number | null) => (v === null ? 'n/a' : `${(100 * v).toFixed(2)}%`);

/** Validation with the folded model (what detect runs): metrics at the threshold. */
export async function validate<T extends TrainItem>(trainer: Trainer, data: TrainData<T>, config: RunConfig, onBad: (item: T, message: string) => void): Promise<ValScores> {
  const folded = await trainer.model.fold();
  const labels: number[] = [];
  const probs: number[] = [];
  try {
    const order = epochOrder(data.val.length, 0, 0, false);
    for await (const b of epochBatches(data.val, order, new Uint8Array(order.length), 0, { batchSize: config.batchSize, decode: data.decode, budget: data.budget })) {
      for (const f of b.failed) onBad(f.item, f.message);
      if (!b.images.length) continue;
      const verdicts = await classifyDnfImages(folded, b.images, { size: config.imageSize, antialias: config.antialias });
      verdicts.forEach((v, i) => { labels.push(b.labels[i]); probs.push(v.prob); });
    }
  } finally {
    folded.dispose();
  }
  const m = detectionMetrics(labels, probs, DEFAULT_THRESHOLD);
  return { acc: m.acc, ap: m.ap, realAcc: m.realAcc, fakeAcc: m.fakeAcc, images: m.count };
}

/** Trains from `state` on until an epoch bound, the step bound, early stopping or the signal. */
export async function trainLoop<T extends TrainItem>(opts: LoopOptions<T>): Promise<LoopReport> {
  const { trainer, state, data, hooks } = opts;
  const { config } = state;
  const say = (line: string) => hooks.say(line);
  const warn = (line: string) => (hooks.warn ? hooks.warn(line) : say(line));
  const signal = opts.signal ?? new AbortController().signal;
  const schedule = new Schedule(state.schedule, config.patience, config.minLr);
  const epochs = opts.epochs ?? 10000;
  const maxSteps = opts.maxSteps ?? Infinity;
  const bad = new Set(state.bad);
  const valReported = new Set<string>();
  const save = async () => {
    state.schedule = schedule.state;
    state.bad = [...bad];
    await hooks.save?.(state);
  };
  let waitMs = 0;
  let busyMs = 0;
  let sessionImages = 0;
  let reason: StopReason | null = null;

  const endEpoch = async (partial: boolean): Promise<EpochDecision | null> => {
    const scores = await validate(trainer, data, config, (item, message) => {
      if (valReported.has(item.rel)) return;
      valReported.add(item.rel);
      say(`${item.path}: ${message} (skipped in validation)`);
    });
    const score = (config.select === 'acc' ? scores.acc : scores.ap) ?? 0;
    const improved = !state.best || score > state.best.score;
    const trainLoss = state.epochLoss.count ? state.epochLoss.sum / state.epochLoss.count : NaN;
    const decision = partial ? null : schedule.epochEnd(score);
    if (improved) {
      state.best = { ...scores, score, epoch: state.epoch + 1, step: state.step };
      await hooks.onBest(state.best, bad.size);
    }
    await hooks.log({
      type: 'epoch', epoch: state.epoch + 1, step: state.step, partial, train_loss: trainLoss, val_acc: scores.acc, val_ap: scores.ap,
      val_real_acc: scores.realAcc, val_fake_acc: scores.fakeAcc, val_images: scores.images, lr: trainer.adam.lr, best: improved, decision,
    });
    say(`epoch ${state.epoch + 1}${partial ? ' (partial)' : ''}: train loss ${trainLoss.toFixed(4)}, val acc ${pct(scores.acc)}, AP ${pct(scores.ap)} ` +
      `(real ${pct(scores.realAcc)}, generated ${pct(scores.fakeAcc)})${improved ? ', best so far' : ''}` +
      (decision === 'lr-dropped' ? `; no improvement for ${config.patience} epochs: lr now ${schedule.state.lr}` : decision === 'stop' ? `; lr would fall below ${config.minLr}: done` : ''));
    if (!partial) {
      state.history.push({ epoch: state.epoch + 1, step: state.step, lr: trainer.adam.lr, trainLoss, valAcc: scores.acc, valAp: scores.ap, realAcc: scores.realAcc, fakeAcc: scores.fakeAcc });
      state.epoch++;
      state.batch = 0;
      state.epochLoss = { sum: 0, count: 0 };
      trainer.adam = { ...trainer.adam, lr: schedule.state.lr };
      await hooks.onEpochEnd?.(state);
    }
    return decision;
  };

  training: while (state.epoch < epochs) {
    const n = data.train.length;
    const order = epochOrder(n, config.seed, state.epoch, config.shuffle);
    const flips = epochFlips(n, config.seed, state.epoch, config.flip);
    const total = batchesPerEpoch(n, config.batchSize);
    hooks.onEpochStart?.(state.epoch + 1, n - Math.min(n, state.batch * config.batchSize));
    let t0 = performance.now();
    try {
      for await (const b of epochBatches(data.train, order, flips, state.batch, { batchSize: config.batchSize, ahead: data.ahead, budget: data.budget, decode: data.decode })) {
        const ready = performance.now();
        for (const f of b.failed) {
          if (!bad.has(f.item.rel)) warn(`${f.item.path}: ${f.message} (skipped)`);
          bad.add(f.item.rel);
        }
        let loss: number | null = null;
        if (b.images.length) {
          loss = await trainer.lossAndGradientsOfImages({ images: b.images, y: b.labels, size: config.imageSize, antialias: config.antialias });
          trainer.applyGradients();
          if (!Number.isFinite(loss)) throw new DnfError(`step ${state.step + 1}: the loss is ${loss}; lower --lr, or check the images of this batch (${b.items[0]?.path} ...)`);
          state.step++;
          state.epochLoss.sum += loss;
          state.epochLoss.count++;
          const done = performance.now();
          waitMs += ready - t0;
          busyMs += done - t0;
          sessionImages += b.images.length;
          await hooks.log({
            type: 'step', step: state.step, epoch: state.epoch + 1, batch: b.index + 1, of: total, images: b.images.length, loss, lr: trainer.adam.lr,
            images_per_s: b.images.length / Math.max(1e-6, (done - t0) / 1000), data_wait_ms: Math.round(ready - t0), step_ms: Math.round(done - t0),
          });
        }
        state.batch = b.index + 1;
        hooks.onBatch?.(b, loss, state);
        t0 = performance.now();
        if (signal.aborted || (hooks.saveDue?.(state, b.images.length) ?? false)) {
          await save();
          t0 = performance.now();
        }
        if (signal.aborted) { reason = 'interrupted'; break training; }
        if (state.step >= maxSteps && state.batch < total) { reason = 'max-steps'; break training; }
      }
    } finally {
      hooks.onEpochStop?.();
    }
    const decision = await endEpoch(false);
    reason = decision === 'stop' ? 'early-stop' : signal.aborted ? 'interrupted' : state.step >= maxSteps ? 'max-steps' : state.epoch >= epochs ? 'epochs' : null;
    if (reason && reason !== 'interrupted') state.finished = reason;
    await save();
    if (reason) break;
  }
  reason ??= 'epochs';
  if (reason === 'max-steps' && state.batch > 0) {
    // Stopped inside an epoch: validate the model as it is, and record the end.
    await endEpoch(true);
    state.finished = reason;
    await save();
  }
  return { reason, bad: bad.size, dataWait: busyMs > 0 ? waitMs / busyMs : 0, imagesPerSecond: sessionImages / Math.max(1e-6, busyMs / 1000) };
}
