/**
 * Shared by the GPU suites: one Gpu per test file (on the backend named by DNF_BACKEND, set per
 * vitest project), golden fixtures from test/fixtures/golden, and closeness checks.
 */
import { afterAll, expect } from 'vitest';
import { fileURLToPath } from 'node:url';
import { acquireGpu } from '../../src/node/acquire.js';
import { openSafetensors } from '../../src/node/files.js';
import type { Gpu } from '../../src/gpu/gpu.js';
import { Tensor } from '../../src/tensor.js';

let shared: Promise<Gpu> | null = null;

/**
 * Whether this run sweeps every compiled variant of a kernel (tile shapes, strides) rather than a
 * representative one: on SwiftShader, yes; on llvmpipe, whose LLVM takes 15 .. 55 s to compile each
 * of the largest variants on a machine that has not cached them (Mesa's shader cache is empty on a
 * fresh CI machine; SwiftShader compiles the same ones in 1 .. 5 s), the sweeps keep one variant
 * per entry point. The variants differ in index arithmetic only and sum in the same order, which
 * the sweep checks bit for bit; what llvmpipe's compiler makes of each entry is still checked.
 */
export function sweepsEveryVariant(): boolean {
  return process.env.DNF_BACKEND !== 'opengles';
}

/** The test file's GPU; fails (never skips) when no adapter exists, with the fix in the message. */
export function testGpu(): Promise<Gpu> {
  if (!shared) {
    shared = acquireGpu({ debug: true });
    afterAll(async () => (await shared)?.destroy());
  }
  return shared;
}

export interface Golden {
  get(name: string): Float32Array;
  shape(name: string): number[];
  tensor(gpu: Gpu, name: string): Tensor;
  has(name: string): boolean;
  names(): string[];
  metadata: Record<string, string>;
}

/** Loads test/fixtures/golden/<name>.safetensors completely (fixtures are small). */
export function loadGolden(name: string): Promise<Golden> {
  return loadGoldenFile(fileURLToPath(new URL(`../fixtures/golden/${name}.safetensors`, import.meta.url)));
}

/** Loads a golden safetensors file completely (a fixture, or a tool run's output). */
export async function loadGoldenFile(path: string): Promise<Golden> {
  const { file, close } = await openSafetensors(path);
  const data = new Map<string, Float32Array>();
  try {
    for (const n of file.names()) data.set(n, await file.readF32(n));
  } finally {
    await close();
  }
  return {
    get: (n) => {
      const d = data.get(n);
      if (!d) throw new Error(`golden ${path} has no tensor '${n}'`);
      return d;
    },
    shape: (n) => [...file.info(n).shape],
    tensor: (gpu, n) => Tensor.from(gpu, data.get(n)!, file.info(n).shape, n),
    has: (n) => data.has(n),
    names: () => [...data.keys()],
    metadata: file.metadata,
  };
}

export interface Diff {
  maxAbs: number;
  scale: number;
  at: number;
}

export function diff(got: ArrayLike<number>, want: ArrayLike<number>): Diff {
  expect(got.length).toBe(want.length);
  let maxAbs = 0;
  let scale = 0;
  let at = -1;
  for (let i = 0; i < want.length; i++) {
    const d = Math.abs(got[i] - want[i]);
    if (!(d <= maxAbs)) {
      maxAbs = d;
      at = i;
    }
    scale = Math.max(scale, Math.abs(want[i]));
  }
  return { maxAbs, scale, at };
}

/**
 * Asserts max |got - want| <= tol * max(1, max|want|): an error relative to the output's scale
 * (NaN anywhere fails).
 */
export function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, tol: number, what = ''): Diff {
  const d = diff(got, want);
  const bound = tol * Math.max(1, d.scale);
  if (!(d.maxAbs <= bound)) {
    throw new Error(`${what}: max |diff| ${d.maxAbs.toExponential(3)} at ${d.at} (got ${got[d.at]}, want ${want[d.at]}) exceeds ${bound.toExponential(3)}`);
  }
  return d;
}
