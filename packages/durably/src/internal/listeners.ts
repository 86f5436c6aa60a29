// `durably.on(type, listener)`: plain callbacks fed from one EventBus
// subscription. It is opened with the first listener (or when the runtime is
// built, if listeners came first), so an instance nobody listens to pays
// nothing per event.
import { EventBus } from "@durably/core"
import type { DurablyEvent, EventOf } from "@durably/core/DurablyEvent"
import { Effect, Layer, Queue, Scope } from "effect"

export type EventType = DurablyEvent["type"]
export type Listener<T extends EventType> = (event: EventOf<T>) => void

export interface Listeners {
  /** Part of the instance's runtime: it holds the subscription's scope. */
  readonly layer: Layer.Layer<never, never, EventBus.EventBus>
  /** Adds a listener (opening the subscription through `ensure`); returns the unsubscribe function. */
  readonly on: <T extends EventType>(type: T, listener: Listener<T>, ensure: () => void) => () => void
  readonly onError: (handler: (error: unknown, event: DurablyEvent) => void) => void
  /** Opens the subscription if someone listens and it is not open; `runSync` runs on the built runtime. */
  readonly ensure: (runSync: (effect: Effect.Effect<void>) => void) => void
}

export const makeListeners = (): Listeners => {
  const listeners = new Map<EventType, Set<(event: DurablyEvent) => void>>()
  let onListenerError: (error: unknown, event: DurablyEvent) => void = () => {}
  const dispatch = (event: DurablyEvent) => {
    const forType = listeners.get(event.type)
    if (forType === undefined) return
    for (const listener of forType) {
      try {
        listener(event)
      } catch (error) {
        try {
          onListenerError(error, event)
        } catch {
          // An error handler that throws is ignored too.
        }
      }
    }
  }
  let startDispatcher: Effect.Effect<void> | undefined
  let dispatching = false
  const layer = Layer.scopedDiscard(
    Effect.gen(function* () {
      const bus = yield* EventBus.EventBus
      const scope = yield* Effect.scope
      startDispatcher = Effect.suspend(() => {
        if (dispatching) return Effect.void
        dispatching = true
        // Only events someone listens for are queued, or even built (asked again for
        // each event, so `on()` later counts).
        const wanted = (type: DurablyEvent["type"]) => (listeners.get(type)?.size ?? 0) > 0
        return Effect.flatMap(Scope.extend(bus.subscribeWhere(() => true, wanted), scope), (events) =>
          Effect.asVoid(
            Effect.forkIn(
              Effect.forever(
                Effect.flatMap(Queue.takeBetween(events, 1, Number.MAX_SAFE_INTEGER), (chunk) =>
                  Effect.sync(() => {
                    for (const event of chunk) dispatch(event)
                  })
                )
              ),
              scope
            )
          )
        )
      })
      if (listeners.size > 0) yield* startDispatcher
    })
  )
  return {
    layer,
    on: (type, listener, ensure) => {
      const forType = listeners.get(type) ?? new Set()
      listeners.set(type, forType)
      ensure()
      const entry = listener as (event: DurablyEvent) => void
      forType.add(entry)
      return () => {
        forType.delete(entry)
      }
    },
    onError: (handler) => {
      onListenerError = handler
    },
    ensure: (runSync) => {
      if (!dispatching && listeners.size > 0 && startDispatcher !== undefined) runSync(startDispatcher)
    }
  }
}
