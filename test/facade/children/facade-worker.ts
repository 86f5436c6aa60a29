// A worker process for test/facade/crash-facade.test.ts, written against the
// Promise facade only: `createDurably` with a short lease and the three-step
// job `facade-crash`. Every step body first appends "<step> <runId> <pid>" to a
// counter file outside the database. Step "second" blocks the first time it
// runs for a run (no earlier "second" line for that run in the counter file),
// so the test can SIGKILL the process there; when it runs again (in another
// process, after the resume) it finishes.
//
//   facade-worker.ts <database> <counterFile>
//
// Protocol over the IPC channel: the process says `loaded` once its modules are
// loaded; `start` creates the Durably instance and starts its worker (answered
// with `started`); `close` disposes it (answered with `closed`). Every
// `run:leased`, `run:complete` and `worker:error` event is forwarded. The
// process leaves when the parent goes away.
import { appendFileSync } from "node:fs"
import { createDurably, defineJob } from "durably"
import type { Durably } from "durably"
import { z } from "zod"
import { executions } from "../../support/counterFile.js"
import { facadeCrashShape } from "./facadeCrashJob.js"

/** Parent → child. */
export type Command = { readonly cmd: "start" } | { readonly cmd: "close" }

/** Child → parent. */
export type Report =
  | { readonly type: "loaded"; readonly pid: number }
  | { readonly type: "started"; readonly workerId: string; readonly at: number }
  | { readonly type: "closed" }
  | { readonly type: "failed"; readonly error: string }
  | {
      readonly type: "run:leased"
      readonly runId: string
      readonly leaseOwner: string
      readonly attempt: number
      readonly at: number
      readonly leaseExpiresAt: number
    }
  | { readonly type: "run:complete"; readonly runId: string; readonly at: number }
  | { readonly type: "worker:error"; readonly error: string; readonly at: number }

const [database, counterFile] = process.argv.slice(2)
if (database === undefined || counterFile === undefined) {
  throw new Error(`usage: facade-worker.ts <database> <counterFile>, got ${process.argv.slice(2).join(" ")}`)
}

const report = (message: Report): void => {
  if (process.send === undefined) throw new Error("facade-worker.ts must be forked with an IPC channel")
  process.send(message)
}

/** Lease settings short enough that a dead worker's run is claimable again within seconds. */
const leaseMs = 1500
const leaseRenewIntervalMs = 300
const pollingIntervalMs = 50
const workerId = `facade-${process.pid}`

/** Counts one execution of a step body. */
const count = (step: string, runId: string): void => appendFileSync(counterFile, `${step} ${runId} ${process.pid}\n`)

/** True when the counter file already has an execution of `step` for `runId`. */
const ranBefore = (step: string, runId: string): boolean =>
  executions(counterFile).some((execution) => execution.step === step && execution.runId === runId)

/** Waits until the step is aborted (or gives up after a minute, failing the step). */
const blockUntilAborted = (signal: AbortSignal): Promise<never> =>
  new Promise((_, reject) => {
    const timer = setTimeout(() => reject(new Error("step second was never interrupted")), 60_000)
    signal.addEventListener(
      "abort",
      () => {
        clearTimeout(timer)
        reject(signal.reason)
      },
      { once: true }
    )
  })

const Counted = z.object({ value: z.number(), pid: z.number() })

const facadeCrash = defineJob({
  ...facadeCrashShape,
  run: async (step, input) => {
    const first = Counted.parse(
      await step.run("first", () => {
        count("first", step.runId)
        return { value: input.start + 1, pid: process.pid }
      })
    )
    const second = Counted.parse(
      await step.run("second", async (signal) => {
        const resumed = ranBefore("second", step.runId)
        count("second", step.runId)
        if (!resumed) await blockUntilAborted(signal)
        return { value: first.value * 10, pid: process.pid }
      })
    )
    const third = Counted.parse(
      await step.run("third", () => {
        count("third", step.runId)
        return { value: second.value + 3, pid: process.pid }
      })
    )
    return { value: third.value, pids: { first: first.pid, second: second.pid, third: third.pid } }
  }
})

let durably: Durably<{ facadeCrash: typeof facadeCrash }> | undefined

const start = async () => {
  const instance = createDurably({
    database,
    jobs: { facadeCrash },
    workerId,
    leaseMs,
    leaseRenewIntervalMs,
    pollingIntervalMs
  })
  instance.on("run:leased", (event) =>
    report({
      type: "run:leased",
      runId: event.runId,
      leaseOwner: event.leaseOwner,
      attempt: event.attempt,
      at: event.timestamp.getTime(),
      leaseExpiresAt: event.leaseExpiresAt.getTime()
    })
  )
  instance.on("run:complete", (event) => report({ type: "run:complete", runId: event.runId, at: event.timestamp.getTime() }))
  instance.on("worker:error", (event) => report({ type: "worker:error", error: event.error, at: event.timestamp.getTime() }))
  durably = instance
  await instance.init()
  report({ type: "started", workerId, at: Date.now() })
}

const close = async () => {
  await durably?.dispose()
  report({ type: "closed" })
}

const failed = (error: unknown) =>
  report({ type: "failed", error: error instanceof Error ? (error.stack ?? error.message) : String(error) })

// The parent went away (test finished or crashed): leave with it.
process.on("disconnect", () => process.exit(0))
process.on("message", (command: Command) => {
  if (command.cmd === "start") start().catch(failed)
  else close().catch(failed)
})
report({ type: "loaded", pid: process.pid })
