// The messages between a page and its database worker, and between tabs: a
// call of a `Store` method and its outcome. Values travel by structured clone
// (runs hold `Date`s, which it keeps); failures are encoded with their schemas.
import {
  ConflictError,
  CorruptRowError,
  LeaseLostError,
  NotFoundError,
  StoreError
} from "@durably/core/DurablyError"
import { Effect, Schema } from "effect"

/** The `Store` methods a remote store answers. */
export const storeMethods = [
  "migrate",
  "enqueue",
  "enqueueBatch",
  "claim",
  "renew",
  "persistStep",
  "progress",
  "log",
  "complete",
  "fail",
  "release",
  "cancel",
  "retry",
  "deleteRun",
  "purge",
  "releaseExpired",
  "getRun",
  "getRuns",
  "getSteps",
  "getLogs"
] as const

export type StoreMethod = (typeof storeMethods)[number]

/** Methods that only read: asked again of a new owner when the old one closed before answering. */
export const readMethods: ReadonlySet<StoreMethod> = new Set(["getRun", "getRuns", "getSteps", "getLogs"])

export interface Call {
  readonly id: number
  readonly method: StoreMethod
  readonly args: ReadonlyArray<unknown>
  /** The caller's clock (epoch ms): the store runs the call at this time, so time is the engine's `Clock`. */
  readonly now: number
}

export const Failure = Schema.Union(StoreError, LeaseLostError, NotFoundError, ConflictError, CorruptRowError)
export type Failure = typeof Failure.Type

export type Outcome =
  | { readonly id: number; readonly ok: true; readonly value: unknown }
  | { readonly id: number; readonly ok: false; readonly failure: unknown }
  | { readonly id: number; readonly ok: false; readonly defect: string }

const encodeFailure = Schema.encodeSync(Failure)
const decodeFailure = Schema.decodeUnknownSync(Failure)

/** The outcome of `effect` for the call `id`, ready to post. */
export const outcomeOf = (id: number, effect: Effect.Effect<unknown, Failure>): Effect.Effect<Outcome> =>
  effect.pipe(
    Effect.map((value): Outcome => ({ id, ok: true, value })),
    Effect.catchAll((failure) => Effect.succeed<Outcome>({ id, ok: false, failure: encodeFailure(failure) })),
    Effect.catchAllDefect((defect) =>
      Effect.succeed<Outcome>({ id, ok: false, defect: defect instanceof Error ? defect.message : String(defect) })
    )
  )

/** A received outcome as the effect it stands for. */
export const fromOutcome = (outcome: Outcome): Effect.Effect<unknown, Failure> => {
  if (outcome.ok) return Effect.succeed(outcome.value)
  if ("failure" in outcome) {
    return Effect.try({
      try: () => decodeFailure(outcome.failure),
      catch: () => new StoreError({ operation: "decode", cause: new Error("an unreadable failure came back") })
    }).pipe(Effect.flatMap(Effect.fail))
  }
  return Effect.die(new Error(outcome.defect))
}
