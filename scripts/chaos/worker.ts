// One worker process of the chaos run: a `createDurably` instance running the
// chaos job, journaling every step body (start and end), every execution of
// the job function, and the `run:leased`, `run:complete` and `worker:error`
// events to a journal of its own (journal.ts). The coordinator bundles this
// file (bundle.ts) and forks it:
//
//   node worker.mjs <json WorkerConfig>
//
// Over IPC it says `{ type: "ready" }` once its worker polls, and on `close`
// it disposes its instance and says `{ type: "closed" }`. It leaves when the
// coordinator goes away.
import { createDurably, defineJob } from "durably"
import type { ChaosOutput } from "./job.js"
import { chaosShape, nextValue, StepOutput, stepName } from "./job.js"
import { openJournal } from "./journal.js"

export interface WorkerConfig {
  readonly database: string
  readonly journalDir: string
  /** The process's id in the fleet (unique within a chaos run). */
  readonly proc: string
  readonly leaseMs: number
  readonly leaseRenewIntervalMs: number
  readonly pollingIntervalMs: number
  readonly maxConcurrentRuns: number
}

export type ToWorker = { readonly cmd: "close" }
export type FromWorker = { readonly type: "ready" } | { readonly type: "closed" } | { readonly type: "failed"; readonly error: string }

const config = JSON.parse(process.argv[2] ?? "null") as WorkerConfig | null
if (config === null) throw new Error("usage: worker.mjs <json config>")

const report = (message: FromWorker): void => {
  process.send?.(message)
}

const journal = openJournal(config.journalDir, config.proc)
let executions = 0

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/**
 * The attempt of each run's latest claim in this process, from `run:leased`.
 * The engine publishes the event before the job starts and the facade delivers
 * it a moment later, so the job waits for it: the attempt orders executions by
 * claim, which their start times do not when a process stalls between the two.
 */
const claims = new Map<string, number>()
const claimOf = async (run: string): Promise<number | null> => {
  for (let waited = 0; !claims.has(run) && waited < 2_000; waited++) await sleep(1)
  const attempt = claims.get(run)
  claims.delete(run)
  return attempt ?? null
}

const chaos = defineJob({
  ...chaosShape,
  run: async (step, input): Promise<ChaosOutput> => {
    const run = step.runId
    const exec = `${config.proc}.${++executions}`
    journal.write("exec-start", { run, exec, attempt: await claimOf(run) })
    step.signal.addEventListener(
      "abort",
      () => journal.write("abort", { run, exec, reason: String(step.signal.reason) }),
      { once: true }
    )
    let value = input.seed
    const nonces: Array<string> = []
    for (let index = 0; index < input.steps; index++) {
      const name = stepName(index)
      const previous = value
      const output = StepOutput.parse(
        await step.run(name, async () => {
          const nonce = `${exec}.${index}`
          journal.write("step-start", { run, exec, step: name, nonce })
          await sleep(Math.random() * input.stepMs)
          const result: StepOutput = { value: nextValue(previous, index), proc: config.proc, exec, nonce }
          journal.write("step-end", { run, exec, step: name, nonce })
          return result
        })
      )
      value = output.value
      nonces.push(output.nonce)
    }
    journal.write("run-end", { run, exec })
    return { value, proc: config.proc, exec, nonces }
  }
})

const durably = createDurably({
  database: config.database,
  jobs: { chaos },
  workerId: `chaos-${config.proc}`,
  leaseMs: config.leaseMs,
  leaseRenewIntervalMs: config.leaseRenewIntervalMs,
  pollingIntervalMs: config.pollingIntervalMs,
  maxConcurrentRuns: config.maxConcurrentRuns,
  preserveSteps: true,
  shutdownTimeoutMs: 5_000
})
durably.on("run:leased", (event) => {
  claims.set(event.runId, event.attempt)
  journal.write("leased", { run: event.runId, attempt: event.attempt })
})
durably.on("run:complete", (event) => {
  const output = chaosShape.output.safeParse(event.output)
  journal.write("complete", { run: event.runId, exec: output.success ? output.data.exec : `unreadable ${JSON.stringify(event.output)}` })
})
durably.on("worker:error", (event) => journal.write("worker-error", { run: event.runId ?? "", error: event.error }))

const failed = (error: unknown) => {
  const message: FromWorker = { type: "failed", error: error instanceof Error ? (error.stack ?? error.message) : String(error) }
  if (process.send === undefined) process.exit(1)
  process.send(message, () => process.exit(1))
}

process.on("disconnect", () => process.exit(0))
process.on("message", (message: ToWorker) => {
  if (message.cmd === "close") {
    durably
      .dispose()
      .then(() => {
        journal.close()
        report({ type: "closed" })
      })
      .catch(failed)
  }
})
durably
  .init()
  .then(() => report({ type: "ready" }))
  .catch(failed)
