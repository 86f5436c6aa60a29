// The demo a newcomer runs first (`pnpm demo`), run for real: started,
// stopped with SIGINT (Ctrl-C) in the middle, started again. The second start
// must resume the same run at its first unfinished step and finish it, and no
// step may complete twice across the two starts.
import { spawn } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { afterEach, expect, it } from "vitest"

const script = fileURLToPath(new URL("../examples/demo/src/main.ts", import.meta.url))
const steps = ["fetch-orders", "validate", "enrich-customers", "compute-totals", "render-report", "publish"]

interface Started {
  readonly output: () => string
  readonly exited: Promise<number | null>
  readonly interrupt: () => void
}

const children: Array<{ kill: (signal: NodeJS.Signals) => boolean }> = []
const dirs: Array<string> = []
afterEach(() => {
  for (const child of children.splice(0)) child.kill("SIGKILL")
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
})

const startDemo = (database: string): Started => {
  const child = spawn(process.execPath, ["--import", "tsx", script], {
    env: { ...process.env, DURABLY_DEMO_DB: database, DURABLY_DEMO_STEP_MS: "300" },
    stdio: ["ignore", "pipe", "pipe"]
  })
  children.push(child)
  let output = ""
  child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()))
  child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()))
  return {
    output: () => output,
    exited: new Promise((resolve) => child.on("exit", (code) => resolve(code))),
    interrupt: () => child.kill("SIGINT")
  }
}

const waitFor = async (demo: Started, text: string, timeoutMs = 30_000) => {
  const deadline = Date.now() + timeoutMs
  while (!demo.output().includes(text)) {
    if (Date.now() > deadline) throw new Error(`demo never printed "${text}"; output:\n${demo.output()}`)
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}

const completedSteps = (output: string) =>
  output
    .split("\n")
    .map((line) => /✓ (\S+)/.exec(line)?.[1])
    .filter((name): name is string => name !== undefined)

it("the demo stopped with Ctrl-C resumes at its next unfinished step and finishes, each step completing once", async () => {
  const dir = mkdtempSync(join(tmpdir(), "durably-demo-"))
  dirs.push(dir)
  const database = join(dir, "demo.db")

  const first = startDemo(database)
  await waitFor(first, "✓ validate")
  first.interrupt()
  expect(await first.exited).toBe(130)
  expect(first.output()).toContain("Stopped.")
  const runId = /Started run (\S+)\./.exec(first.output())?.[1]
  expect(runId).toBeDefined()
  const doneBefore = completedSteps(first.output())
  expect(doneBefore.length).toBeGreaterThanOrEqual(2)
  expect(doneBefore.length).toBeLessThan(steps.length)

  const second = startDemo(database)
  expect(await second.exited).toBe(0)
  const resumed = second.output()
  expect(resumed).toContain(`Resuming run ${runId}: ${doneBefore.length} of ${steps.length} steps already done`)
  expect(resumed).toContain(`continuing at "${steps[doneBefore.length]}"`)
  expect(resumed).toContain('Done: {"orders":120,"total":1726.8,"url":"https://reports.example/2026-11.pdf"}')
  // Every step completed exactly once over both starts, in order.
  expect([...doneBefore, ...completedSteps(resumed)]).toEqual(steps)
}, 60_000)
