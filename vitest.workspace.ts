import { defineWorkspace } from "vitest/config"
import { chromiumArgs, chromiumPath as chromium } from "./scripts/chromium.js"

if (chromium === undefined && process.env.CI !== "true") {
  console.warn("[chromium] skipping the in-browser tests: no chromium on PATH (apt-get install -y chromium)")
}

export default defineWorkspace([
  "packages/*",
  {
    test: {
      name: "integration",
      include: ["test/**/*.test.ts"],
      exclude: ["test/in-browser/**"],
      testTimeout: 60_000,
      hookTimeout: 60_000
    }
  },
  // Tests that run inside a Chromium page (Debian's chromium; nothing is
  // downloaded). Under CI a missing chromium fails here rather than skipping.
  ...(chromium === undefined && process.env.CI !== "true"
    ? []
    : [
        {
          optimizeDeps: { exclude: ["@effect/wa-sqlite"] },
          worker: { format: "es" as const },
          test: {
            name: "in-browser",
            include: ["test/in-browser/**/*.test.ts"],
            testTimeout: 60_000,
            browser: {
              enabled: true,
              provider: "playwright",
              headless: true,
              screenshotFailures: false,
              instances: [
                {
                  browser: "chromium" as const,
                  launch: {
                    executablePath: chromium ?? "chromium",
                    // vitest sets headless itself.
                    args: chromiumArgs.filter((arg) => arg !== "--headless")
                  }
                }
              ]
            }
          }
        }
      ])
])
