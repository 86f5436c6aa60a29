// A worker process for test/cross-process-events.test.ts: opens Durably on
// the database it is given with a polling worker for `steps-with-logs`
// (step results kept), and reports ready. It executes what the parent
// triggers; the parent sees it only through the database.
//
//   events-worker.ts <sqlite|pg> <file path | postgres URL>
import { DurablyNode } from "@durably/node"
import { Effect, Layer } from "effect"
import { stepsWithLogs } from "./eventsJob.js"
import { serve } from "./serve.js"

const [dialect, target] = process.argv.slice(2)
if ((dialect !== "sqlite" && dialect !== "pg") || target === undefined) {
  throw new Error(`usage: events-worker.ts <sqlite|pg> <target>, got ${process.argv.slice(2).join(" ")}`)
}

const options = {
  jobs: [stepsWithLogs],
  workerId: `events-${process.pid}`,
  pollingInterval: "20 millis",
  preserveSteps: true
} as const

const layer = dialect === "sqlite" ? DurablyNode.sqlite({ filename: target, ...options }) : DurablyNode.pg({ url: target, ...options })

// The worker runs until the parent kills this process (or goes away).
Effect.runPromise(
  Effect.scoped(
    Effect.gen(function* () {
      yield* Layer.build(layer)
      serve({})
      return yield* Effect.never
    })
  )
).catch((error: unknown) => {
  console.error(error)
  process.exit(1)
})
