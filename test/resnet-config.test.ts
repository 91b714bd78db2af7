/**
 * The ResNet architecture read from state-dict keys (src/models/resnet-config.ts), against
 * torchvision 0.14: `torchvision.models.resnet<depth>(num_classes=1).state_dict()` keys and shapes
 * (num_batches_tracked left out, as dnf convert drops it) and the multiply-adds of its convs and fc
 * counted with forward hooks (tools/golden/resnet.py, fixture metadata).
 */
import { describe, expect, it } from 'vitest';
import type { Gpu } from '../src/gpu/gpu.js';
import { blockSpecs, resnetConfigFromKeys, resnetCost, resnetLayout, resnetName, RESNET_LIMITS } from '../src/models/resnet-config.js';
import { ResNet } from '../src/models/resnet.js';
import { checkState, stateSource } from '../src/train/resnet.js';
import { bytesSource, SafetensorsFile, serializeSafetensors } from '../src/weights/safetensors.js';
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

  it('bounds every width and count read from the shapes (RESNET_LIMITS), before anything is sized by them', async () => {
    const g = await golden;
    const r18 = JSON.parse(g.metadata['layout.resnet18']) as Array<[string, number[]]>;
    const edit = (key: string, shape: number[]) => keyShapes(r18.map(([k, s]): [string, number[]] => [k, k === key ? shape : s]));
    const refused = (ks: ReturnType<typeof keyShapes>) => () => resnetConfigFromKeys(ks, 'h.safetensors');
    expect(refused(edit('fc.weight', [2 ** 31, 512]))).toThrow("h.safetensors: not a torchvision ResNet classifier (the classes (fc.weight's first dimension) is 2147483648, not 1 to 100000)");
    expect(refused(edit('conv1.weight', [64, 1e6, 7, 7]))).toThrow("(the input channels (conv1.weight's second dimension) is 1000000, not 1 to 64)");
    expect(refused(edit('layer2.0.conv1.weight', [0, 64, 3, 3]))).toThrow("(the width of layer2 (layer2.0.conv1.weight's first dimension) is 0, not 1 to 8192)");
    expect(refused(edit('layer4.0.conv2.weight', [65536, 512, 3, 3]))).toThrow("(the output of layer4 (layer4.0.conv2.weight's first dimension) is 65536, not 1 to 8192)");
    const many = [...r18, ...Array.from({ length: 300 }, (_, j): [string, number[]] => [`layer1.${j + 2}.conv1.weight`, [64, 64, 3, 3]])];
    expect(refused(keyShapes(many))).toThrow('(more than 256 blocks in layer1)');
    const stages = [...r18, ...Array.from({ length: 10 }, (_, i): Array<[string, number[]]> => [[`layer${i + 5}.0.conv1.weight`, [8, 8, 3, 3]], [`layer${i + 5}.0.conv2.weight`, [8, 8, 3, 3]]]).flat()];
    expect(refused(keyShapes(stages))).toThrow('(more than 8 stages)');
    // Far above torchvision's: ResNet152's 36 blocks a stage and 2048 channels.
    expect([RESNET_LIMITS.blocks, RESNET_LIMITS.channels]).toEqual([256, 8192]);
  });

  it('a mis-shaped or missing key is refused from the header, before the GPU is touched', async () => {
    const g = await golden;
    const r18 = JSON.parse(g.metadata['layout.resnet18']) as Array<[string, number[]]>;
    const tensors = r18.filter(([k]) => k !== 'layer2.1.bn2.running_var')
      .map(([name, shape]) => ({ name, dtype: 'F32' as const, shape: name === 'layer3.0.conv2.weight' ? [256, 256, 9] : shape, data: new Float32Array(name === 'layer3.0.conv2.weight' ? 256 * 256 * 9 : shape.reduce((a, b) => a * b, 1)) }));
    const file = await SafetensorsFile.open(bytesSource('edited.safetensors', serializeSafetensors(tensors)));
    const noGpu = new Proxy({}, { get: (_, p) => { throw new Error(`the GPU was touched (${String(p)})`); } }) as Gpu;
    await expect(ResNet.fromSafetensors(noGpu, file)).rejects.toThrow(
      'edited.safetensors: the checkpoint does not fit ResNet18: 1 missing (layer2.1.bn2.running_var [128]); 1 mis-shaped (layer3.0.conv2.weight [256,256,9] should be [256,256,3,3])',
    );
    const config = resnetConfigFromKeys(file, 'edited.safetensors');
    expect(() => checkState(config, stateSource(file))).toThrow('edited.safetensors: not a ResNet18 state dict: layer2.1.bn2.running_var missing; layer3.0.conv2.weight is [256,256,9], not [256,256,3,3]');
  });
});
