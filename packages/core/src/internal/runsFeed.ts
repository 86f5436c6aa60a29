// `subscribeRuns`: the run-list events of the runs a filter selects. Those of
// this process come from its bus; between them, every polling interval, the
// store's unfinished runs and most recently created finished runs are read,
// and what changed since the last look (by another process) is turned into
// the events it stands for. A run is known by its status, attempt and
// progress, whichever source told last, so no change is delivered twice.
//
// Only what the two reads return can be seen: changes made by other processes
// to runs beyond the newest `unfinishedWindow` unfinished ones go unnoticed
// (a run that leaves that window unfinished is no longer followed), and so
// does a run that started and finished between two polls, created before the
// newest `finishedWindow` finished ones.
import { Chunk, Duration, Effect, Option, Queue, Stream } from "effect"
import type { CorruptRowError, StoreError } from "../DurablyError.js"
import type { DurablyEvent, EventType } from "../DurablyEvent.js"
import type { EventBus } from "../EventBus.js"
import type { Labels, Run, RunStatus } from "../Run.js"
import { isTerminal, terminalStatuses } from "../Run.js"
import type { Store } from "../Store.js"
import { now } from "./leaseHolder.js"
import { leasedEventOf, progressKey, terminalEventOf } from "./storedEvents.js"
import type { RunsFilter } from "./types.js"

export interface RunsFeedDeps {
  readonly store: Store["Type"]
  readonly bus: EventBus["Type"]
  readonly pollingIntervalMs: number
  /** Whether the run executes in this process now (its events then come from the bus). */
  readonly executingHere: (runId: string) => boolean
  readonly failedStepOf: (runId: string) => Effect.Effect<string | null, StoreError | CorruptRowError>
}

const listTypes: ReadonlySet<EventType> = new Set<EventType>([
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

const unfinishedWindow = 1000
const finishedWindow = 100
const refusedKept = 10_000

interface Known {
  status: RunStatus | "deleted"
  attempt: number
  progress: string
  readonly jobName: string
  readonly labels: Labels
}

/** A run known only by its trigger: pending, never claimed, no progress. */
const triggeredKnown = (jobName: string, labels: Labels): Known => ({
  status: "pending",
  attempt: 0,
  progress: progressKey(null),
  jobName,
  labels
})

const knownOf = (run: Run): Known => ({
  status: run.status,
  attempt: run.attempt,
  progress: progressKey(run.progress),
  jobName: run.jobName,
  labels: run.labels
})

const statusOfEvent: Partial<Record<EventType, Known["status"]>> = {
  "run:complete": "completed",
  "run:fail": "failed",
  "run:cancel": "cancelled",
  "run:retry": "pending",
  "run:delete": "deleted"
}

/** Whether `event` tells `known` something new; `known` takes it. */
const advance = (known: Known, event: DurablyEvent): boolean => {
  switch (event.type) {
    case "run:leased":
      if (event.attempt <= known.attempt) return false
      known.attempt = Math.max(known.attempt, event.attempt)
      known.status = "leased"
      return true
    case "run:progress": {
      const progress = progressKey(event.progress)
      if (progress === known.progress) return false
      known.progress = progress
      return true
    }
    default: {
      const status = statusOfEvent[event.type]
      if (status === undefined || status === known.status) return false
      known.status = status
      return true
    }
  }
}

export const makeRunsFeed = (deps: RunsFeedDeps) => {
  const { bus, executingHere, failedStepOf, store } = deps
  const interval = Duration.millis(deps.pollingIntervalMs)

  return (filter?: RunsFilter): Stream.Stream<DurablyEvent, StoreError | CorruptRowError> =>
    Stream.unwrapScoped(
      Effect.gen(function* () {
        const jobNames = filter?.jobName === undefined ? undefined : typeof filter.jobName === "string" ? [filter.jobName] : filter.jobName
        const labels = filter?.labels
        const hasLabels = (runLabels: Labels) =>
          labels === undefined || Object.entries(labels).every(([key, value]) => runLabels[key] === value)
        const events = yield* bus.subscribeWhere(
          (event) => event.jobName !== undefined && (jobNames === undefined || jobNames.includes(event.jobName)),
          (type) => listTypes.has(type)
        )
        const read = Effect.all(
          [
            store.getRuns({ status: ["pending", "leased"], jobName: jobNames, labels, limit: unfinishedWindow }),
            store.getRuns({ status: terminalStatuses, jobName: jobNames, labels, limit: finishedWindow })
          ],
          { concurrency: 2 }
        )
        const openedAt = yield* now
        const known = new Map<string, Known>()
        for (const run of (yield* read).flat()) known.set(run.id, knownOf(run))

        /** Runs of a selected job whose labels the filter refuses, so their events are not looked up again. */
        const refused = new Set<string>()

        /** A bus event of a run not known yet: its labels, to check against the filter (undefined: gone or refused). */
        const labelsOf = (event: DurablyEvent & { readonly runId: string }) => {
          if (event.type === "run:trigger" || event.type === "run:delete") return Effect.succeed<Labels | undefined>(event.labels)
          if (labels === undefined) return Effect.succeed<Labels | undefined>({})
          if (refused.has(event.runId)) return Effect.succeed(undefined)
          return store.getRun(event.runId).pipe(
            Effect.map((run): Labels | undefined => {
              if (hasLabels(run.labels)) return run.labels
              // A cache, not a record: bounded, at the price of a lookup again.
              if (refused.size >= refusedKept) refused.clear()
              refused.add(run.id)
              return undefined
            }),
            Effect.catchTag("NotFoundError", () => Effect.succeed(undefined))
          )
        }

        /** Runs whose `run:trigger` was delivered. */
        const triggered = new Set<string>()

        /**
         * The bus events worth delivering; `touched` gets the runs they are about.
         * `early` events came before the first read of the runs, which may show
         * their changes already: they are delivered all the same.
         */
        const fromBus = (taken: Iterable<DurablyEvent>, touched: Set<string>, early = false) =>
          Effect.gen(function* () {
            const delivered: Array<DurablyEvent> = []
            for (const event of taken) {
              const runId = event.runId
              if (runId === undefined || event.jobName === undefined) continue
              touched.add(runId)
              let state = known.get(runId)
              // A coalesced trigger changes no run: only the bus of the process that made it tells of it.
              if (event.type === "run:coalesced") {
                if (hasLabels(event.labels)) delivered.push(event)
                continue
              }
              if (event.type === "run:trigger") {
                if (triggered.has(runId) || !hasLabels(event.labels)) continue
                triggered.add(runId)
                if (state === undefined) {
                  known.set(runId, triggeredKnown(event.jobName, event.labels))
                }
                delivered.push(event)
                continue
              }
              if (state === undefined) {
                const runLabels = yield* labelsOf({ ...event, runId })
                if (runLabels === undefined || !hasLabels(runLabels)) continue
                state = triggeredKnown(event.jobName, runLabels)
                known.set(runId, state)
              }
              if (advance(state, event) || early) delivered.push(event)
            }
            return delivered
          })

        /** The events that take `state` (undefined: a run not seen before) to `run`, as read from the store. */
        const changes = (run: Run, state: Known | undefined) =>
          Effect.gen(function* () {
            const timestamp = yield* now
            const base = { runId: run.id, jobName: run.jobName }
            const made: Array<DurablyEvent> = []
            let current = state
            if (current === undefined) {
              current = triggeredKnown(run.jobName, run.labels)
              known.set(run.id, current)
              // A run older than the subscription merely coming into view is taken as it is.
              if (run.createdAt.getTime() < openedAt.getTime()) {
                Object.assign(current, knownOf(run))
                return made
              }
              triggered.add(run.id)
              made.push({ type: "run:trigger", ...base, timestamp: run.createdAt, input: run.input, labels: run.labels })
            } else if (isTerminal(current.status as RunStatus) && !isTerminal(run.status)) {
              made.push({ type: "run:retry", ...base, timestamp })
              current.status = "pending"
            }
            if (run.attempt > current.attempt && run.status === "leased") {
              made.push(leasedEventOf(run, timestamp))
            }
            const progress = progressKey(run.progress)
            if (progress !== current.progress && run.progress !== null) {
              made.push({ type: "run:progress", ...base, timestamp, progress: run.progress })
            }
            if (isTerminal(run.status) && run.status !== current.status) {
              const failedStepName = run.status === "failed" ? yield* failedStepOf(run.id) : null
              const end = terminalEventOf(run, run.completedAt ?? timestamp, failedStepName)
              if (end !== undefined) made.push(end)
            }
            Object.assign(current, knownOf(run))
            return made
          })

        const poll = Effect.gen(function* () {
          const runs = (yield* read).flat().sort((a, b) => a.updatedAt.getTime() - b.updatedAt.getTime())
          // Runs this process changed meanwhile are left to the next poll, which reads them after their events.
          const touched = new Set<string>()
          const delivered = yield* fromBus(yield* Queue.takeAll(events), touched)
          const seen = new Set<string>()
          for (const run of runs) {
            seen.add(run.id)
            if (touched.has(run.id) || executingHere(run.id)) continue
            delivered.push(...(yield* changes(run, known.get(run.id))))
          }
          // Known runs that left both reads: deleted, or out of their window (an
          // unfinished run finished, a finished one pushed out by newer ones).
          for (const [runId, state] of [...known]) {
            if (seen.has(runId) || touched.has(runId) || executingHere(runId)) continue
            if (state.status === "deleted") {
              known.delete(runId)
              triggered.delete(runId)
              continue
            }
            const run = yield* Effect.either(store.getRun(runId))
            if (run._tag === "Right") {
              // Its end, if it ended; then it is no longer followed (each run is looked up once).
              if (isTerminal(run.right.status) && !isTerminal(state.status as RunStatus)) {
                delivered.push(...(yield* changes(run.right, state)))
              }
              known.delete(runId)
              triggered.delete(runId)
            } else if (run.left._tag === "NotFoundError") {
              known.delete(runId)
              triggered.delete(runId)
              const { jobName, labels: runLabels } = state
              delivered.push({ type: "run:delete", runId, jobName, labels: runLabels, timestamp: yield* now })
            } else {
              return yield* run.left
            }
          }
          return delivered
        })

        const early = yield* fromBus(yield* Queue.takeAll(events), new Set(), true)

        // Each pull: the bus events that came, or after a polling interval without any, a poll.
        const pull = Effect.gen(function* () {
          const first = yield* Effect.race(
            Effect.map(Queue.take(events), Option.some),
            Effect.as(Effect.sleep(interval), Option.none<DurablyEvent>())
          )
          if (Option.isSome(first)) return yield* fromBus([first.value, ...(yield* Queue.takeAll(events))], new Set())
          return (yield* Queue.isShutdown(events)) ? [] : yield* poll
        })
        const next: Effect.Effect<Chunk.Chunk<DurablyEvent>, Option.Option<StoreError | CorruptRowError>> = Effect.flatMap(
          Queue.isShutdown(events),
          (shutdown) =>
            shutdown ? Effect.fail(Option.none()) : Effect.mapBoth(pull, { onFailure: Option.some, onSuccess: Chunk.fromIterable })
        )
        return Stream.concat(Stream.fromIterable(early), Stream.repeatEffectChunkOption(next))
      })
    )
}
