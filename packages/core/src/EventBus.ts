/**
 * The in-process event bus: every `DurablyEvent`, in the order it happened.
 * Each subscription is an unbounded queue, so publishing never waits on a slow
 * or failing subscriber, and a subscriber can never break a run. A
 * subscription may say which events it wants: the rest are never queued for
 * it, so a subscriber that listens for one run, or one event type, is not
 * woken for every step of every run. An event of a type no subscription wants
 * is not even built, when its publisher uses `emit`.
 *
 * @since 0.1.0
 */
import type { Scope } from "effect"
import { Clock, Context, Effect, Layer, Queue, Stream } from "effect"
import type { DurablyEvent, EventOf, EventType } from "./DurablyEvent.js"
import { registerUnsafeEmit } from "./internal/unsafe.js"

/**
 * @since 0.1.0
 * @category tags
 */
export class EventBus extends Context.Tag("@durably/core/EventBus")<
  EventBus,
  {
    /** Publish one event to every current subscriber that wants it. */
    readonly publish: (event: DurablyEvent) => Effect.Effect<void>
    /**
     * Publish the event `build` makes from the current time, calling it (and
     * reading the clock) only if some current subscription takes events of
     * `type`: an event nobody listens for costs nothing.
     */
    readonly emit: <T extends EventType>(type: T, build: (timestamp: Date) => EventOf<T>) => Effect.Effect<void>
    /** Every event published from now on. */
    readonly events: Stream.Stream<DurablyEvent>
    /**
     * A subscription that starts receiving at once (before the returned effect
     * completes), so a caller can subscribe, then read state, then consume
     * without missing anything in between.
     */
    readonly subscribe: Effect.Effect<Queue.Dequeue<DurablyEvent>, never, Scope.Scope>
    /**
     * Like `subscribe`, receiving only the events `wants` accepts (asked once
     * per event, when published). `types`, if given, is asked first, with the
     * event's type only, before the event is built: an event of a type it
     * refuses is never built for this subscription.
     */
    readonly subscribeWhere: (
      wants: (event: DurablyEvent) => boolean,
      types?: (type: EventType) => boolean
    ) => Effect.Effect<Queue.Dequeue<DurablyEvent>, never, Scope.Scope>
    /** How many subscriptions are open now (a closed scope closes its subscription). */
    readonly subscribers: Effect.Effect<number>
  }
>() {}

interface Subscription {
  readonly queue: Queue.Queue<DurablyEvent>
  readonly wants: (event: DurablyEvent) => boolean
  readonly types: (type: EventType) => boolean
}

const everything = (): boolean => true

/** A filter that throws takes the event: a subscriber can never break the publisher. */
const asks = <A>(filter: (value: A) => boolean, value: A): boolean => {
  try {
    return filter(value)
  } catch {
    return true
  }
}

/**
 * @since 0.1.0
 * @category constructors
 */
export const make = Effect.gen(function* () {
  const subscriptions = new Set<Subscription>()
  let closed = false
  // Closing the bus ends every subscription, so streams reading from it end too.
  yield* Effect.addFinalizer(() =>
    Effect.suspend(() => {
      closed = true
      const open = [...subscriptions]
      subscriptions.clear()
      return Effect.forEach(open, (subscription) => Queue.shutdown(subscription.queue), { discard: true })
    })
  )

  const subscribeWhere = (wants: (event: DurablyEvent) => boolean, types: (type: EventType) => boolean = everything) =>
    Effect.acquireRelease(
      Effect.flatMap(Queue.unbounded<DurablyEvent>(), (queue) => {
        const subscription: Subscription = { queue, wants, types }
        // A closed bus delivers nothing more: its new subscriptions end at once.
        if (closed) return Effect.as(Queue.shutdown(queue), subscription)
        subscriptions.add(subscription)
        return Effect.succeed(subscription)
      }),
      (subscription) =>
        Effect.suspend(() => {
          subscriptions.delete(subscription)
          return Queue.shutdown(subscription.queue)
        })
    ).pipe(Effect.map((subscription): Queue.Dequeue<DurablyEvent> => subscription.queue))

  const subscribe = subscribeWhere(everything)

  /** The subscriptions that take events of `type` (each type filter asked once), or none. */
  const takers = (type: EventType): Array<Subscription> | undefined => {
    let found: Array<Subscription> | undefined
    for (const subscription of subscriptions) if (asks(subscription.types, type)) (found ??= []).push(subscription)
    return found
  }

  /** Offers `event` to each of `takers` that wants it. */
  const offer = (takers: ReadonlyArray<Subscription>, event: DurablyEvent): void => {
    for (const subscription of takers) if (asks(subscription.wants, event)) subscription.queue.unsafeOffer(event)
  }

  const bus = EventBus.of({
    publish: (event) =>
      Effect.sync(() => {
        const found = takers(event.type)
        if (found !== undefined) offer(found, event)
      }),
    emit: (type, build) =>
      Effect.suspend(() => {
        const found = takers(type)
        return found === undefined
          ? Effect.void
          : Effect.map(Clock.currentTimeMillis, (ms) => offer(found, build(new Date(ms))))
      }),
    events: Stream.unwrapScoped(Effect.map(subscribe, (queue) => Stream.fromQueue(queue))),
    subscribe,
    subscribeWhere,
    subscribers: Effect.sync(() => subscriptions.size)
  })
  registerUnsafeEmit(bus, (type, build, now) => {
    const found = takers(type)
    if (found !== undefined) offer(found, build(new Date(now)))
  })
  return bus
})

/**
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<EventBus> = Layer.scoped(EventBus, make)
