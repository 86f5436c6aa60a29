// One measurement: a headless Chromium on a fresh profile (so the origin's
// OPFS starts empty), the page loaded, one workload run through `window.bench`.
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { launchChromium } from "../../chromium.js"
import type { BrowserSpec } from "./workloads.js"

const timeout = <A>(promise: Promise<A>, ms: number, what: string) => {
  let timer: ReturnType<typeof setTimeout> | undefined
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms / 1000} s`)), ms)
  })
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer))
}

export const measureInBrowser = async (url: string, spec: BrowserSpec, timeoutMs: number): Promise<Record<string, number>> => {
  const profile = mkdtempSync(join(tmpdir(), "durably-bench-browser-"))
  const context = await launchChromium(profile)
  // What the page printed, to say why a measurement failed or hung.
  const printed: Array<string> = []
  try {
    const page = context.pages()[0] ?? (await context.newPage())
    page.on("console", (message) => printed.push(`console.${message.type()}: ${message.text()}`))
    page.on("pageerror", (error) => printed.push(`pageerror: ${error.message}`))
    page.on("crash", () => printed.push("page crashed"))
    await page.goto(url)
    await page.waitForFunction(() => window.benchReady === true, undefined, { timeout: 30_000 })
    return await timeout(
      page.evaluate((s) => {
        if (window.bench === undefined) throw new Error("the page exposes no window.bench")
        return window.bench(s)
      }, spec),
      timeoutMs,
      `${spec.workload} at ${url}`
    )
  } catch (error) {
    const message = error instanceof Error ? error.message.split("\n")[0] : String(error)
    const tail = printed.length === 0 ? "" : `; the page printed:\n    ${printed.slice(-20).join("\n    ")}`
    throw new Error(`${message}${tail}`)
  } finally {
    await context.close().catch(() => {})
    rmSync(profile, { recursive: true, force: true })
  }
}
