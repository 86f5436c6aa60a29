// A worker process for the drain test (test/drain-pg.test.ts): opens
// `DurablyNode.pg` with a polling worker (4 runs at once) for the five-step job
// `drain-five-steps`, and reports ready once it polls. Each step body appends
// "<runId> <step> <pid>" to this process's step file; each `run:complete`
// event (published after the engine's completing write succeeded) appends
// "<runId> <pid>" to its completion file. "close" stops the worker.
//
//   drain-worker.ts <url> <stepFile> <completionFile>
import { Durably, EventBus, Job, Step } from "@durably/core"
import { DurablyNode } from "@durably/node"
import { Context, Effect, Exit, Layer, Queue, Schema, Scope } from "effect"
import { appendFileSync } from "node:fs"
import { serve } from "./serve.js"

const [url, stepFile, completionFile] = process.argv.slice(2)
if (url === undefined || stepFile === undefined || completionFile === undefined) {
  throw new Error(`usage: drain-worker.ts <url> <stepFile> <completionFile>, got ${process.argv.slice(2).join(" ")}`)
}

const steps = ["s1", "s2", "s3", "s4", "s5"] as const

const job = Job.make({
  name: "drain-five-steps",
  input: Schema.Struct({ index: Schema.Number }),
  output: Schema.Struct({ index: Schema.Number, sum: Schema.Number }),
  run: ({ index }) =>
    Effect.gen(function* () {
      const runId = yield* Step.runId
      let sum = 0
      for (const [position, step] of steps.entries()) {
        sum += yield* Step.run(
          step,
          Effect.sync(() => {
            appendFileSync(stepFile, `${runId} ${step} ${process.pid}\n`)
            return index + position
          })
        )
      }
      return { index, sum }
    })
})

const main = Effect.gen(function* () {
  const scope = yield* Scope.make()
  const context = yield* Layer.buildWithScope(
    DurablyNode.pg({
      url,
      jobs: [job],
      workerId: `drain-${process.pid}`,
      maxConcurrentRuns: 4,
      pollingIntervalMs: 50,
      leaseMs: 30_000,
      leaseRenewIntervalMs: 5_000,
      autoStart: true
    }),
    scope
  )
  // Subscribed before reporting ready, so no completion is missed.
  const events = yield* Scope.extend(Context.get(context, EventBus.EventBus).subscribe, scope)
  yield* Effect.forkIn(
    Effect.forever(
      Effect.flatMap(Queue.take(events), (event) =>
        event.type === "run:complete"
          ? Effect.sync(() => appendFileSync(completionFile, `${event.runId} ${process.pid}\n`))
          : Effect.void
      )
    ),
    scope
  )
  // The layer provides Durably too; nothing here triggers runs, the parent enqueues them.
  Context.get(context, Durably.Durably)
  serve({ close: () => Effect.as(Scope.close(scope, Exit.void), null) })
})

// A failure (the layer not building) ends the process with its cause on stderr.
Effect.runPromise(main).catch((error: unknown) => {
  console.error(error)
  process.exit(1)
})
