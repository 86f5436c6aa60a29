// The job of the cross-process event tests (test/cross-process-events.test.ts):
// three steps with progress and a log entry between them, each a little apart,
// so a process polling the store sees them one by one.
import { Job, Step } from "@durably/core"
import { Effect, Schema } from "effect"

/** Long enough for several polls of the parent in between. */
export const pauseMs = 150

const pause = Effect.sleep(`${pauseMs} millis`)

export const stepsWithLogs = Job.make({
  name: "steps-with-logs",
  input: Schema.Number,
  run: (n) =>
    Effect.gen(function* () {
      const one = yield* Step.run("one", Effect.as(pause, n + 1))
      yield* Step.progress(1, 3, "one done")
      yield* pause
      yield* Step.log.info("halfway", { one })
      yield* pause
      const two = yield* Step.run("two", Effect.as(pause, one * 2))
      yield* Step.progress(2, 3)
      yield* pause
      return yield* Step.run("three", Effect.as(pause, two + 1))
    })
})

/** What one run of `stepsWithLogs` with input `n` publishes after its lease, in order. */
export const eventsAfterLease = (n: number) => {
  const one = n + 1
  const two = one * 2
  return [
    { type: "step:complete", stepName: "one", stepIndex: 0, output: one },
    { type: "run:progress", progress: { current: 1, total: 3, message: "one done" } },
    { type: "log:write", level: "info", message: "halfway", data: { one }, stepName: null },
    { type: "step:complete", stepName: "two", stepIndex: 1, output: two },
    { type: "run:progress", progress: { current: 2, total: 3 } },
    { type: "step:complete", stepName: "three", stepIndex: 2, output: two + 1 },
    { type: "run:complete", output: two + 1 }
  ]
}
