import { defineConfig } from 'vitest/config';

// End-to-end tests: a real stack (scripts/web-e2e.sh) and headless Chromium through playwright-core.
export default defineConfig({
  test: {
    environment: 'node',
    include: ['e2e/**/*.test.ts'],
    testTimeout: 90_000,
    hookTimeout: 60_000,
    fileParallelism: false,
    globalSetup: ['e2e/global-setup.ts'],
  },
});
