/**
 * The model a training run starts from: torchvision's architecture with the reference's init
 * (src/train/init.ts, seeded), or the weights of `--init FILE` (safetensors, or a PyTorch
 * checkpoint converted in memory as `dnf convert` would; the architecture is read from its keys).
 * An init whose fc has another number of outputs (an ImageNet checkpoint's 1000) keeps every
 * other weight and gets the reference's new fc: Linear(C, 1), weight ~ N(0, 0.02).
 */
import { basename } from 'node:path';
import { DnfError } from '../../errors.js';
import type { Gpu } from '../../gpu/gpu.js';
import { resnetConfigFromKeys, resnetPreset, type ResnetConfig } from '../../models/resnet-config.js';
import { initialParameters } from '../../train/init.js';
import { checkState, stateSource, TrainableResNet, type StateSource } from '../../train/resnet.js';
import { readStateDict } from '../classifier.js';
import { archName } from './checkpoint.js';

export interface InitialModel {
  model: TrainableResNet;
  /** A line for the user about where the weights came from. */
  note: string;
}

/** A state source whose fc is replaced by `fc` (name -> values with shapes). */
function withNewFc(src: StateSource, fc: Map<string, { shape: number[]; data: Float32Array }>): StateSource {
  return {
    name: src.name,
    shape: (k) => fc.get(k)?.shape ?? src.shape(k),
    read: async (k) => fc.get(k)?.data ?? src.read(k),
    count: src.count,
  };
}

/**
 * `--init FILE` when given, else a fresh `arch` from `seed`. `arch` set together with an init
 * must agree with the init's keys.
 */
export async function initialModel(gpu: Gpu, opts: { arch?: string; init?: string | null; seed: number }): Promise<InitialModel> {
  if (!opts.init) {
    const config = resnetPreset(opts.arch ?? 'resnet50');
    return { model: TrainableResNet.create(gpu, config, opts.seed), note: `${archName(config)} initialised as the reference does (seed ${opts.seed})` };
  }
  const path = opts.init;
  const { file } = await readStateDict(path);
  const found = resnetConfigFromKeys(file, path);
  const config: ResnetConfig = { ...found, numClasses: 1 };
  if (opts.arch && opts.arch !== archName(config)) {
    throw new DnfError(`--init ${path} holds a ${archName(config)}, not a ${opts.arch}: drop --arch (the architecture is read from the file) or pick another init`);
  }
  let source = stateSource(file);
  let note = `${archName(config)} from ${basename(path)}`;
  if (found.numClasses !== 1) {
    const fresh = initialParameters(config, opts.seed);
    const c = config.stages.at(-1)!.out;
    source = withNewFc(source, new Map([
      ['fc.weight', { shape: [1, c], data: fresh.get('fc.weight')! }],
      ['fc.bias', { shape: [1], data: fresh.get('fc.bias')! }],
    ]));
    note += ` (its fc had ${found.numClasses} outputs: replaced by a new Linear(${c}, 1), weight ~ N(0, 0.02))`;
  }
  checkState(config, source); // before the model's memory is allocated
  const model = new TrainableResNet(gpu, config);
  try {
    await model.loadState(source);
  } catch (e) {
    model.dispose();
    throw e;
  }
  return { model, note };
}
