import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/globalSetup.ts'],
    // Temporal's native runtime and child servers behave best in forked processes.
    pool: 'forks',
    // Two cores: two test files at a time; each file gets its own database (see test/globalSetup.ts).
    maxWorkers: 2,
    testTimeout: 180_000,
    hookTimeout: 120_000,
  },
});
