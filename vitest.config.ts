import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'probes/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Two cores: real daemons (unbound, nsd, postgres, prometheus) are started per file; keep parallelism modest.
    maxWorkers: 2,
    fileParallelism: true,
  },
});
