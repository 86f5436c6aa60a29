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
import { monthlyReportJob, reportSteps } from "@durably/example-jobs"
import { createDurably } from "durably"

const here = dirname(fileURLToPath(import.meta.url))
const database = resolve(process.env.DURABLY_DEMO_DB ?? resolve(here, "../.data/demo.db"))
const stepMs = Number(process.env.DURABLY_DEMO_STEP_MS ?? 1500)

const monthlyReport = monthlyReportJob(stepMs)
const steps = reportSteps

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
