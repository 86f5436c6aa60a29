// An execution's last write: the run completed or failed, or (shut down) the
// lease handed back, together with the step results still waiting to be
// stored. A terminal write is retried with backoff while the lease is valid;
// when it still cannot be made, the waiting results are stored before giving
// up, so the execution that resumes the run does not run those steps again.
import { Effect } from "effect"
import type { LeaseLostError, StoreError } from "../DurablyError.js"
import type { Deps, LeaseHolder, StopReason } from "./leaseHolder.js"
import type { Unsaved, UnsavedSteps } from "./unsavedSteps.js"

export const finishing = (deps: Deps, holder: LeaseHolder, unsaved: UnsavedSteps) => {
  const { config, store } = deps
  const { lease, reportError, retried } = holder
  const terminal = { deleteSteps: !config.preserveSteps }

  /** Stores `steps` in order with their events; the first failure stops it. */
  const save = (steps: ReadonlyArray<Unsaved>): Effect.Effect<void, StoreError | LeaseLostError> =>
    Effect.forEach(steps, (step) => Effect.zipRight(retried(store.persistStep(lease, step.write)), step.stored), {
      discard: true
    })

  /**
   * The terminal write, then `announce` (the run's terminal event). When it
   * deletes step outputs, the waiting results are not written at all and only
   * their events precede `announce`; otherwise each is stored before it.
   */
  const last = (write: Effect.Effect<void, StoreError | LeaseLostError>, announce: Effect.Effect<void>) =>
    Effect.gen(function* () {
      const steps = unsaved.take()
      if (!terminal.deleteSteps) {
        const saved = yield* Effect.either(save(steps))
        if (saved._tag === "Left") return yield* reportError(saved.left)
      }
      const written = yield* Effect.either(retried(write))
      if (written._tag === "Left") {
        // With no terminal write, these results are what keeps a later execution from running their steps again.
        if (terminal.deleteSteps) yield* Effect.ignore(save(steps))
        return yield* reportError(written.left)
      }
      if (terminal.deleteSteps) yield* Effect.forEach(steps, (step) => step.stored, { discard: true })
      yield* announce
    })

  return {
    complete: (output: unknown, announce: Effect.Effect<void>) =>
      last(store.complete(lease, output, terminal), announce),
    fail: (error: string, announce: Effect.Effect<void>) => last(store.fail(lease, error, terminal), announce),
    /**
     * A stop from outside. A lost or cancelled lease is not ours to write to any
     * more. Shutdown stores the waiting results, then hands the run back so any
     * worker resumes it at once; but when it interrupted a step's body, that
     * body may still be running (a promise deaf to its abort signal), so the
     * lease is left to expire instead and no other worker starts the step
     * before then.
     */
    stopped: (reason: StopReason, stepInterrupted: boolean) =>
      reason !== "shutdown"
        ? Effect.void
        : Effect.ignore(
            Effect.zipRight(save(unsaved.take()), stepInterrupted ? Effect.void : store.release(lease))
          )
  }
}
