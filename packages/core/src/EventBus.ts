/**
 * The in-process event bus: every `DurablyEvent`, in the order it happened.
 * Backed by an unbounded `PubSub`, so publishing never waits on a slow or
 * failing subscriber, and a subscriber can never break a run.
 *
 * @since 0.1.0
 */
import type { Scope } from "effect"
import type { Queue } from "effect"
import { Context, Effect, Layer, PubSub, Stream } from "effect"
import type { DurablyEvent } from "./DurablyEvent.js"

/**
 * @since 0.1.0
 * @category tags
 */
export class EventBus extends Context.Tag("@durably/core/EventBus")<
  EventBus,
  {
    /** Publish one event to every current subscriber. */
    readonly publish: (event: DurablyEvent) => Effect.Effect<void>
    /** Every event published from now on. */
    readonly events: Stream.Stream<DurablyEvent>
    /**
     * A subscription that starts receiving at once (before the returned effect
     * completes), so a caller can subscribe, then read state, then consume
     * without missing anything in between.
     */
    readonly subscribe: Effect.Effect<Queue.Dequeue<DurablyEvent>, never, Scope.Scope>
    /** How many subscriptions are open now (a closed scope closes its subscription). */
    readonly subscribers: Effect.Effect<number>
  }
>() {}

/**
 * @since 0.1.0
 * @category constructors
 */
export const make = Effect.gen(function* () {
  const hub = yield* Effect.acquireRelease(PubSub.unbounded<DurablyEvent>(), PubSub.shutdown)
  let open = 0
  const subscribe = Effect.zipLeft(
    PubSub.subscribe(hub),
    Effect.acquireRelease(
      Effect.sync(() => open++),
      () => Effect.sync(() => open--)
    )
  )
  return EventBus.of({
    publish: (event) => Effect.asVoid(PubSub.publish(hub, event)),
    events: Stream.unwrapScoped(Effect.map(subscribe, (queue) => Stream.fromQueue(queue))),
    subscribe,
    subscribers: Effect.sync(() => open)
  })
})

/**
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<EventBus> = Layer.scoped(EventBus, make)
