// The events of `GET /runs/subscribe`: run-level events of the bus, narrowed to
// the caller's job names and labels.
import type { Durably } from "@durably/core/Durably"
import type { DurablyEvent } from "@durably/core/DurablyEvent"
import { terminalEventTypes } from "@durably/core/DurablyEvent"
import type { EventBus } from "@durably/core/EventBus"
import type { Labels } from "@durably/core/Run"
import type { RunFilter } from "@durably/core/Store"
import { Effect, Option, Stream } from "effect"
import { asArray } from "./request.js"

const runLevelEvents: ReadonlySet<DurablyEvent["type"]> = new Set([
  "run:trigger",
  "run:coalesced",
  "run:leased",
  "run:progress",
  "run:complete",
  "run:fail",
  "run:cancel",
  "run:retry",
  "run:delete"
])

const matchesLabels = (labels: Labels, wanted: Labels | undefined) =>
  wanted === undefined || Object.entries(wanted).every(([key, value]) => labels[key] === value)

export const runEvents = (
  durably: Durably["Type"],
  bus: EventBus["Type"],
  filter: RunFilter
): Stream.Stream<DurablyEvent> => {
  const jobNames = asArray(filter.jobName)
  // Labels of runs seen on the bus, so label filters need no read per event.
  const cache = new Map<string, Labels>()
  const labelsOfRun = (event: DurablyEvent) => {
    if (event.runId === undefined) return Effect.succeed(Option.none<Labels>())
    if ("labels" in event) {
      cache.set(event.runId, event.labels)
      return Effect.succeed(Option.some(event.labels))
    }
    const known = cache.get(event.runId)
    if (known !== undefined) return Effect.succeed(Option.some(known))
    const runId = event.runId
    return durably.getRun(runId).pipe(
      Effect.map((run) => {
        cache.set(runId, run.labels)
        return Option.some(run.labels)
      }),
      Effect.orElseSucceed(() => Option.none<Labels>())
    )
  }
  return bus.events.pipe(
    Stream.filter(
      (event) => runLevelEvents.has(event.type) && (jobNames === undefined || jobNames.includes(event.jobName ?? ""))
    ),
    Stream.filterEffect((event) =>
      filter.labels === undefined
        ? Effect.succeed(true)
        : Effect.map(labelsOfRun(event), (labels) => Option.isSome(labels) && matchesLabels(labels.value, filter.labels))
    ),
    Stream.tap((event) =>
      Effect.sync(() => {
        // A finished run's labels are read again if it is ever retried, so the cache stays small.
        if (terminalEventTypes.includes(event.type) && event.runId !== undefined) cache.delete(event.runId)
      })
    )
  )
}
