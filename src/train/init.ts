/**
 * A ResNet's trainable parameters (state-dict names and shapes, without the BatchNorm buffers) and
 * their initial values, on the CPU.
 */
import { featureChannels, resnetLayout, type ResnetConfig } from '../models/resnet-config.js';
import { numel } from '../tensor.js';
import { Rng } from './random.js';

/** The parameters (no buffers) in state-dict order. */
export function resnetParameters(config: ResnetConfig): Array<[string, number[]]> {
  return resnetLayout(config).filter(([name]) => !/\.running_(mean|var)$/.test(name));
}

/**
 * torchvision's initialisation with the reference's classifier head, from a seeded generator:
 * convs kaiming-normal (fan_out, ReLU gain: std sqrt(2 / (cout k k))), BatchNorm weight 1 and bias
 * 0, fc weight ~ N(0, 0.02) (train.py re-initialises it), fc bias ~ U(-1/sqrt(in), 1/sqrt(in))
 * (nn.Linear's default, which train.py keeps).
 */
export function initialParameters(config: ResnetConfig, seed: number): Map<string, Float32Array> {
  const rng = new Rng(seed);
  const out = new Map<string, Float32Array>();
  for (const [name, shape] of resnetParameters(config)) {
    const v = new Float32Array(numel(shape));
    if (name === 'fc.weight') {
      for (let i = 0; i < v.length; i++) v[i] = 0.02 * rng.normal();
    } else if (name === 'fc.bias') {
      const bound = 1 / Math.sqrt(featureChannels(config));
      for (let i = 0; i < v.length; i++) v[i] = (2 * rng.uniform() - 1) * bound;
    } else if (shape.length === 4) {
      const std = Math.sqrt(2 / (shape[0] * shape[2] * shape[3]));
      for (let i = 0; i < v.length; i++) v[i] = std * rng.normal();
    } else if (name.endsWith('.weight')) {
      v.fill(1);
    }
    out.set(name, v);
  }
  return out;
}

