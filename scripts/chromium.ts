// Chromium for the browser tests and the bench: Debian's `chromium` (or
// CHROMIUM_PATH) driven by playwright-core; nothing downloads a browser.
import { execFileSync } from "node:child_process"
import type { BrowserContext } from "playwright-core"
import { chromium } from "playwright-core"

const onPath = (): string | undefined => {
  try {
    return execFileSync("sh", ["-c", "command -v chromium || command -v chromium-browser"], { encoding: "utf8" }).trim() || undefined
  } catch {
    return undefined
  }
}

/** The browser binary, if there is one. */
export const chromiumPath: string | undefined = process.env["CHROMIUM_PATH"] ?? onPath()

/** Headless, and no background traffic of the browser's own while it is driven or timed. */
export const chromiumArgs: ReadonlyArray<string> = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync"
]

/** A browser on the profile in `profileDir` (a fresh directory is a fresh OPFS). */
export const launchChromium = (profileDir: string, extraArgs: ReadonlyArray<string> = []): Promise<BrowserContext> => {
  if (chromiumPath === undefined) throw new Error("no chromium: apt-get install -y chromium, or set CHROMIUM_PATH")
  return chromium.launchPersistentContext(profileDir, { executablePath: chromiumPath, args: [...chromiumArgs, ...extraArgs] })
}
