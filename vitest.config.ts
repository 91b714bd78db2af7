import { defineConfig } from 'vitest/config';

// Two projects: CPU-only tests, and the GPU suite, which runs once per CPU adapter (Mesa llvmpipe
// through OpenGL ES, and SwiftShader through Vulkan). DNF_TEST_BACKENDS narrows the list.
const backends = (process.env.DNF_TEST_BACKENDS ?? 'opengles,swiftshader').split(',').filter(Boolean);

export default defineConfig({
  test: {
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // One GPU test file at a time per backend: CPU adapters use every core already.
    fileParallelism: false,
    projects: [
      { test: { name: 'cpu', include: ['test/*.test.ts'] } },
      ...backends.map((backend) => ({
        test: { name: `gpu-${backend}`, include: ['test/gpu/*.test.ts'], env: { DNF_BACKEND: backend } },
      })),
    ],
  },
});
