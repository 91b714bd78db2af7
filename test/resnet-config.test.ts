/**
 * The ResNet architecture read from state-dict keys (src/models/resnet-config.ts), against
 * torchvision 0.14: `torchvision.models.resnet<depth>(num_classes=1).state_dict()` keys and shapes
 * (num_batches_tracked left out, as dnf convert drops it) and the multiply-adds of its convs and fc
 * counted with forward hooks (tools/golden/resnet.py, fixture metadata).
 */
import { describe, expect, it } from 'vitest';
import { blockSpecs, resnetConfigFromKeys, resnetCost, resnetLayout, resnetName } from '../src/models/resnet-config.js';
import { loadGolden } from './gpu/helpers.js';

const golden = loadGolden('resnet');
const DEPTHS = [18, 34, 50, 101, 152];

/** KeyShapes over a [key, shape] list. */
const keyShapes = (layout: Array<[string, number[]]>) => ({
  names: () => layout.map(([k]) => k),
  info: (name: string) => ({ shape: layout.find(([k]) => k === name)![1] }),
});

describe('resnet config', () => {
  it.each(DEPTHS)('ResNet%i: depth, widths and the exact torchvision key layout from its keys', async (depth) => {
    const g = await golden;
    const want = JSON.parse(g.metadata[`layout.resnet${depth}`]) as Array<[string, number[]]>;
    const config = resnetConfigFromKeys(keyShapes(want), `resnet${depth}.safetensors`);
    expect(resnetName(config)).toBe(`ResNet${depth}`);
    expect(config.numClasses).toBe(1);
    expect(resnetLayout(config)).toEqual(want); // same keys, shapes and order
  });

  it.each(DEPTHS)('ResNet%i: multiply-adds at 224 and 256 equal the hook count', async (depth) => {
    const g = await golden;
    const config = resnetConfigFromKeys(keyShapes(JSON.parse(g.metadata[`layout.resnet${depth}`])), 'r');
    const macs = JSON.parse(g.metadata[`macs.resnet${depth}`]) as Record<string, number>;
    expect(resnetCost(config, 224, 224).macs).toBe(macs['224']);
    expect(resnetCost(config, 256, 256).macs).toBe(macs['256']);
  });

  it('ResNet50: the largest activation is 64 x 128 x 128 (the stem) = 256 x 64 x 64 (layer1) at 256', async () => {
    const g = await golden;
    const config = resnetConfigFromKeys(keyShapes(JSON.parse(g.metadata['layout.resnet50'])), 'r');
    expect(resnetCost(config, 256, 256).largest).toBe(256 * 64 * 64);
    const specs = blockSpecs(config);
    expect(specs.filter((s) => s.downsample).map((s) => s.prefix)).toEqual(['layer1.0', 'layer2.0', 'layer3.0', 'layer4.0']);
    expect(specs.filter((s) => s.stride === 2).map((s) => s.prefix)).toEqual(['layer2.0', 'layer3.0', 'layer4.0']);
  });

  it('names what is missing when the keys are not a ResNet', () => {
    expect(() => resnetConfigFromKeys(keyShapes([['conv_in.weight', [1]]]), 'unet.safetensors'))
      .toThrow(/^unet\.safetensors: not a torchvision ResNet classifier \(no conv1\.weight\); convert the state dict of a torchvision resnet/);
    expect(() => resnetConfigFromKeys(keyShapes([['conv1.weight', [64, 3, 7, 7]], ['fc.weight', [1, 512]], ['layer1.0.conv1.weight', [64, 64, 3, 3]]]), 'x'))
      .toThrow(/no layer1\.0\.conv2\.weight/);
  });
});
