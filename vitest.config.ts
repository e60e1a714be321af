import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/setup/private-tmpdir.ts'],
    // Docker tests share one engine and two cores: one file at a time keeps timings sane.
    fileParallelism: false,
    // Docker tests may build a builder image (apt inside: ~30 s) before their first assertion.
    testTimeout: 300_000,
    hookTimeout: 600_000,
  },
});
