/**
 * The files of a training run folder that hold a model:
 *
 * - `last.safetensors`: the model's state dict (torchvision names), Adam's moments as
 *   `optimizer.exp_avg.<param>` and `optimizer.exp_avg_sq.<param>`, and in the metadata
 *   (`dnf.train_state`, JSON) everything else a resumed run needs to continue exactly as if never
 *   stopped: the step, the epoch and the batches of it done, the lr and early-stopping state, the
 *   loss sums, the history of epochs, the best so far, the bad files, and the length of log.jsonl
 *   at that moment. Shuffles and flips are drawn from (seed, epoch), see src/train/schedule.ts,
 *   so no generator state is needed beyond the seed.
 * - `best.safetensors`: the state dict of the best validation score so far, with the metadata of
 *   src/train/run-state.ts (which the page's Train view writes too).
 *
 * Both are written atomically (temp file, fsync, rename).
 */
import { DnfError } from '../../errors.js';
import { resnetConfigFromKeys } from '../../models/resnet-config.js';
import type { Gpu } from '../../gpu/gpu.js';
import { checkState, TrainableResNet, stateSource } from '../../train/resnet.js';
import { resnetParameters } from '../../train/init.js';
import { bestMetadata, classifierMetadata, type BestRecord, type RunConfig, type TrainState } from '../../train/run-state.js';
import type { Trainer } from '../../train/trainer.js';
import type { TensorToWrite } from '../../weights/safetensors.js';
import { openSafetensors, writeSafetensorsFile } from '../files.js';
import { parseTrainState } from './state.js';

export { archName, type BestRecord, type RunConfig, type TrainState, type ValScores } from '../../train/run-state.js';

const STATE_KEY = 'dnf.train_state';
const M = 'optimizer.exp_avg.';
const V = 'optimizer.exp_avg_sq.';

export async function saveLast(path: string, trainer: Trainer, state: TrainState): Promise<void> {
  const model = trainer.model;
  const tensors: TensorToWrite[] = await model.stateDict();
  const m = await model.arena.readAll('m');
  const v = await model.arena.readAll('v');
  for (const [name, shape] of resnetParameters(model.config)) {
    tensors.push({ name: M + name, dtype: 'F32', shape, data: m.get(name)! });
    tensors.push({ name: V + name, dtype: 'F32', shape, data: v.get(name)! });
  }
  await writeSafetensorsFile(path, tensors, { ...classifierMetadata(state.config), [STATE_KEY]: JSON.stringify(state) });
}

export async function saveBest(path: string, trainer: Trainer, config: RunConfig, best: BestRecord, badImages: number): Promise<void> {
  await writeSafetensorsFile(path, await trainer.model.stateDict(), bestMetadata(config, best, badImages));
}

/** The model, optimizer moments and state of `last.safetensors`, on `gpu`. */
export async function loadLast(gpu: Gpu, path: string): Promise<{ model: TrainableResNet; state: TrainState }> {
  const opened = await openSafetensors(path);
  try {
    const { file } = opened;
    const raw = file.metadata?.[STATE_KEY];
    if (!raw) throw new DnfError(`${path}: no training state in it (not a last.safetensors of dnf train); start a new run in another folder`);
    const state = parseTrainState(raw, path);
    const config = resnetConfigFromKeys(file, path);
    const moments = resnetParameters(config).flatMap(([name, shape]) => [[M + name, shape], [V + name, shape]] as Array<[string, number[]]>);
    checkState(config, stateSource(file), moments); // before the model's memory is allocated
    const model = new TrainableResNet(gpu, config);
    try {
      await model.loadState(stateSource(file));
      for (const [name] of resnetParameters(config)) {
        model.arena.set(name, await file.readF32(M + name), 'm');
        model.arena.set(name, await file.readF32(V + name), 'v');
      }
    } catch (e) {
      model.dispose();
      throw e;
    }
    return { model, state };
  } finally {
    await opened.close();
  }
}
