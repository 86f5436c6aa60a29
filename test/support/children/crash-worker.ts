// A worker process for the process-death tests (test/crash-*.test.ts): it opens
// `DurablyNode.sqlite` or `DurablyNode.pg` with a short lease and runs the
// three-step job `crash-three-steps`. Every step body first appends
// "<step> <runId> <pid>" to a counter file outside the database.
//
//   crash-worker.ts <sqlite|pg> <filename|url> <counterFile> <hang|resume>
//
// `hang`: step "second" tells the parent it is inside the step (the "ready"
// message of test/support/processes.ts) and never ends, so the parent can
// SIGKILL this process there. `resume`: step "second" finishes; the process
// reports ready once its worker is polling, and stops it on "close".
import { Job, Step } from "@durably/core"
import { DurablyNode } from "@durably/node"
import { Effect, Exit, Layer, Schema, Scope } from "effect"
import { appendFileSync } from "node:fs"
import { serve } from "./serve.js"

const [dialect, target, counterFile, mode] = process.argv.slice(2)
if (
  (dialect !== "sqlite" && dialect !== "pg") ||
  target === undefined ||
  counterFile === undefined ||
  (mode !== "hang" && mode !== "resume")
) {
  throw new Error(`usage: crash-worker.ts <sqlite|pg> <target> <counterFile> <hang|resume>, got ${process.argv.slice(2).join(" ")}`)
}

/** Lease settings short enough that a dead worker's run is claimable again within seconds. */
const leaseMs = 1500
const leaseRenewIntervalMs = 500
const pollingIntervalMs = 50

const Counted = Schema.Struct({ value: Schema.Number, pid: Schema.Number })

/** A step body: count this execution in the counter file, then do the work. */
const counted = <A, E, R>(step: string, work: Effect.Effect<A, E, R>) =>
  Effect.flatMap(Step.runId, (runId) =>
    Effect.zipRight(
      Effect.sync(() => appendFileSync(counterFile, `${step} ${runId} ${process.pid}\n`)),
      work
    )
  )

const computed = (value: number) => Effect.sync(() => ({ value, pid: process.pid }))

const job = Job.make({
  name: "crash-three-steps",
  input: Schema.Struct({ start: Schema.Number }),
  output: Schema.Struct({
    value: Schema.Number,
    pids: Schema.Struct({ first: Schema.Number, second: Schema.Number, third: Schema.Number })
  }),
  run: ({ start }) =>
    Effect.gen(function* () {
      const first = yield* Step.run("first", counted("first", computed(start + 1)), { schema: Counted })
      const second = yield* Step.run(
        "second",
        counted(
          "second",
          mode === "hang"
            ? Effect.zipRight(
                Effect.sync(() => serve({})),
                Effect.never
              )
            : computed(first.value * 10)
        ),
        { schema: Counted }
      )
      const third = yield* Step.run("third", counted("third", computed(second.value + 3)), { schema: Counted })
      return { value: third.value, pids: { first: first.pid, second: second.pid, third: third.pid } }
    })
})

const options = {
  jobs: [job],
  workerId: `${mode}-${process.pid}`,
  leaseDuration: leaseMs,
  leaseRenewInterval: leaseRenewIntervalMs,
  pollingInterval: pollingIntervalMs,
  maxConcurrentRuns: 1,
  preserveSteps: true,
  autoStart: true
} as const

const layer = dialect === "sqlite" ? DurablyNode.sqlite({ filename: target, ...options }) : DurablyNode.pg({ url: target, ...options })

const main = Effect.gen(function* () {
  const scope = yield* Scope.make()
  yield* Layer.buildWithScope(layer, scope)
  if (mode === "resume") serve({ close: () => Effect.as(Scope.close(scope, Exit.void), null) })
})

// A failure (the layer not building) ends the process with its cause on stderr.
Effect.runPromise(main).catch((error: unknown) => {
  console.error(error)
  process.exit(1)
})
