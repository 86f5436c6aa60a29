// Server-sent events: `data: <json>\n\n` frames from an event stream, a
// keep-alive comment on a timer, and `run:progress` throttled per run (the
// latest wins; a held one is sent before the run's next event, or when its
// interval is up).
import type { DurablyEvent } from "@durably/core/DurablyEvent"
import { terminalEventTypes } from "@durably/core/DurablyEvent"
import { Clock, Duration, Effect, Stream } from "effect"

export interface SseOptions {
  readonly keepAliveMs: number
  readonly progressThrottleMs: number
}

type Item =
  | { readonly _tag: "event"; readonly event: DurablyEvent }
  | { readonly _tag: "tick" }
  | { readonly _tag: "keepAlive" }

interface State {
  /** The latest progress not yet sent, by run. */
  readonly held: Map<string, DurablyEvent>
  /** When progress was last sent, by run. */
  readonly sentAt: Map<string, number>
}

const frame = (event: DurablyEvent): string => `data: ${JSON.stringify(event)}\n\n`

const step = (throttleMs: number) => (state: State, item: Item, now: number): Array<string> => {
  switch (item._tag) {
    case "keepAlive":
      return [": keep-alive\n\n"]
    case "tick": {
      const due: Array<string> = []
      for (const [runId, event] of state.held) {
        if (now - (state.sentAt.get(runId) ?? 0) < throttleMs) continue
        state.held.delete(runId)
        state.sentAt.set(runId, now)
        due.push(frame(event))
      }
      return due
    }
    case "event": {
      const { event } = item
      if (event.runId === undefined) return [frame(event)]
      if (event.type === "run:progress" && throttleMs > 0) {
        if (now - (state.sentAt.get(event.runId) ?? Number.NEGATIVE_INFINITY) >= throttleMs) {
          state.held.delete(event.runId)
          state.sentAt.set(event.runId, now)
          return [frame(event)]
        }
        state.held.set(event.runId, event)
        return []
      }
      // Anything else of the run: first the progress it held back, so order is kept.
      const held = state.held.get(event.runId)
      state.held.delete(event.runId)
      if (terminalEventTypes.includes(event.type)) state.sentAt.delete(event.runId)
      return held === undefined ? [frame(event)] : [frame(held), frame(event)]
    }
  }
}

/** The SSE body for `events`; it ends when `events` ends. */
export const sseBody = <E, R>(events: Stream.Stream<DurablyEvent, E, R>, options: SseOptions): Stream.Stream<Uint8Array, E, R> => {
  const ticks = (ms: number, item: Item) => Stream.map(Stream.tick(Duration.millis(ms)), () => item)
  const timers =
    options.progressThrottleMs > 0
      ? Stream.merge(ticks(options.keepAliveMs, { _tag: "keepAlive" }), ticks(options.progressThrottleMs, { _tag: "tick" }))
      : ticks(options.keepAliveMs, { _tag: "keepAlive" })
  const items = Stream.merge(
    Stream.map(events, (event): Item => ({ _tag: "event", event })),
    timers,
    { haltStrategy: "left" }
  )
  const next = step(options.progressThrottleMs)
  const state: State = { held: new Map(), sentAt: new Map() }
  return items.pipe(
    Stream.mapEffect((item) => Effect.map(Clock.currentTimeMillis, (now) => next(state, item, now))),
    Stream.flattenIterables,
    Stream.encodeText
  )
}
