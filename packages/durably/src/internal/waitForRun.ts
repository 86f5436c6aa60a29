// Waiting for a run from the facade: until it is terminal (or `timeout`), with
// its progress and log events forwarded to the caller's callbacks meanwhile.
import { Durably as Engine, EventBus } from "@durably/core"
import type { DurablyEvent, EventOf } from "@durably/core/DurablyEvent"
import type { Progress } from "@durably/core/Run"
import type { Scope } from "effect"
import { Effect, Fiber, Queue } from "effect"
import type { Services } from "./instance.js"
import type { DecodeOutput } from "./runOutput.js"

/** Options of `waitForRun` and `triggerAndWait`. */
export interface WaitForRunOptions {
  /** Give up after this many milliseconds (`WaitTimeoutError`); the run goes on. */
  readonly timeout?: number | undefined
  readonly onProgress?: ((progress: Progress) => void | Promise<void>) | undefined
  readonly onLog?: ((log: EventOf<"log:write">) => void | Promise<void>) | undefined
}

/** Forwards one run's progress and log events to the caller's callbacks until `body` ends. */
export const withCallbacks = <A, E>(
  waitOptions: WaitForRunOptions | undefined,
  body: (watch: (runId: string) => Effect.Effect<void>) => Effect.Effect<A, E, Services>
): Effect.Effect<A, E, Services | Scope.Scope> => {
  const onProgress = waitOptions?.onProgress
  const onLog = waitOptions?.onLog
  if (onProgress === undefined && onLog === undefined) return body(() => Effect.void)
  return Effect.gen(function* () {
    const bus = yield* EventBus.EventBus
    // Subscribed before the trigger / read, so no event of the run is missed.
    const events = yield* bus.subscribe
    const call = (event: DurablyEvent, runId: string) =>
      Effect.promise(async () => {
        try {
          if (event.runId !== runId) return
          if (event.type === "run:progress") await onProgress?.(event.progress)
          if (event.type === "log:write") await onLog?.(event)
        } catch {
          // A callback that throws does not end the wait.
        }
      })
    let watched: string | undefined
    const fiber = yield* Effect.forkScoped(
      Effect.forever(Effect.flatMap(Queue.take(events), (event) => (watched === undefined ? Effect.void : call(event, watched))))
    )
    const result = yield* body((runId) =>
      Effect.sync(() => {
        watched = runId
      })
    )
    yield* Fiber.interrupt(fiber)
    // Deliver what arrived before the terminal state was seen.
    for (const event of yield* Queue.takeAll(events)) if (watched !== undefined) yield* call(event, watched)
    return result
  })
}

/** The run once terminal, its output decoded. */
export const waitFor = (decodeOutput: DecodeOutput, runId: string, waitOptions: WaitForRunOptions | undefined) =>
  Effect.flatMap(Engine.Durably, (engine) =>
    Effect.flatMap(engine.waitForRun(runId, { timeout: waitOptions?.timeout }), decodeOutput)
  )
