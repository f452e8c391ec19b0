import { defineConfig } from 'vitest/config';

/** Browser tests: Node drives system Chromium (playwright-core) against the built `dist/`. */
export default defineConfig({
  test: {
    include: ['tests/browser/**/*.test.ts'],
    testTimeout: 300_000,
    hookTimeout: 120_000,
    pool: 'forks',
    maxWorkers: 1,
  },
});
