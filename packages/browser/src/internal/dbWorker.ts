// The page's side of the database worker: starts it, asks it to open the
// database, and carries store calls to it. Opening never hangs: a worker that
// reports a failure, dies, or says nothing within the timeout gives a
// `BrowserStorageError`. Calls made in the same turn leave in one message
// (`perTurn`).
import { StoreError } from "@durably/core/DurablyError"
import type { Duration, Scope } from "effect"
import { Deferred, Effect } from "effect"
import { BrowserStorageError } from "../BrowserStorageError.js"
import type { FromWorker, OpenRequest, ToWorker } from "./messages.js"
import { perTurn } from "./perTurn.js"
import type { Call, Outcome } from "./protocol.js"
import { fromOutcome } from "./protocol.js"
import type { Send } from "./storeClient.js"

export interface OpenOptions extends Omit<OpenRequest, "type"> {
  readonly makeWorker: () => Worker
  readonly openTimeout: Duration.DurationInput
}

export interface DatabaseWorker {
  readonly send: Send
  /** Leased runs of a closed owner put back to pending when it opened. */
  readonly released: number
}

export const open = (options: OpenOptions): Effect.Effect<DatabaseWorker, BrowserStorageError, Scope.Scope> =>
  Effect.gen(function* () {
    const opened = yield* Deferred.make<number, BrowserStorageError>()
    const waiting = new Map<number, (outcome: Outcome) => void>()
    let stopped: string | undefined

    const worker = yield* Effect.acquireRelease(
      Effect.try({
        try: options.makeWorker,
        catch: (cause) =>
          new BrowserStorageError({ reason: "worker", detail: `the database worker could not be started: ${String(cause)}` })
      }),
      (worker) => Effect.sync(() => worker.terminate())
    )
    const post = (message: ToWorker) => worker.postMessage(message)

    /** The worker is gone: every call waiting for it fails. */
    const stop = (detail: string) => {
      stopped = detail
      const failed = [...waiting.entries()]
      waiting.clear()
      for (const [id, resume] of failed) resume({ id, ok: false, defect: detail })
    }

    worker.addEventListener("message", (event: MessageEvent<FromWorker>) => {
      const message = event.data
      switch (message.type) {
        case "ready":
          return Deferred.unsafeDone(opened, Effect.succeed(message.released))
        case "open-failed":
          return Deferred.unsafeDone(
            opened,
            Effect.fail(new BrowserStorageError({ reason: message.reason, detail: message.detail }))
          )
        case "outcomes":
          for (const outcome of message.outcomes) {
            const resume = waiting.get(outcome.id)
            waiting.delete(outcome.id)
            resume?.(outcome)
          }
      }
    })
    // Closed with its scope: calls still waiting fail instead of waiting forever.
    yield* Effect.addFinalizer(() => Effect.sync(() => stop("the database was closed")))
    worker.addEventListener("error", (event) => {
      const detail = `the database worker failed${event.message ? `: ${event.message}` : ""} (check that the bundler serves @durably/browser's worker)`
      Deferred.unsafeDone(opened, Effect.fail(new BrowserStorageError({ reason: "worker", detail })))
      stop(detail)
    })

    post({ type: "open", name: options.name, directory: options.directory, synchronous: options.synchronous })
    const released = yield* Deferred.await(opened).pipe(
      Effect.timeoutFail({
        duration: options.openTimeout,
        onTimeout: () =>
          new BrowserStorageError({
            reason: "timeout",
            detail: "the database worker did not open the database in time: another program may hold the origin's OPFS files"
          })
      })
    )

    let nextId = 0
    const call = perTurn<Call>((calls) => post({ type: "calls", calls }))

    const send: Send = (method, args, now) =>
      Effect.async((resume) => {
        if (stopped !== undefined) {
          return resume(Effect.fail(new StoreError({ operation: method, cause: new Error(stopped) })))
        }
        const id = nextId++
        waiting.set(id, (outcome) => resume(fromOutcome(outcome)))
        call({ id, method, args, now })
        return Effect.sync(() => {
          waiting.delete(id)
        })
      })

    return { send, released }
  })
