// Real Chromium for the browser tests: Debian's `chromium` (or CHROMIUM_PATH)
// driven by playwright-core; nothing downloads a browser. The test page is
// built once with Vite and served by Vite's preview server on 127.0.0.1 (a
// secure context); `insecureUrl` reaches the same server under a host name
// that is not one. Under CI a missing Chromium fails; locally the browser
// tests are skipped with a printed reason.
import { execFileSync } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import type { BrowserContext } from "playwright-core"
import { build, preview } from "vite"
import { chromiumPath, launchChromium } from "../../scripts/chromium.js"

export { chromiumPath }
if (chromiumPath === undefined) {
  if (process.env.CI === "true") throw new Error("Chromium is required under CI: apt-get install -y chromium (or set CHROMIUM_PATH)")
  console.warn("[chromium] skipping browser tests: no chromium on PATH (apt-get install -y chromium, or set CHROMIUM_PATH)")
}

/** Host name mapped to 127.0.0.1 that the browser does not treat as a secure context. */
export const insecureHost = "insecure.test"

const temporary: Array<string> = []

/** A fresh profile directory (so a fresh OPFS), removed by `cleanUp`. */
export const freshProfile = (): string => {
  const profile = mkdtempSync(join(tmpdir(), "durably-chromium-"))
  temporary.push(profile)
  return profile
}

/** A browser on `profile` (default: a fresh one); tabs of it share the origin's storage. */
export const launch = (profile: string = freshProfile()): Promise<BrowserContext> =>
  launchChromium(profile, [`--host-resolver-rules=MAP ${insecureHost} 127.0.0.1`])

/** Kills every process of the browser running on `profile` with SIGKILL, as a crash would. */
export const killBrowser = (profile: string): void => {
  execFileSync("pkill", ["-KILL", "-f", `user-data-dir=${profile}`])
}

export interface Served {
  readonly url: string
  readonly port: number
  readonly close: () => Promise<void>
}

/** Builds the page in `root` and serves it. */
export const serve = async (root: string): Promise<Served> => {
  const outDir = mkdtempSync(join(tmpdir(), "durably-page-"))
  temporary.push(outDir)
  const config = {
    root,
    configFile: false as const,
    logLevel: "warn" as const,
    worker: { format: "es" as const },
    build: { outDir, emptyOutDir: true, target: "es2022" }
  }
  // Rollup's warnings about comments in dependencies are noise here.
  await build({ ...config, logLevel: "error" })
  const server = await preview({
    ...config,
    preview: { host: "127.0.0.1", port: 0, strictPort: false, allowedHosts: [insecureHost] }
  })
  const url = server.resolvedUrls?.local[0]
  if (url === undefined) throw new Error("the preview server has no URL")
  const port = Number(new URL(url).port)
  return {
    url,
    port,
    close: () =>
      new Promise<void>((done) => {
        // Open pages keep connections alive, which `close` would wait for.
        if ("closeAllConnections" in server.httpServer) server.httpServer.closeAllConnections()
        server.httpServer.close(() => done())
      })
  }
}

export const cleanUp = () => {
  for (const dir of temporary.splice(0)) rmSync(dir, { recursive: true, force: true })
}

export const fixtureRoot = fileURLToPath(new URL("../browser/fixture/", import.meta.url))
export const exampleRoot = fileURLToPath(new URL("../../examples/browser/", import.meta.url))
