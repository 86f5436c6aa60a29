import { defineWorkspace } from "vitest/config"

export default defineWorkspace([
  "packages/*",
  {
    test: {
      name: "integration",
      include: ["test/**/*.test.ts"],
      testTimeout: 60_000,
      hookTimeout: 60_000
    }
  }
])
