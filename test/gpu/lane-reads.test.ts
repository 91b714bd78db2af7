/**
 * How lane-varying inputs are read (src/gpu/lane-reads.ts): the probe's choice follows its own
 * measurements, laneTexels forces either way, and a bad value is one clear error. (That each
 * kernel gives the same bits either way is in its own tests: conv2d, conv2d-fused,
 * conv2d-winograd, unet-ops.)
 */
import { describe, expect, it } from 'vitest';
import { measureLaneReads } from '../../src/gpu/lane-reads.js';
import { acquireGpu } from '../../src/node/acquire.js';
import { testGpu } from './helpers.js';

describe('lane reads', () => {
  it('on a CPU adapter the probe ran at acquisition, and its choice is the texels exactly where they ran in under 0.9 of storage\'s time', async () => {
    const gpu = await testGpu();
    expect(gpu.memoryIsHost).toBe(true);
    const probe = gpu.laneReadsProbe!;
    expect(probe).not.toBeNull();
    expect(probe.storageMs).toBeGreaterThan(0);
    expect(probe.texelsMs).toBeGreaterThan(0);
    expect(probe.reads).toBe(probe.texelsMs! < 0.9 * probe.storageMs! ? 'texels' : 'storage');
    expect(gpu.laneReads).toBe(probe.reads);
    // Measured again, the rule holds for the new numbers too.
    const again = await measureLaneReads(gpu);
    expect(again.reads).toBe(again.texelsMs! < 0.9 * again.storageMs! ? 'texels' : 'storage');
    expect(() => gpu.useLaneReads({ ...again, reads: 'texels' })).not.toThrow();
    expect(gpu.laneReads).toBe('texels');
    gpu.useLaneReads(probe); // back to the choice the other tests of this file's Gpu see
  }, 60_000);

  it('laneTexels on and off force either way without a probe; other values are refused', async () => {
    for (const [laneTexels, reads] of [['on', 'texels'], ['off', 'storage']] as const) {
      const gpu = await acquireGpu({ laneTexels });
      try {
        expect(gpu.laneReads).toBe(reads);
        expect(gpu.laneReadsProbe).toBeNull();
        expect(() => gpu.useLaneReads({ reads: 'storage', storageMs: 1, texelsMs: 1 })).toThrow(/does not apply/);
      } finally {
        gpu.destroy();
      }
    }
    await expect(acquireGpu({ laneTexels: 'maybe' as 'on' })).rejects.toThrow(/laneTexels \(env DNF_LANE_TEXELS\) must be auto, on or off, got 'maybe'/);
  }, 60_000);
});
