/**
 * The shape of a torchvision ResNet, read from its state-dict keys (reference section 3: the DNF
 * classifier is a ResNet50 with fc 2048 -> 1). Keys: conv1, bn1 (the stem: 7x7 stride-2 conv,
 * BatchNorm, ReLU, 3x3 stride-2 max pool), layer1..layerK of blocks `layer<i>.<j>.{conv,bn}<n>`
 * with `downsample.{0,1}` (1x1 conv + BatchNorm) on a stage's first block when the stride or the
 * width changes, then global average pooling and fc. BasicBlock (ResNet18/34: two 3x3 convs) or
 * Bottleneck (ResNet50/101/152, torchvision's "v1.5": 1x1, 3x3 carrying the stride, 1x1).
 * Widths come from the weights too, so width-reduced or wide variants load as well.
 */
import { DnfError } from '../errors.js';

export type ResnetBlockKind = 'basic' | 'bottleneck';

export interface ResnetStage {
  /** Blocks in the stage. */
  blocks: number;
  /** Channels inside a block: the output of its first conv. */
  width: number;
  /** Channels a block outputs (Bottleneck: 4 * planes in torchvision; BasicBlock: = width). */
  out: number;
}

export interface ResnetConfig {
  block: ResnetBlockKind;
  /** Image channels (3). */
  inChannels: number;
  /** Output channels of the stem conv (torchvision: 64). */
  stem: number;
  /** layer1..layerK; layer1 keeps the resolution, every later stage halves it. */
  stages: ResnetStage[];
  /** fc outputs (1 for the DNF classifier: one logit). */
  numClasses: number;
}

/** One block: where its keys are and what it computes. */
export interface BlockSpec {
  /** 'layer<i>.<j>' */
  prefix: string;
  cin: number;
  width: number;
  out: number;
  stride: 1 | 2;
  /** Has downsample.{0,1}: a 1x1 conv with the block's stride on the identity path. */
  downsample: boolean;
}

/** What resnetConfigFromKeys reads: key names and shapes (a SafetensorsFile fits). */
export interface KeyShapes {
  names(): string[];
  info(name: string): { shape: readonly number[] };
}

/** torchvision's depths by block kind and blocks per stage. */
const KNOWN: Record<string, number> = {
  'basic:2,2,2,2': 18,
  'basic:3,4,6,3': 34,
  'bottleneck:3,4,6,3': 50,
  'bottleneck:3,4,23,3': 101,
  'bottleneck:3,8,36,3': 152,
};

/**
 * Bounds of what resnetConfigFromKeys accepts. torchvision's ResNets stay far inside them (widths
 * up to 2048, 3 to 36 blocks a stage, 4 stages, 3 input channels, ImageNet-21k's 21,841 classes at
 * most in practice); they keep hostile shapes from sizing loops and allocations before the keys
 * are compared with the layout they imply.
 */
export const RESNET_LIMITS = {
  /** stem, width and out of a stage: 4x torchvision's widest (2048). */
  channels: 8192,
  /** Input channels: images have 1 to 4. */
  inChannels: 64,
  /** Stages (layer1..layerK): torchvision has 4. */
  stages: 8,
  /** Blocks in a stage: ResNet152 has 36. */
  blocks: 256,
  /** fc outputs: ImageNet-21k has 21,841 classes. */
  classes: 100_000,
} as const;

/**
 * Reads the architecture from the keys; a DnfError naming `source` when they are not a ResNet's.
 * Every count and width is bounded (RESNET_LIMITS). Loaders compare the file with resnetLayout of
 * the result (VarBuilder.check, checkLayout) before they allocate, so a model built from it
 * allocates what the file holds.
 */
export function resnetConfigFromKeys(file: KeyShapes, source: string): ResnetConfig {
  const names = new Set(file.names());
  const shape = (key: string) => [...file.info(key).shape];
  const notResnet = (why: string) =>
    new DnfError(`${source}: not a torchvision ResNet classifier (${why}); convert the state dict of a torchvision resnet (conv1, bn1, layer1..4, fc) with \`dnf convert\``);
  for (const key of ['conv1.weight', 'fc.weight', 'layer1.0.conv1.weight', 'layer1.0.conv2.weight']) {
    if (!names.has(key)) throw notResnet(`no ${key}`);
  }
  const conv1 = shape('conv1.weight');
  const fc = shape('fc.weight');
  if (conv1.length !== 4 || fc.length !== 2) throw notResnet(`conv1.weight is [${conv1.slice(0, 8)}] and fc.weight [${fc.slice(0, 8)}]`);
  const L = RESNET_LIMITS;
  const bounded = (what: string, v: number | undefined, max: number): number => {
    if (!(Number.isInteger(v) && v! >= 1 && v! <= max)) throw notResnet(`${what} is ${v}, not 1 to ${max}`);
    return v!;
  };
  const block: ResnetBlockKind = names.has('layer1.0.conv3.weight') ? 'bottleneck' : 'basic';
  const stages: ResnetStage[] = [];
  for (let i = 1; names.has(`layer${i}.0.conv1.weight`); i++) {
    if (i > L.stages) throw notResnet(`more than ${L.stages} stages`);
    let blocks = 0;
    while (names.has(`layer${i}.${blocks}.conv1.weight`)) if (++blocks > L.blocks) throw notResnet(`more than ${L.blocks} blocks in layer${i}`);
    const outKey = `layer${i}.0.${block === 'bottleneck' ? 'conv3' : 'conv2'}.weight`;
    if (!names.has(outKey)) throw notResnet(`no ${outKey}`);
    const width = bounded(`the width of layer${i} (layer${i}.0.conv1.weight's first dimension)`, shape(`layer${i}.0.conv1.weight`)[0], L.channels);
    stages.push({ blocks, width, out: bounded(`the output of layer${i} (${outKey}'s first dimension)`, shape(outKey)[0], L.channels) });
  }
  const config: ResnetConfig = {
    block,
    inChannels: bounded("the input channels (conv1.weight's second dimension)", conv1[1], L.inChannels),
    stem: bounded("the stem width (conv1.weight's first dimension)", conv1[0], L.channels),
    stages,
    numClasses: bounded("the classes (fc.weight's first dimension)", fc[0], L.classes),
  };
  return config;
}

/** 'ResNet50', or a description of a non-standard one: 'ResNet (bottleneck blocks 1,2,1,1, stem 8)'. */
export function resnetName(c: ResnetConfig): string {
  const counts = c.stages.map((s) => s.blocks).join(',');
  const standard = c.stem === 64 && c.stages.every((s, i) => s.width === 64 << i && s.out === (c.block === 'bottleneck' ? 256 : 64) << i);
  const depth = KNOWN[`${c.block}:${counts}`];
  return depth && standard ? `ResNet${depth}` : `ResNet (${c.block} blocks ${counts}, stem ${c.stem})`;
}

/** Every block in forward order. */
export function blockSpecs(c: ResnetConfig): BlockSpec[] {
  const specs: BlockSpec[] = [];
  let cin = c.stem;
  c.stages.forEach((s, i) => {
    for (let j = 0; j < s.blocks; j++) {
      const stride = i > 0 && j === 0 ? 2 : 1;
      specs.push({ prefix: `layer${i + 1}.${j}`, cin, width: s.width, out: s.out, stride, downsample: j === 0 && (stride !== 1 || cin !== s.out) });
      cin = s.out;
    }
  });
  return specs;
}

/** The channels fc reads: the last stage's output. */
export function featureChannels(c: ResnetConfig): number {
  return c.stages.length ? c.stages[c.stages.length - 1].out : c.stem;
}

/** The convs of a block: [name, cin, cout, k, stride] ('downsample' is downsample.0 with BN downsample.1). */
export function blockConvs(c: ResnetConfig, b: BlockSpec): Array<[string, number, number, number, 1 | 2]> {
  const convs: Array<[string, number, number, number, 1 | 2]> = c.block === 'bottleneck'
    ? [['conv1', b.cin, b.width, 1, 1], ['conv2', b.width, b.width, 3, b.stride], ['conv3', b.width, b.out, 1, 1]]
    : [['conv1', b.cin, b.width, 3, b.stride], ['conv2', b.width, b.out, 3, 1]];
  if (b.downsample) convs.push(['downsample', b.cin, b.out, 1, b.stride]);
  return convs;
}

/** Every state-dict key with its shape (num_batches_tracked excluded), in torchvision's order. */
export function resnetLayout(c: ResnetConfig): Array<[string, number[]]> {
  const layout: Array<[string, number[]]> = [];
  const convBn = (conv: string, bn: string, cin: number, cout: number, k: number) => {
    layout.push([`${conv}.weight`, [cout, cin, k, k]]);
    for (const p of ['weight', 'bias', 'running_mean', 'running_var']) layout.push([`${bn}.${p}`, [cout]]);
  };
  convBn('conv1', 'bn1', c.inChannels, c.stem, 7);
  for (const b of blockSpecs(c)) {
    for (const [name, cin, cout, k] of blockConvs(c, b)) {
      if (name === 'downsample') convBn(`${b.prefix}.downsample.0`, `${b.prefix}.downsample.1`, cin, cout, k);
      else convBn(`${b.prefix}.${name}`, `${b.prefix}.bn${name.slice(4)}`, cin, cout, k);
    }
  }
  layout.push(['fc.weight', [c.numClasses, featureChannels(c)]], ['fc.bias', [c.numClasses]]);
  return layout;
}

/** Output side of a stride-2 conv or max pool with 'same' padding: ceil(size / 2). */
const half = (size: number) => Math.floor((size - 1) / 2) + 1;

/**
 * Per image at an h x w input: the multiply-adds of every conv and fc (BatchNorm is folded, pooling
 * and ReLU not counted), and the elements of the largest single activation forward() creates.
 */
export function resnetCost(c: ResnetConfig, h: number, w: number): { macs: number; largest: number } {
  let [y, x] = [half(h), half(w)];
  let macs = c.stem * c.inChannels * 49 * y * x;
  let largest = Math.max(c.inChannels * h * w, c.stem * y * x);
  [y, x] = [half(y), half(x)];
  for (const b of blockSpecs(c)) {
    const [yo, xo] = b.stride === 2 ? [half(y), half(x)] : [y, x];
    for (const [name, cin, cout, k] of blockConvs(c, b)) {
      // A Bottleneck's conv1 (stride 1) stays at the input resolution; every other conv ends at the output's.
      const px = c.block === 'bottleneck' && name === 'conv1' ? y * x : yo * xo;
      macs += cout * cin * k * k * px;
      largest = Math.max(largest, cout * px);
    }
    [y, x] = [yo, xo];
  }
  macs += featureChannels(c) * c.numClasses;
  return { macs, largest };
}

export type ResnetArch = 'resnet18' | 'resnet34' | 'resnet50' | 'resnet101' | 'resnet152';
export const RESNET_ARCHS: readonly ResnetArch[] = ['resnet18', 'resnet34', 'resnet50', 'resnet101', 'resnet152'];

/** torchvision's `resnet<depth>(num_classes)` architecture. */
export function resnetPreset(arch: string, numClasses = 1): ResnetConfig {
  const entry = Object.entries(KNOWN).find(([, depth]) => `resnet${depth}` === arch);
  if (!entry) throw new DnfError(`unknown architecture '${arch}'; choose one of ${RESNET_ARCHS.join(', ')}`);
  const [kind, counts] = entry[0].split(':');
  const block = kind as ResnetBlockKind;
  const expansion = block === 'bottleneck' ? 4 : 1;
  return {
    block,
    inChannels: 3,
    stem: 64,
    stages: counts.split(',').map((n, i) => ({ blocks: Number(n), width: 64 << i, out: (64 << i) * expansion })),
    numClasses,
  };
}
