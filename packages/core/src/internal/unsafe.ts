// The synchronous fast paths, kept off the public services: a trigger and an
// event emitted without running any effect, for the Promise facade (a trigger
// on an open SQLite instance then starts no fiber at all). Each service made
// by this package registers its fast path here under the service object;
// a service made elsewhere (a test double, a decorator) has none, and its
// caller takes the effect instead.
import type { Effect, Either, Schema } from "effect"
import type { EventOf, EventType } from "../DurablyEvent.js"
import type * as Job from "../Job.js"
import type { TriggerError, TriggerOptions, Triggered } from "./types.js"

/**
 * `emit` done at once, with `now` (epoch ms) for the current time: the event is
 * built (and delivered) only if some subscription takes its type.
 */
export type UnsafeEmit = <T extends EventType>(type: T, build: (timestamp: Date) => EventOf<T>, now: number) => void

/**
 * `trigger` started at once, outside the runtime, with `now` (epoch ms) for the
 * current time. When it can be done at once (the input encodes synchronously
 * and the store writes without waiting: SQLite, its connection free) it is,
 * and the answer is an `Either` (`Either.isEither`). Otherwise nothing is
 * written yet, and the answer is the effect that does the rest.
 */
export type UnsafeTrigger = <J extends Job.Any>(
  job: J,
  input: Schema.Schema.Type<J["input"]>,
  options: TriggerOptions | undefined,
  now: number
) => Either.Either<Triggered, TriggerError> | Effect.Effect<Triggered, TriggerError>

const emits = new WeakMap<object, UnsafeEmit>()
const triggers = new WeakMap<object, UnsafeTrigger>()

/** Registers the fast emit of an `EventBus` service. */
export const registerUnsafeEmit = (bus: object, emit: UnsafeEmit): void => {
  emits.set(bus, emit)
}

/** The fast emit of an `EventBus` service made by `EventBus.make`, or undefined. */
export const unsafeEmitOf = (bus: object): UnsafeEmit | undefined => emits.get(bus)

/** Registers the fast trigger of a `Durably` service. */
export const registerUnsafeTrigger = (durably: object, trigger: UnsafeTrigger): void => {
  triggers.set(durably, trigger)
}

/** The fast trigger of a `Durably` service made by `Durably.layer`, or undefined. */
export const unsafeTriggerOf = (durably: object): UnsafeTrigger | undefined => triggers.get(durably)

const stops = new WeakMap<object, (runId: string) => Effect.Effect<void>>()

/** Registers how a `Durably` service stops its execution of a run cancelled elsewhere. */
export const registerStopCancelled = (durably: object, stop: (runId: string) => Effect.Effect<void>): void => {
  stops.set(durably, stop)
}

/**
 * For a `Durably` service made by `Durably.layer`: stops its execution of a
 * run that was cancelled in the store by someone else (another browser tab),
 * at once instead of at the run's next write. A no-op for a run not executing here.
 */
export const stopCancelledOf = (durably: object): ((runId: string) => Effect.Effect<void>) | undefined =>
  stops.get(durably)
