/**
 * The CPU side of training: the seeded generator (the same draws in every JavaScript engine), the
 * initialisation (torchvision's scales with the reference's fc), the arena layout and the memory
 * plan.
 */
import { describe, expect, it } from 'vitest';
import { resnetName, resnetPreset } from '../src/models/resnet-config.js';
import { planArena } from '../src/train/arena.js';
import { savedActivations, trainingMemory } from '../src/train/memory.js';
import { log, Rng } from '../src/train/random.js';
import { initialParameters, resnetParameters } from '../src/train/init.js';

const RESNET18 = resnetPreset('resnet18');
const RESNET50 = resnetPreset('resnet50');

function moments(v: ArrayLike<number>): { mean: number; std: number } {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i];
  const mean = s / v.length;
  let q = 0;
  for (let i = 0; i < v.length; i++) q += (v[i] - mean) ** 2;
  return { mean, std: Math.sqrt(q / v.length) };
}

describe('Rng', () => {
  it('log equals Math.log to within 2 ulp on (0, 1]', () => {
    const rng = new Rng(1);
    for (let i = 0; i < 20000; i++) {
      const x = i < 10 ? 2 ** -(i * 100) : rng.uniform() || 1;
      const want = Math.log(x);
      expect(Math.abs(log(x) - want)).toBeLessThanOrEqual(4.5e-16 * Math.max(1, Math.abs(want)));
    }
    expect(log(1)).toBe(0);
    expect(() => log(0)).toThrow();
  });

  it('is reproducible from a seed and from a saved state, and seeds differ', () => {
    const a = new Rng(42);
    const b = new Rng(42);
    const c = new Rng(43);
    const da = Array.from({ length: 100 }, () => a.nextU32());
    expect(Array.from({ length: 100 }, () => b.nextU32())).toEqual(da);
    expect(Array.from({ length: 100 }, () => c.nextU32())).not.toEqual(da);
    const saved = new Rng(a.state);
    expect(Array.from({ length: 50 }, () => saved.uniform())).toEqual(Array.from({ length: 50 }, () => a.uniform()));
  });

  it('draws uniforms in [0, 1) and standard normals', () => {
    const rng = new Rng(7);
    const n = 200000;
    const u = Float64Array.from({ length: n }, () => rng.uniform());
    expect(u.every((v) => v >= 0 && v < 1)).toBe(true);
    const mu = moments(u);
    // Standard errors: mean 1/sqrt(12 n) = 6.5e-4; the bounds are 5 of them.
    expect(Math.abs(mu.mean - 0.5)).toBeLessThan(3.3e-3);
    const z = Float64Array.from({ length: n }, () => rng.normal());
    const mz = moments(z);
    expect(Math.abs(mz.mean)).toBeLessThan(0.0112); // 5 / sqrt(n)
    expect(Math.abs(mz.std - 1)).toBeLessThan(0.008); // 5 / sqrt(2n)
    const tail = z.filter((v) => Math.abs(v) > 3).length / n; // 0.27% for a normal
    expect(tail).toBeGreaterThan(0.0022);
    expect(tail).toBeLessThan(0.0032);
  });

  it('permutes', () => {
    const p = new Rng(3).permutation(1000);
    expect([...p].sort((x, y) => x - y)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    expect(p).not.toEqual(Array.from({ length: 1000 }, (_, i) => i));
  });
});

describe('initialisation', () => {
  it("has torchvision's scales and the reference's fc, reproducibly", () => {
    const a = initialParameters(RESNET18, 5);
    const b = initialParameters(RESNET18, 5);
    const c = initialParameters(RESNET18, 6);
    expect([...a.keys()]).toEqual(resnetParameters(RESNET18).map(([k]) => k));
    expect(a.get('layer3.1.conv2.weight')).toEqual(b.get('layer3.1.conv2.weight'));
    expect(a.get('layer3.1.conv2.weight')).not.toEqual(c.get('layer3.1.conv2.weight'));
    // kaiming_normal_(mode='fan_out', nonlinearity='relu'): std sqrt(2 / (cout k k)).
    for (const [key, fanOut] of [['conv1.weight', 64 * 49], ['layer2.0.conv1.weight', 128 * 9], ['layer4.0.downsample.0.weight', 512]] as const) {
      const m = moments(a.get(key)!);
      const want = Math.sqrt(2 / fanOut);
      expect(Math.abs(m.std / want - 1), key).toBeLessThan(0.03);
      expect(Math.abs(m.mean), key).toBeLessThan(0.03 * want);
    }
    expect(Math.abs(moments(a.get('fc.weight')!).std / 0.02 - 1)).toBeLessThan(0.1); // 512 values
    expect(Math.abs(a.get('fc.bias')![0])).toBeLessThanOrEqual(1 / Math.sqrt(512));
    expect(a.get('layer1.0.bn1.weight')!.every((v) => v === 1)).toBe(true);
    expect(a.get('layer1.0.bn1.bias')!.every((v) => v === 0)).toBe(true);
  });
});

describe('presets', () => {
  it("are torchvision's architectures", () => {
    expect(resnetName(RESNET18)).toBe('ResNet18');
    expect(resnetName(RESNET50)).toBe('ResNet50');
    expect(resnetName(resnetPreset('resnet152'))).toBe('ResNet152');
    expect(() => resnetPreset('resnet51')).toThrow(/resnet18, resnet34, resnet50/);
  });
});

describe('arena', () => {
  it('aligns every tensor to 256 bytes and splits at the binding limit', () => {
    const plan = planArena([['a', [3]], ['b', [100]], ['c', [64]], ['d', [200]]], 1024);
    expect(plan.entries.map((e) => [e.segment, e.offset])).toEqual([[0, 0], [0, 256], [0, 768], [1, 0]]);
    expect(plan.segments).toEqual([1024, 1024]);
    expect(() => planArena([['big', [300]]], 1024)).toThrow(/big/);
  });

  it('holds ResNet50 in one 128 MiB binding', () => {
    const plan = planArena(resnetParameters(RESNET50), 128 * 2 ** 20);
    expect(plan.segments.length).toBe(1);
    const count = resnetParameters(RESNET50).reduce((s, [, shape]) => s + shape.reduce((a, b) => a * b, 1), 0);
    expect(count).toBe(23_510_081); // torchvision resnet50(num_classes=1): 25,557,032 - 2048 * 999 - 999
  });
});

describe('memory plan', () => {
  it('counts the saved activations of a ResNet50 step', () => {
    // Counted by hand per image at 256x256 (each unit keeps its conv output and BN output):
    //   stem 2 x 64 x 128^2 = 2,097,152; max pool 64 x 64^2 = 262,144
    //   layer1 (4096 px): 3 x 2 x (64 + 64 + 256) x 4096 + downsample 2 x 256 x 4096 = 11,534,336
    //   layer2: block 0 2 x (128 x 4096 + 128 x 1024 + 512 x 1024 + 512 x 1024) = 3,407,872,
    //           3 more blocks 3 x 2 x 768 x 1024 = 4,718,592
    //   layer3: 2 x (256 x 1024 + 256 x 256 + 1024 x 256 + 1024 x 256) = 1,703,936, 5 x 2 x 1536 x 256 = 3,932,160
    //   layer4: 2 x (512 x 256 + 512 x 64 + 2048 x 64 + 2048 x 64) = 851,968, 2 x 2 x 3072 x 64 = 786,432
    //   features 2048
    const per = savedActivations(RESNET50, 256, 256);
    expect(per).toBe(2_097_152 + 262_144 + 11_534_336 + 3_407_872 + 4_718_592 + 1_703_936 + 3_932_160 + 851_968 + 786_432 + 2048);
    const m = trainingMemory(RESNET50, 256, 256, 64, 128 * 2 ** 20);
    expect(m.activations).toBe(per * 4 * 64); // 7.5 GB
    // The largest activation is 256 x 64 x 64 (and 64 x 128 x 128) floats: 4 MiB, 32 per 128 MiB.
    expect(m.largestPerImage).toBe(4 * 2 ** 20);
    expect(m.chunkImages).toBe(32);
  });
});
