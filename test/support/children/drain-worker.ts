// A worker process for the drain test (test/drain-pg.test.ts): opens
// `DurablyNode.pg` with a polling worker (4 runs at once) for the five-step job
// `drain-five-steps`, and reports ready once it polls. Each step body appends
// "<runId> <step> <pid>" to this process's step file; each `run:complete`
// event (published after the engine's completing write succeeded) appends
// "complete <runId> <pid>" to its event file, each `worker:error` event
// "error <runId|-> <pid> <message as JSON>". "close" stops the worker and
// returns once every event before it has been written.
//
//   drain-worker.ts <url> <stepFile> <eventFile>
import { EventBus, Job, Step, Worker } from "@durably/core"
import { DurablyNode } from "@durably/node"
import { Context, Effect, Exit, Fiber, Layer, Queue, Schema, Scope } from "effect"
import { appendFileSync } from "node:fs"
import { serve } from "./serve.js"

const [url, stepFile, eventFile] = process.argv.slice(2)
if (url === undefined || stepFile === undefined || eventFile === undefined) {
  throw new Error(`usage: drain-worker.ts <url> <stepFile> <eventFile>, got ${process.argv.slice(2).join(" ")}`)
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

/** Published on close, after the worker stopped: every event before it has been written. */
const closing = "drain-worker: closing"

const main = Effect.gen(function* () {
  const scope = yield* Scope.make()
  const context = yield* Layer.buildWithScope(
    DurablyNode.pg({
      url,
      jobs: [job],
      workerId: `drain-${process.pid}`,
      maxConcurrentRuns: 4,
      pollingInterval: "50 millis",
      leaseDuration: "30 seconds",
      leaseRenewInterval: "5 seconds",
      autoStart: true
    }),
    scope
  )
  const bus = Context.get(context, EventBus.EventBus)
  const worker = Context.get(context, Worker.Worker)
  // Subscribed before reporting ready, so no event is missed.
  const events = yield* Scope.extend(bus.subscribe, scope)
  const writer = yield* Effect.forkIn(
    Effect.gen(function* () {
      while (true) {
        const event = yield* Queue.take(events)
        if (event.type === "run:complete") appendFileSync(eventFile, `complete ${event.runId} ${process.pid}\n`)
        if (event.type === "worker:error") {
          if (event.error === closing) return
          appendFileSync(eventFile, `error ${event.runId ?? "-"} ${process.pid} ${JSON.stringify(event.error)}\n`)
        }
      }
    }),
    scope
  )
  serve({
    close: () =>
      Effect.gen(function* () {
        yield* worker.stop
        yield* bus.publish({ type: "worker:error", timestamp: new Date(), error: closing })
        yield* Fiber.join(writer)
        yield* Scope.close(scope, Exit.void)
        return null
      })
  })
})

// A failure (the layer not building) ends the process with its cause on stderr.
Effect.runPromise(main).catch((error: unknown) => {
  console.error(error)
  process.exit(1)
})
