// Following one run: `subscribe` (its events from now on) and `waitForRun`
// (its end). Events come from this process's bus while the run executes here;
// while it does not, the store is polled every polling interval and what
// another process did is turned into the events it published there.
import { Chunk, Duration, Effect, Option, Queue, Stream } from "effect"
import type { CorruptRowError, NotFoundError, StoreError } from "../DurablyError.js"
import { CancelledError, JobFailedError, WaitTimeoutError } from "../DurablyError.js"
import type { DurablyEvent } from "../DurablyEvent.js"
import { terminalEventTypes } from "../DurablyEvent.js"
import type { EventBus } from "../EventBus.js"
import type { Run } from "../Run.js"
import { isTerminal } from "../Run.js"
import type { Store } from "../Store.js"
import { now } from "./leaseHolder.js"
import { fromBus, fromSnapshot, makeCursor } from "./remoteEvents.js"
import { failedStepIn, terminalEventOf } from "./storedEvents.js"
import type { WaitOptions } from "./types.js"

export interface RunEventsDeps {
  readonly store: Store["Type"]
  readonly bus: EventBus["Type"]
  readonly pollingIntervalMs: number
  /** Whether the run executes in this process now (its events then come from the bus). */
  readonly executingHere: (runId: string) => boolean
}

export const isTerminalType = (type: DurablyEvent["type"]): boolean => terminalEventTypes.includes(type)
export const isTerminalEvent = (event: DurablyEvent): boolean => isTerminalType(event.type)

type SubscribeError = NotFoundError | StoreError | CorruptRowError

export const makeRunEvents = (deps: RunEventsDeps) => {
  const { bus, executingHere, store } = deps
  const interval = Duration.millis(deps.pollingIntervalMs)

  /** The step a failed run failed in (failed-step records outlive the run's cleanup). */
  const failedStepOf = (runId: string) =>
    Effect.map(store.getSteps(runId), failedStepIn)

  const waitForRun = (runId: string, options?: WaitOptions) => {
    const wait = Effect.scoped(
      Effect.gen(function* () {
        // Subscribe before reading, so a finish in between is not missed.
        const events = yield* bus.subscribeWhere((event) => event.runId === runId, isTerminalType)
        while (true) {
          const run = yield* store.getRun(runId)
          if (run.status === "completed") return run
          if (run.status === "failed") {
            return yield* new JobFailedError({ runId, error: run.error ?? "", failedStepName: yield* failedStepOf(runId) })
          }
          if (run.status === "cancelled") return yield* new CancelledError({ runId })
          // Woken by this run's terminal event here, or by the poll for other processes.
          yield* Effect.race(Queue.take(events), Effect.sleep(interval))
        }
      })
    )
    if (options?.timeout === undefined) return wait
    const timeout = Duration.decode(options.timeout)
    return Effect.timeoutFail(wait, {
      duration: timeout,
      onTimeout: () => new WaitTimeoutError({ runId, timeoutMs: Duration.toMillis(timeout) })
    })
  }

  /** A finished run's stream: the events since subscribing when they reach its end, else its terminal event. */
  const finished = (run: Run, events: Queue.Dequeue<DurablyEvent>) =>
    Effect.gen(function* () {
      const since = Chunk.toReadonlyArray(yield* Queue.takeAll(events))
      const end = since.findIndex(isTerminalEvent)
      if (end >= 0) return Stream.fromIterable(since.slice(0, end + 1))
      const failedStepName = run.status === "failed" ? yield* failedStepOf(run.id) : null
      const event = terminalEventOf(run, yield* now, failedStepName)
      return Stream.fromIterable(event === undefined ? since : [...since, event])
    })

  /** An unfinished run's stream: bus events as they come, and between them, polls of the store. */
  const following = (run: Run, events: Queue.Dequeue<DurablyEvent>) =>
    Effect.gen(function* () {
      const runId = run.id
      const [steps, logs] = yield* Effect.all([store.getSteps(runId), store.getLogs(runId)], { concurrency: 2 })
      const exact = !executingHere(runId) && (yield* Queue.isEmpty(events))
      const cursor = makeCursor(run, steps, exact ? logs.length : undefined)
      let ended = false

      /** `batch` up to its terminal event, which ends the stream. */
      const upToEnd = (batch: ReadonlyArray<DurablyEvent>): Array<DurablyEvent> => {
        const end = batch.findIndex(isTerminalEvent)
        if (end < 0) return [...batch]
        ended = true
        return batch.slice(0, end + 1)
      }
      const fromQueue = (taken: Iterable<DurablyEvent>) => upToEnd([...taken].filter((event) => fromBus(cursor, event)))

      const poll: Effect.Effect<Array<DurablyEvent>, SubscribeError> = Effect.gen(function* () {
        if (executingHere(runId)) return []
        const read = yield* Effect.either(store.getRun(runId))
        if (read._tag === "Left") {
          if (read.left._tag !== "NotFoundError") return yield* read.left
          // Deleted: by this process (its event is queued), or by another one.
          const queued = fromQueue(yield* Queue.takeAll(events))
          if (ended) return queued
          ended = true
          const { jobName, labels } = cursor.run
          return [...queued, { type: "run:delete", runId, jobName, labels, timestamp: yield* now }]
        }
        const current = read.right
        // A pending run whose row did not change since the last read has no new steps or logs.
        const last = cursor.run
        if (current.status === "pending" && last.status === "pending" && current.updatedAt.getTime() === last.updatedAt.getTime()) {
          return fromQueue(yield* Queue.takeAll(events))
        }
        const [steps, logs] = yield* Effect.all([store.getSteps(runId), store.getLogs(runId)], { concurrency: 2 })
        // Started here meanwhile: what was read may include its writes, whose events come from the bus.
        if (executingHere(runId)) return []
        // Whatever executed here has finished and published everything; what was read
        // may be older than those events, so the next poll, reading after them, compares.
        const queued = yield* Queue.takeAll(events)
        if (Chunk.isNonEmpty(queued)) return fromQueue(queued)
        const timestamp = yield* now
        return upToEnd(
          fromSnapshot(cursor, { run: current, steps, logs }, timestamp, (run, failedStepName) =>
            terminalEventOf(run, run.completedAt ?? timestamp, failedStepName)
          )
        )
      })

      // Each pull: the bus events that came, or after a polling interval without any, a poll.
      const next: Effect.Effect<Chunk.Chunk<DurablyEvent>, Option.Option<SubscribeError>> = Effect.gen(function* () {
        if (ended || (yield* Queue.isShutdown(events))) return yield* Effect.fail(Option.none())
        const first = yield* Effect.race(
          Effect.map(Queue.take(events), Option.some),
          Effect.as(Effect.sleep(interval), Option.none<DurablyEvent>())
        )
        if (Option.isSome(first)) return Chunk.fromIterable(fromQueue([first.value, ...(yield* Queue.takeAll(events))]))
        // The bus closed (the engine is shutting down): the stream ends with it.
        if (yield* Queue.isShutdown(events)) return yield* Effect.fail(Option.none())
        return Chunk.fromIterable(yield* Effect.mapError(poll, Option.some))
      })

      return Stream.repeatEffectChunkOption(next)
    })

  const subscribe = (runId: string): Stream.Stream<DurablyEvent, SubscribeError> =>
    Stream.unwrapScoped(
      Effect.gen(function* () {
        const events = yield* bus.subscribeWhere((event) => event.runId === runId)
        const run = yield* store.getRun(runId)
        return isTerminal(run.status) ? yield* finished(run, events) : yield* following(run, events)
      })
    )

  return { waitForRun, subscribe, failedStepOf }
}
