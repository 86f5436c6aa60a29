// The one-command demo: a six-step job on an embedded SQLite file. Stop it with
// Ctrl-C halfway and run it again: it resumes at the first unfinished step.
//
//   pnpm demo
//
// DURABLY_DEMO_DB (database file) and DURABLY_DEMO_STEP_MS (time per step)
// override the defaults.
import { mkdirSync } from "node:fs"
import { dirname, relative, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { createDurably, defineJob } from "durably"
import { z } from "zod"

const here = dirname(fileURLToPath(import.meta.url))
const database = resolve(process.env.DURABLY_DEMO_DB ?? resolve(here, "../.data/demo.db"))
const stepMs = Number(process.env.DURABLY_DEMO_STEP_MS ?? 1500)

const steps = ["fetch-orders", "validate", "enrich-customers", "compute-totals", "render-report", "publish"] as const

/** Pretend work that stops at once when the run is stopped. */
const work = (ms: number, signal: AbortSignal) =>
  new Promise<void>((done, fail) => {
    const timer = setTimeout(done, ms)
    signal.addEventListener("abort", () => {
      clearTimeout(timer)
      fail(signal.reason)
    })
  })

const monthlyReport = defineJob({
  name: "monthly-report",
  input: z.object({ month: z.string() }),
  output: z.object({ orders: z.number(), total: z.number(), url: z.string() }),
  run: async (step, input) => {
    const orders = await step.run("fetch-orders", async (signal) => {
      await work(stepMs, signal)
      return Array.from({ length: 120 }, (_, i) => ({ id: i + 1, cents: 1000 + ((i * 37) % 900) }))
    })
    step.progress(1, steps.length, "fetched orders")
    const valid = await step.run("validate", async (signal) => {
      await work(stepMs, signal)
      return orders.filter((order) => order.cents > 0).length
    })
    step.progress(2, steps.length, "validated")
    await step.run("enrich-customers", (signal) => work(stepMs, signal))
    step.progress(3, steps.length, "enriched")
    const total = await step.run("compute-totals", async (signal) => {
      await work(stepMs, signal)
      return orders.reduce((sum, order) => sum + order.cents, 0) / 100
    })
    step.progress(4, steps.length, "totals computed")
    await step.run("render-report", (signal) => work(stepMs, signal))
    step.progress(5, steps.length, "rendered")
    const url = await step.run("publish", async (signal) => {
      await work(stepMs, signal)
      return `https://reports.example/${input.month}.pdf`
    })
    step.progress(6, steps.length, "published")
    return { orders: valid, total, url }
  }
})

mkdirSync(dirname(database), { recursive: true })
const durably = createDurably({
  database,
  jobs: { monthlyReport },
  pollingIntervalMs: 200,
  leaseMs: 5000,
  leaseRenewIntervalMs: 1000,
  // Ctrl-C stops the step in flight at once and hands the run back.
  shutdownTimeoutMs: 1
})

const bar = (done: number) => `[${"#".repeat(done * 4)}${".".repeat((steps.length - done) * 4)}] ${done}/${steps.length}`
const print = (line: string) => process.stdout.write(`${line}\n`)

print(`Durably demo: a ${steps.length}-step job on SQLite at ${relative(process.cwd(), database) || database}`)
await durably.migrate()

// An unfinished run from an earlier, interrupted start is resumed; otherwise start a new one.
const [unfinished] = await durably.jobs.monthlyReport.getRuns({ status: ["pending", "leased"], limit: 1 })
let runId: string
if (unfinished !== undefined) {
  runId = unfinished.id
  const done = (await durably.getSteps(runId)).filter((s) => s.status === "completed").map((s) => s.name)
  const next = steps.find((name) => !done.includes(name))
  print(`Resuming run ${runId}: ${done.length} of ${steps.length} steps already done, continuing at "${next}".`)
  for (const name of done) print(`  = ${name} (stored output, not run again)`)
  if (unfinished.status === "leased") print("  (waiting for the interrupted worker's lease to expire)")
} else {
  const run = await durably.jobs.monthlyReport.trigger({ month: "2026-11" })
  runId = run.id
  print(`Started run ${runId}. Press Ctrl-C at any time, then run \`pnpm demo\` again to resume.`)
}

durably.on("step:start", (e) => {
  if (e.runId === runId) print(`  > ${e.stepName} ...`)
})
durably.on("step:complete", (e) => {
  if (e.runId === runId) print(`  ✓ ${e.stepName}`)
})
durably.on("run:progress", (e) => {
  if (e.runId === runId) print(`    ${bar(e.progress.current)} ${e.progress.message ?? ""}`)
})

let stopping = false
process.on("SIGINT", () => {
  if (stopping) return
  stopping = true
  print(`\nStopped. Run ${runId} keeps its completed steps in ${database}.`)
  print("Run `pnpm demo` again to resume it at the next unfinished step.")
  void durably.dispose().then(() => process.exit(130))
})

await durably.start()
try {
  const run = await durably.waitForRun(runId)
  print(`Done: ${JSON.stringify(run.output)}`)
  print("Run `pnpm demo` again to start a new run.")
} catch (error) {
  if (!stopping) print(`The run did not complete: ${error instanceof Error ? error.message : String(error)}`)
}
if (!stopping) await durably.dispose()
