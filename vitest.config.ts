import { defineConfig } from 'vitest/config';

// Two projects: CPU-only tests, and the GPU suite, which runs once per CPU adapter (Mesa llvmpipe
// through OpenGL ES, and SwiftShader through Vulkan). DNF_TEST_BACKENDS narrows the list.
const backends = (process.env.DNF_TEST_BACKENDS ?? 'opengles,swiftshader').split(',').filter(Boolean);

export default defineConfig({
  test: {
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // One test file at a time: CPU adapters use every core already. Projects inherit these settings
    // through `extends: true`.
    fileParallelism: false,
    projects: [
      { extends: true, test: { name: 'cpu', include: ['test/*.test.ts'] } },
      // Property-based fuzzers of the readers of untrusted files: a seeded, bounded run here;
      // `npm run fuzz` runs this project alone with DNF_FUZZ_RUNS cases per reader.
      { extends: true, test: { name: 'fuzz', include: ['test/fuzz/*.test.ts'], testTimeout: 3_600_000 } },
      // `dnf train` learning a texture set (train-learn) runs on llvmpipe only: the steps it takes are
      // PyTorch's on both adapters (train-run, train-step), and SwiftShader takes 45 s more for it.
      ...backends.map((backend) => ({
        extends: true,
        test: {
          name: `gpu-${backend}`,
          include: ['test/gpu/*.test.ts'],
          exclude: backend === 'swiftshader' ? ['test/gpu/train-learn.test.ts'] : [],
          env: { DNF_BACKEND: backend },
        },
      })),
    ],
  },
});
