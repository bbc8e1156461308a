import os from "node:os";
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["tests/**/*.test.ts"],
    // Model sessions and child processes (numpy, kill -9 resume) make some tests slow on 2 cores.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: "forks",
    // vitest's default is one worker per core minus one: a single worker on 2 cores, leaving a core idle
    // while a test waits on a child process, a decode or the file system.
    maxWorkers: Math.max(2, os.availableParallelism() - 1),
    // Builds src/ once into dist-test/ for the tests that start the CLI as a process (tests/helpers/cli.ts).
    globalSetup: ["./tests/helpers/global-setup.ts"],
    reporters: ["default", "./tests/helpers/summary-reporter.ts"],
  },
});
