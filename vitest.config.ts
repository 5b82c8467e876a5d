import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    globalSetup: ["test/setup/global-setup.ts"],
    pool: "forks",
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Each file has its own database; files run in parallel, tests within a file in order.
    sequence: { concurrent: false },
    projects: [
      {
        extends: true,
        test: { name: "api", include: ["test/**/*.test.ts"], exclude: ["test/faults/**"] },
      },
      {
        // Outages, exhaustion and shutdown: each file starts (and stops) a PostgreSQL
        // cluster of its own, so they run one at a time, after the rest, to keep
        // their load and restarts away from the other files.
        extends: true,
        test: {
          name: "faults",
          include: ["test/faults/**/*.test.ts"],
          fileParallelism: false,
          sequence: { groupOrder: 1 },
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
