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
