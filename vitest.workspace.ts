import { execFileSync } from "node:child_process"
import { defineWorkspace } from "vitest/config"

const chromium = (() => {
  if (process.env.CHROMIUM_PATH) return process.env.CHROMIUM_PATH
  try {
    return execFileSync("sh", ["-c", "command -v chromium"], { encoding: "utf8" }).trim() || undefined
  } catch {
    return undefined
  }
})()

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
                    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"]
                  }
                }
              ]
            }
          }
        }
      ])
])
