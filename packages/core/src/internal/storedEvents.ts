// Events rebuilt from what the store holds, for subscribers that did not see
// them published: a run read after it finished, or a run executing in another
// process.
import type { DurablyEvent } from "../DurablyEvent.js"
import type { Progress, Run, StepRecord } from "../Run.js"

/** The step a run failed in, from its step records (failed-step records outlive the run's cleanup). */
export const failedStepIn = (steps: ReadonlyArray<StepRecord>): string | null =>
  steps.findLast((step) => step.status === "failed")?.name ?? null

/** A run's progress as a key: two progress values are the same when their keys are. */
export const progressKey = (progress: Progress | null): string => JSON.stringify(progress)

/** The `run:leased` event of a run read from the store, as its claim would have published it. */
export const leasedEventOf = (run: Run, timestamp: Date): DurablyEvent => ({
  type: "run:leased",
  runId: run.id,
  jobName: run.jobName,
  timestamp,
  leaseOwner: run.leaseOwner ?? "",
  leaseExpiresAt: run.leaseExpiresAt ?? timestamp,
  attempt: run.attempt
})

/** The terminal event a finished run would have emitted, for those who did not see it. */
export const terminalEventOf = (run: Run, timestamp: Date, failedStepName: string | null): DurablyEvent | undefined => {
  const base = { runId: run.id, jobName: run.jobName, timestamp }
  switch (run.status) {
    case "completed": {
      const startedAt = run.startedAt?.getTime() ?? run.createdAt.getTime()
      const durationMs = (run.completedAt?.getTime() ?? startedAt) - startedAt
      return { type: "run:complete", ...base, output: run.output, durationMs }
    }
    case "failed":
      return { type: "run:fail", ...base, error: run.error ?? "", failedStepName }
    case "cancelled":
      return { type: "run:cancel", ...base }
    default:
      return undefined
  }
}
