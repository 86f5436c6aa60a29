// The events of a run that executes in another process, read back from the
// store: a subscriber keeps a cursor of what it has delivered (from this
// process's bus or from earlier polls), and each poll turns what changed since
// into the events that would have been published, in the order they happened
// as far as the stored rows tell it.
//
// Only what is stored can be seen. `step:start` and `run:lease-renewed` are
// never stored. With `preserveSteps` false a run's last step results are not
// written at all (its terminal write deletes step outputs) and the completed
// steps a run stored are deleted with its terminal write: such steps are seen
// across processes only through the run's terminal event, unless a poll came
// while they were stored.
import type { DurablyEvent } from "../DurablyEvent.js"
import type { LogEntry, Run, StepRecord } from "../Run.js"
import { failedStepIn, leasedEventOf, progressKey } from "./storedEvents.js"

/** What a subscriber has delivered, or found in the store when it subscribed. */
export interface Cursor {
  /** The attempt whose `run:leased` was delivered (or found leased). */
  attempt: number
  /** `status:name` of each step event delivered or found stored. */
  readonly steps: Set<string>
  /** Step events made from rows, so the same event from the bus is dropped. */
  readonly synthesizedSteps: Set<string>
  /** The run's progress (JSON) as last delivered or found. */
  progress: string
  /** The progress last made from a row, while the bus has not delivered it too. */
  synthesizedProgress: string | undefined
  /** The attempt of the last `run:leased` made from a row. */
  synthesizedAttempt: number
  /**
   * Log entries delivered or found; undefined while unknown (the run executed
   * here as the cursor was made, so some entries may be both found and queued
   * on the bus): the next poll takes the stored count without making events.
   */
  logs: number | undefined
  /** The run as last read, for its job name and labels once it is gone. */
  run: Run
}

const stepKey = (name: string, status: string) => `${status}:${name}`

export const makeCursor = (run: Run, steps: ReadonlyArray<StepRecord>, logs: number | undefined): Cursor => ({
  attempt: run.attempt,
  steps: new Set(steps.map((step) => stepKey(step.name, step.status))),
  synthesizedSteps: new Set(),
  progress: progressKey(run.progress),
  synthesizedProgress: undefined,
  synthesizedAttempt: 0,
  logs,
  run
})

/**
 * An event from this process's bus: whether to deliver it (false when a poll
 * already made it from the store); the cursor takes it either way.
 */
export const fromBus = (cursor: Cursor, event: DurablyEvent): boolean => {
  switch (event.type) {
    case "run:leased":
      cursor.attempt = Math.max(cursor.attempt, event.attempt)
      return event.attempt !== cursor.synthesizedAttempt
    case "step:complete":
    case "step:fail": {
      const key = stepKey(event.stepName, event.type === "step:complete" ? "completed" : "failed")
      cursor.steps.add(key)
      return !cursor.synthesizedSteps.delete(key)
    }
    case "run:progress": {
      const key = progressKey(event.progress)
      cursor.progress = key
      if (cursor.synthesizedProgress !== key) return true
      cursor.synthesizedProgress = undefined
      return false
    }
    case "log:write":
      if (cursor.logs !== undefined) cursor.logs++
      return true
    default:
      return true
  }
}

/** What one poll read: the run, its steps and its logs. */
export interface Snapshot {
  readonly run: Run
  readonly steps: ReadonlyArray<StepRecord>
  readonly logs: ReadonlyArray<LogEntry>
}

/**
 * The events the changes in `snapshot` stand for, not yet delivered, in order:
 * the new lease, then step results and log entries by time, then progress,
 * then the terminal event (built by `terminal`). The cursor takes them.
 */
export const fromSnapshot = (
  cursor: Cursor,
  snapshot: Snapshot,
  timestamp: Date,
  terminal: (run: Run, failedStepName: string | null) => DurablyEvent | undefined
): Array<DurablyEvent> => {
  const { run } = snapshot
  const base = { runId: run.id, jobName: run.jobName }
  const events: Array<DurablyEvent> = []
  cursor.run = run
  if (run.status === "leased" && run.attempt > cursor.attempt) {
    cursor.attempt = run.attempt
    cursor.synthesizedAttempt = run.attempt
    events.push(leasedEventOf(run, timestamp))
  }
  const timed: Array<{ readonly at: number; readonly event: DurablyEvent }> = []
  for (const step of [...snapshot.steps].sort((a, b) => a.index - b.index)) {
    if (step.status === "cancelled") continue
    const key = stepKey(step.name, step.status)
    if (cursor.steps.has(key)) continue
    cursor.steps.add(key)
    cursor.synthesizedSteps.add(key)
    const stepBase = { ...base, stepName: step.name, stepIndex: step.index, timestamp: step.completedAt }
    timed.push({
      at: step.completedAt.getTime(),
      event:
        step.status === "completed"
          ? { type: "step:complete", ...stepBase, output: step.output }
          : { type: "step:fail", ...stepBase, error: step.error ?? "" }
    })
  }
  for (const log of cursor.logs === undefined ? [] : snapshot.logs.slice(cursor.logs)) {
    timed.push({
      at: log.createdAt.getTime(),
      event: {
        type: "log:write",
        ...base,
        timestamp: log.createdAt,
        level: log.level,
        message: log.message,
        data: log.data,
        stepName: log.stepName
      }
    })
  }
  cursor.logs = Math.max(cursor.logs ?? 0, snapshot.logs.length)
  // A stable sort: rows of one kind keep their stored order.
  events.push(...timed.sort((a, b) => a.at - b.at).map(({ event }) => event))
  const progress = progressKey(run.progress)
  if (progress !== cursor.progress && run.progress !== null) {
    cursor.progress = progress
    cursor.synthesizedProgress = progress
    events.push({ type: "run:progress", ...base, timestamp, progress: run.progress })
  }
  const end = terminal(run, failedStepIn(snapshot.steps))
  if (end !== undefined) events.push(end)
  return events
}
