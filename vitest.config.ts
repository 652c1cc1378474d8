import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    globalSetup: ["test/support/globalSetup.ts"],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // CLI end-to-end tests spawn processes; two cores, so keep files from all running at once.
    maxWorkers: 2
  }
})
