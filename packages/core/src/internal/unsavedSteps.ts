// Completed steps whose results are not stored yet. A completed step's write
// waits until the job next starts a step, logs, records progress or ends: a
// step's result is stored before anything that follows it, and the run's last
// steps need no write of their own when the terminal write deletes step
// outputs anyway. A crash in between re-executes the step, as a crash between
// its body and its write always did.
import { Deferred, Effect, FiberId } from "effect"
import type { StepWrite } from "../Store.js"

/** A completed step whose result is not stored yet, and the event that follows its write. */
export interface Unsaved {
  readonly write: StepWrite
  readonly stored: Effect.Effect<void>
}

export interface UnsavedSteps {
  readonly push: (step: Unsaved) => void
  /** Runs `next` once every completed step before it is stored. */
  readonly afterSaved: <A, E, R>(next: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  /** Hands the waiting results to the run's last write, which stores them (or not) itself. */
  readonly take: () => ReadonlyArray<Unsaved>
}

/** `save` stores one result (and publishes its event); it handles its own failures. */
export const makeUnsavedSteps = (save: (step: Unsaved) => Effect.Effect<void>): UnsavedSteps => {
  let unsaved: Array<Unsaved> = []
  /** Whether step results are being written; `written` tells those waiting for them when they are. */
  let writing = false
  let written: Deferred.Deferred<void> | undefined

  /** Stores the waiting step results in order, after any write of them already in progress. */
  const saveUnsaved: Effect.Effect<void> = Effect.suspend(() => {
    if (writing) {
      written ??= Deferred.unsafeMake<void>(FiberId.none)
      return Effect.zipRight(Deferred.await(written), saveUnsaved)
    }
    const steps = unsaved
    if (steps.length === 0) return Effect.void
    unsaved = []
    writing = true
    return Effect.forEach(steps, save, { discard: true }).pipe(
      Effect.ensuring(
        Effect.suspend(() => {
          writing = false
          const waiting = written
          written = undefined
          return waiting === undefined ? Effect.void : Deferred.succeed(waiting, undefined)
        })
      )
    )
  })

  return {
    push: (step) => {
      unsaved.push(step)
    },
    afterSaved: (next) => Effect.suspend(() => (unsaved.length === 0 && !writing ? next : Effect.zipRight(saveUnsaved, next))),
    take: () => {
      const steps = unsaved
      unsaved = []
      return steps
    }
  }
}
