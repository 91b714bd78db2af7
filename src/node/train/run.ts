/**
 * A training run of `dnf train` (reference section 3, train.py): epochs of shuffled, flipped
 * batches through Trainer (forward in train mode, BCEWithLogits, backward, Adam), validation
 * accuracy and AP after every epoch with the model as detect runs it (BatchNorm folded, eval-mode
 * running statistics), early stopping with lr drops (src/train/schedule.ts), and the run folder:
 *
 *   last.safetensors   model + Adam moments + state (checkpoint.ts): at every epoch's end, every
 *                      --save-every steps or 10 minutes, on Ctrl-C and at the end
 *   best.safetensors   the best validation score so far (the reference overwrites its
 *                      model_epoch_best with the first epoch after every lr drop; here the best
 *                      is the best of the whole run)
 *   log.jsonl          one line per step and per epoch, appended as they happen (a resume cuts
 *                      it back to the length the saved state recorded, so no line is doubled)
 *   curves.svg         train loss and validation accuracy / AP per epoch, after every epoch
 *
 * A resumed run (also after kill -9) continues from last.safetensors exactly as if never
 * stopped: the batches of the interrupted epoch come from (seed, epoch), and everything else is in
 * the saved state, so best.safetensors ends with the same bytes.
 */
import { mkdir, open, stat, truncate, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { classifyDnfImages, DEFAULT_THRESHOLD } from '../../pipeline/classify.js';
import { DnfError } from '../../errors.js';
import type { Gpu } from '../../gpu/gpu.js';
import { DEFAULT_ANTIALIAS } from '../../pipeline/preprocess.js';
import { detectionMetrics } from '../../metrics.js';
import { renderCurvesSvg } from '../../train/curves.js';
import { batchesPerEpoch, epochFlips, epochOrder, Schedule, type EpochDecision } from '../../train/schedule.js';
import { REFERENCE_ADAM, Trainer } from '../../train/trainer.js';
import { acquireGpu, releaseGpu } from '../acquire.js';
import { interruptOnSigint } from '../batch/interrupt.js';
import { writeFileAtomic } from '../files.js';
import { formatSpeed, Progress, type ProgressSink } from '../progress.js';
import { archName, loadLast, saveBest, saveLast, type BestRecord, type RunConfig, type TrainState, type ValScores } from './checkpoint.js';
import { findTrainSet, type TrainSet } from './dataset.js';
import { epochBatches } from './loader.js';
import { initialModel } from './model-init.js';

/** Options fixed at a run's start: a resume takes them from the run, and a given one must agree. */
export interface RunSettings {
  arch?: string;
  init?: string;
  batchSize?: number;
  lr?: number;
  betas?: [number, number];
  imageSize?: number;
  seed?: number;
  flip?: boolean;
  shuffle?: boolean;
  select?: 'acc' | 'ap';
  patience?: number;
  minLr?: number;
  antialias?: boolean;
}

export interface TrainOptions extends RunSettings {
  trainRoot: string;
  valRoot: string;
  output: string;
  /** Upper bound on epochs (default 10000, train.py's niter). */
  epochs?: number;
  maxSteps?: number;
  resume?: boolean;
  /** Also save last.safetensors every this many steps (besides every 10 minutes and each epoch). */
  saveEvery?: number;
  backend?: string;
}

export interface TrainHooks {
  sink?: ProgressSink;
  signal?: AbortSignal;
  gpu?: Gpu;
  /** Batches decoded ahead of the one trained on (default 2). */
  ahead?: number;
}

export type StopReason = 'early-stop' | 'epochs' | 'max-steps' | 'interrupted';

export interface TrainReport {
  steps: number;
  epochs: number;
  best: BestRecord | null;
  reason: StopReason;
  /** Training images that could not be decoded (skipped). */
  bad: number;
  /** Of this session's step time, the fraction spent waiting for decoded images. */
  dataWait: number;
  /** This session's training images per second. */
  imagesPerSecond: number;
}

const DEFAULTS = {
  arch: 'resnet50', batchSize: 64, lr: REFERENCE_ADAM.lr, betas: [REFERENCE_ADAM.beta1, REFERENCE_ADAM.beta2] as [number, number], imageSize: 256,
  seed: 0, flip: true, shuffle: true, select: 'acc' as const, patience: 5, minLr: 1e-6, antialias: DEFAULT_ANTIALIAS,
};
const SAVE_EVERY_MS = 10 * 60_000;
const FLAGS: Record<keyof RunSettings, string> = {
  arch: '--arch', init: '--init', batchSize: '--batch-size', lr: '--lr', betas: '--betas', imageSize: '--image-size', seed: '--seed',
  flip: '--no-flip', shuffle: '--no-shuffle', select: '--select', patience: '--patience', minLr: '--min-lr', antialias: '--antialias',
};

function describeSet(s: TrainSet): RunConfig['train'] {
  return { root: s.root, images: s.items.length, real: s.real, fake: s.fake, fingerprint: s.fingerprint };
}

/** A resume's given settings must be the run's own. */
function checkResumeSettings(saved: RunConfig, given: RunSettings, path: string): void {
  for (const key of Object.keys(FLAGS) as Array<keyof RunSettings>) {
    const want = given[key];
    if (want === undefined || key === 'arch' || key === 'init') continue;
    const have = saved[key as keyof RunConfig];
    if (JSON.stringify(want) !== JSON.stringify(have)) {
      throw new DnfError(`${path}: the run was started with ${FLAGS[key]} ${JSON.stringify(have)}, not ${JSON.stringify(want)}; resume without it, or start a new run in another folder`);
    }
  }
}

async function exists(path: string): Promise<boolean> {
  return !!(await stat(path).catch(() => null));
}

/** Validation with the folded model (what detect runs): metrics at the threshold. */
async function validate(trainer: Trainer, val: TrainSet, config: RunConfig, say: (l: string) => void, reported: Set<string>): Promise<ValScores> {
  const folded = await trainer.model.fold();
  const labels: number[] = [];
  const probs: number[] = [];
  try {
    const order = epochOrder(val.items.length, 0, 0, false);
    for await (const b of epochBatches(val.items, order, new Uint8Array(order.length), 0, { batchSize: config.batchSize })) {
      for (const f of b.failed) if (!reported.has(f.item.rel)) { reported.add(f.item.rel); say(`${f.item.path}: ${f.message} (skipped in validation)`); }
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

const pct = (v: number | null) => (v === null ? 'n/a' : `${(100 * v).toFixed(2)}%`);

/** Runs (or resumes) a training run; prints progress on hooks.sink (default stderr). */
export async function runTrain(opts: TrainOptions, hooks: TrainHooks = {}): Promise<TrainReport> {
  const sink = hooks.sink ?? process.stderr;
  const say = (line: string) => sink.write(`train: ${line}\n`);
  const lastPath = join(opts.output, 'last.safetensors');
  const bestPath = join(opts.output, 'best.safetensors');
  const logPath = join(opts.output, 'log.jsonl');
  const curvesPath = join(opts.output, 'curves.svg');
  const hasLast = await exists(lastPath);
  if (opts.resume && !hasLast) throw new DnfError(`${lastPath}: nothing to resume (no such file); run without --resume to start training in ${opts.output}`);
  if (!opts.resume && hasLast) throw new DnfError(`${opts.output}: holds a training run already (last.safetensors); pass --resume to continue it, or choose another -o folder`);

  const val = await findTrainSet(opts.valRoot, 'val', [opts.output]);
  const train = await findTrainSet(opts.trainRoot, 'train', [opts.output]);
  for (const s of [train, val]) {
    if (s.outside) say(`${s.root}: left out ${s.outside} images outside 0_real/1_fake/nature/ai folders`);
    for (const dir of s.skipped) say(`${s.root}: skipped the other split's folder ${dir}`);
  }

  const gpu = hooks.gpu ?? (await acquireGpu({ backend: opts.backend }));
  let trainer: Trainer | null = null;
  let log: FileHandle | null = null;
  const interrupt = hooks.signal ? null : interruptOnSigint((line) => say(line));
  const signal = hooks.signal ?? interrupt!.signal;
  try {
    let state: TrainState;
    if (opts.resume) {
      const loaded = await loadLast(gpu, lastPath);
      state = loaded.state;
      checkResumeSettings(state.config, opts, lastPath);
      for (const [s, saved, flag] of [[train, state.config.train, 'training root'], [val, state.config.val, '--val root']] as const) {
        if (s.fingerprint !== saved.fingerprint) {
          loaded.model.dispose();
          throw new DnfError(`${s.root}: the ${flag} changed since the run started (${saved.images} images then, ${s.items.length} now); restore it, or start a new run in another folder`);
        }
      }
      trainer = new Trainer(loaded.model, { ...REFERENCE_ADAM, lr: state.schedule.lr, beta1: state.config.betas[0], beta2: state.config.betas[1] });
      trainer.step = state.step; // one Adam step per training step
      say(`resuming ${lastPath}: step ${state.step}, epoch ${state.epoch + 1}, batch ${state.batch} of it, lr ${state.schedule.lr}`);
    } else {
      const { model, note } = await initialModel(gpu, { arch: opts.init ? opts.arch : (opts.arch ?? DEFAULTS.arch), init: opts.init, seed: opts.seed ?? DEFAULTS.seed });
      const s = { ...DEFAULTS, ...Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined)) } as typeof DEFAULTS & TrainOptions;
      const config: RunConfig = {
        arch: archName(model.config), imageSize: s.imageSize, antialias: s.antialias, batchSize: s.batchSize, lr: s.lr, betas: s.betas, eps: REFERENCE_ADAM.eps,
        seed: s.seed, flip: s.flip, shuffle: s.shuffle, select: s.select, patience: s.patience, minLr: s.minLr, init: opts.init ?? null,
        train: describeSet(train), val: describeSet(val),
      };
      trainer = new Trainer(model, { ...REFERENCE_ADAM, lr: config.lr, beta1: config.betas[0], beta2: config.betas[1] });
      trainer.chunkImages(config.imageSize, config.imageSize); // fails early when one image cannot fit a binding
      state = {
        version: 1, config, step: 0, epoch: 0, batch: 0, schedule: Schedule.start(config.lr, config.patience, config.minLr).state,
        epochLoss: { sum: 0, count: 0 }, history: [], best: null, bad: [], logBytes: 0, finished: null,
      };
      say(note);
    }
    const config = state.config;
    const schedule = new Schedule(state.schedule, config.patience, config.minLr);
    const epochs = opts.epochs ?? 10000;
    const maxSteps = opts.maxSteps ?? Infinity;
    const finished = (reason: StopReason, why: string): TrainReport => {
      say(`${opts.output}: this run has finished (${why}); its model is ${bestPath}`);
      return { steps: state.step, epochs: state.epoch, best: state.best, reason, bad: state.bad.length, dataWait: 0, imagesPerSecond: 0 };
    };
    if (state.finished === 'early-stop') return finished('early-stop', `lr below ${config.minLr}`);
    if (state.step >= maxSteps) return finished('max-steps', `${state.step} steps done: raise --max-steps to go on`);
    if (state.epoch >= epochs) return finished('epochs', `${state.epoch} epochs done: raise --epochs to go on`);
    state.finished = null;

    // The log, cut back to what the saved state has seen.
    if (opts.resume && (await exists(logPath))) {
      // A longer length would extend the log with zeros (a hand-edited state could ask for terabytes).
      const size = (await stat(logPath)).size;
      if (state.logBytes > size) throw new DnfError(`${logPath}: shorter (${size} bytes) than the ${state.logBytes} bytes last.safetensors recorded; restore it, or start a new run in another folder`);
      await truncate(logPath, state.logBytes);
    }
    await mkdir(opts.output, { recursive: true });
    log = await open(logPath, opts.resume ? 'a' : 'w');
    const logLine = async (obj: Record<string, unknown>) => {
      const bytes = Buffer.from(JSON.stringify(obj) + '\n');
      await log!.write(bytes);
      state.logBytes += bytes.length;
    };
    const bad = new Set(state.bad);
    const save = async () => {
      state.schedule = schedule.state;
      state.bad = [...bad];
      await saveLast(lastPath, trainer!, state);
    };

    say(`${config.arch} at ${config.imageSize}x${config.imageSize}, batch ${config.batchSize}, ${train.items.length} training images (${train.real} real, ${train.fake} generated), ` +
      `${val.items.length} validation images; ${gpu.describe().backend}; run folder ${opts.output}`);
    const valReported = new Set<string>();
    let lastSaveAt = Date.now();
    let waitMs = 0;
    let busyMs = 0;
    let sessionImages = 0;
    let reason: StopReason | null = null;

    const endEpoch = async (partial: boolean): Promise<EpochDecision | null> => {
      const scores = await validate(trainer!, val, config, say, valReported);
      const score = (config.select === 'acc' ? scores.acc : scores.ap) ?? 0;
      const improved = !state.best || score > state.best.score;
      const trainLoss = state.epochLoss.count ? state.epochLoss.sum / state.epochLoss.count : NaN;
      const decision = partial ? null : schedule.epochEnd(score);
      if (improved) {
        state.best = { ...scores, score, epoch: state.epoch + 1, step: state.step };
        await saveBest(bestPath, trainer!, config, state.best, {
          arch: config.arch, image_size: config.imageSize, batch_size: config.batchSize, lr: config.lr, betas: config.betas, seed: config.seed,
          flip: config.flip, shuffle: config.shuffle, select: config.select, init: config.init,
          train_images: config.train.images, train_real: config.train.real, train_fake: config.train.fake, bad_images: bad.size,
        });
      }
      await logLine({
        type: 'epoch', epoch: state.epoch + 1, step: state.step, partial, train_loss: trainLoss, val_acc: scores.acc, val_ap: scores.ap,
        val_real_acc: scores.realAcc, val_fake_acc: scores.fakeAcc, val_images: scores.images, lr: trainer!.adam.lr, best: improved, decision,
      });
      say(`epoch ${state.epoch + 1}${partial ? ' (partial)' : ''}: train loss ${trainLoss.toFixed(4)}, val acc ${pct(scores.acc)}, AP ${pct(scores.ap)} ` +
        `(real ${pct(scores.realAcc)}, generated ${pct(scores.fakeAcc)})${improved ? ', best so far' : ''}` +
        (decision === 'lr-dropped' ? `; no improvement for ${config.patience} epochs: lr now ${schedule.state.lr}` : decision === 'stop' ? `; lr would fall below ${config.minLr}: done` : ''));
      if (!partial) {
        state.history.push({ epoch: state.epoch + 1, step: state.step, lr: trainer!.adam.lr, trainLoss, valAcc: scores.acc, valAp: scores.ap, realAcc: scores.realAcc, fakeAcc: scores.fakeAcc });
        state.epoch++;
        state.batch = 0;
        state.epochLoss = { sum: 0, count: 0 };
        trainer!.adam = { ...trainer!.adam, lr: schedule.state.lr };
        await writeFileAtomic(curvesPath, [Buffer.from(await renderCurvesSvg(state.history, `${config.arch} on ${config.train.images} images`))]);
      }
      return decision;
    };

    training: while (state.epoch < epochs) {
      const n = train.items.length;
      const order = epochOrder(n, config.seed, state.epoch, config.shuffle);
      const flips = epochFlips(n, config.seed, state.epoch, config.flip);
      const total = batchesPerEpoch(n, config.batchSize);
      const progress = new Progress(n - Math.min(n, state.batch * config.batchSize), { label: `train epoch ${state.epoch + 1}`, sink });
      let t0 = performance.now();
      try {
        for await (const b of epochBatches(train.items, order, flips, state.batch, { batchSize: config.batchSize, ahead: hooks.ahead })) {
          const ready = performance.now();
          for (const f of b.failed) {
            if (!bad.has(f.item.rel)) progress.message(`${f.item.path}: ${f.message} (skipped)`);
            bad.add(f.item.rel);
          }
          if (b.images.length) {
            const loss = await trainer.lossAndGradientsOfImages({ images: b.images, y: b.labels, size: config.imageSize, antialias: config.antialias });
            trainer.applyGradients();
            if (!Number.isFinite(loss)) throw new DnfError(`step ${state.step + 1}: the loss is ${loss}; lower --lr, or check the images of this batch (${b.items[0]?.path} ...)`);
            state.step++;
            state.epochLoss.sum += loss;
            state.epochLoss.count++;
            const done = performance.now();
            waitMs += ready - t0;
            busyMs += done - t0;
            sessionImages += b.images.length;
            progress.detail = `loss ${loss.toFixed(4)}, step ${state.step}`;
            await logLine({
              type: 'step', step: state.step, epoch: state.epoch + 1, batch: b.index + 1, of: total, images: b.images.length, loss, lr: trainer.adam.lr,
              images_per_s: b.images.length / Math.max(1e-6, (done - t0) / 1000), data_wait_ms: Math.round(ready - t0), step_ms: Math.round(done - t0),
            });
          }
          state.batch = b.index + 1;
          progress.advance(b.images.length, b.failed.length);
          t0 = performance.now();
          if (signal.aborted || (opts.saveEvery && state.step % opts.saveEvery === 0 && b.images.length) || Date.now() - lastSaveAt > SAVE_EVERY_MS) {
            await save();
            lastSaveAt = Date.now();
            t0 = performance.now();
          }
          if (signal.aborted) { reason = 'interrupted'; break training; }
          if (state.step >= maxSteps && state.batch < total) { reason = 'max-steps'; break training; }
        }
      } finally {
        progress.finish();
      }
      const decision = await endEpoch(false);
      reason = decision === 'stop' ? 'early-stop' : signal.aborted ? 'interrupted' : state.step >= maxSteps ? 'max-steps' : state.epoch >= epochs ? 'epochs' : null;
      if (reason && reason !== 'interrupted') state.finished = reason;
      await save();
      lastSaveAt = Date.now();
      if (reason) break;
    }
    reason ??= 'epochs';
    if (reason === 'max-steps' && state.batch > 0) {
      // Stopped inside an epoch: validate the model as it is, and record the end.
      await endEpoch(true);
      state.finished = reason;
      await save();
    }
    const report: TrainReport = {
      steps: state.step, epochs: state.epoch, best: state.best, reason, bad: bad.size,
      dataWait: busyMs > 0 ? waitMs / busyMs : 0, imagesPerSecond: sessionImages / Math.max(1e-6, busyMs / 1000),
    };
    say(summary(report, opts.output, config));
    return report;
  } finally {
    interrupt?.dispose();
    await log?.close().catch(() => {});
    trainer?.model.dispose();
    if (!hooks.gpu) await releaseGpu(gpu);
  }
}

const WHY: Record<StopReason, string> = {
  'early-stop': 'the lr would fall below --min-lr',
  epochs: 'the --epochs bound',
  'max-steps': 'the --max-steps bound',
  interrupted: 'interrupted; `dnf train ... --resume` continues where it stopped',
};

function summary(r: TrainReport, dir: string, config: RunConfig): string {
  const best = r.best
    ? `best val acc ${pct(r.best.acc)}, AP ${pct(r.best.ap)} at epoch ${r.best.epoch} (step ${r.best.step}) in ${join(dir, 'best.safetensors')}`
    : 'no validation yet';
  const rate = r.imagesPerSecond > 0 ? `; ${formatSpeed(r.imagesPerSecond)}, waiting for data ${(100 * r.dataWait).toFixed(1)}% of the time` : '';
  const badNote = r.bad ? `; ${r.bad} bad training images skipped` : '';
  return `${r.steps} steps, ${r.epochs} epochs of ${config.arch}: ${best}${rate}${badNote}; stopped: ${WHY[r.reason]}`;
}
