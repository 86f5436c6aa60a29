/**
 * The events a run emits, in the order they happen. Each carries `type`,
 * `runId`, `jobName`, `timestamp` and its own fields.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import { LogLevel, Labels, Progress } from "./Run.js"

const event = <T extends string, F extends Schema.Struct.Fields>(type: T, fields: F) =>
  Schema.Struct({
    type: Schema.Literal(type),
    runId: Schema.String,
    jobName: Schema.String,
    timestamp: Schema.Date,
    ...fields
  })

const stepFields = { stepName: Schema.String, stepIndex: Schema.Number }

/** @since 0.1.0 @category models */
export const RunTrigger = event("run:trigger", { input: Schema.Unknown, labels: Labels })
/** @since 0.1.0 @category models */
export const RunCoalesced = event("run:coalesced", { labels: Labels })
/** @since 0.1.0 @category models */
export const RunLeased = event("run:leased", {
  leaseOwner: Schema.String,
  leaseExpiresAt: Schema.Date,
  attempt: Schema.Number
})
/** @since 0.1.0 @category models */
export const RunLeaseRenewed = event("run:lease-renewed", { leaseOwner: Schema.String, leaseExpiresAt: Schema.Date })
/** @since 0.1.0 @category models */
export const RunProgress = event("run:progress", { progress: Progress })
/** @since 0.1.0 @category models */
export const RunComplete = event("run:complete", { output: Schema.Unknown, durationMs: Schema.Number })
/** @since 0.1.0 @category models */
export const RunFail = event("run:fail", { error: Schema.String, failedStepName: Schema.NullOr(Schema.String) })
/** @since 0.1.0 @category models */
export const RunCancel = event("run:cancel", {})
/** @since 0.1.0 @category models */
export const RunRetry = event("run:retry", {})
/** @since 0.1.0 @category models */
export const RunDelete = event("run:delete", { labels: Labels })
/** @since 0.1.0 @category models */
export const StepStart = event("step:start", stepFields)
/** @since 0.1.0 @category models */
export const StepComplete = event("step:complete", { ...stepFields, output: Schema.Unknown })
/** @since 0.1.0 @category models */
export const StepFail = event("step:fail", { ...stepFields, error: Schema.String })
/** @since 0.1.0 @category models */
export const StepCancel = event("step:cancel", stepFields)
/** @since 0.1.0 @category models */
export const LogWrite = event("log:write", {
  level: LogLevel,
  message: Schema.String,
  data: Schema.Unknown,
  stepName: Schema.NullOr(Schema.String)
})
/**
 * A worker-level failure (the store unreachable, a claim that failed). Not tied
 * to one run, so `runId` and `jobName` may be absent.
 *
 * @since 0.1.0
 * @category models
 */
export const WorkerError = Schema.Struct({
  type: Schema.Literal("worker:error"),
  timestamp: Schema.Date,
  error: Schema.String,
  runId: Schema.optional(Schema.String),
  jobName: Schema.optional(Schema.String)
})

/**
 * Every event, discriminated by `type`.
 *
 * @since 0.1.0
 * @category models
 */
export const DurablyEvent = Schema.Union(
  RunTrigger,
  RunCoalesced,
  RunLeased,
  RunLeaseRenewed,
  RunProgress,
  RunComplete,
  RunFail,
  RunCancel,
  RunRetry,
  RunDelete,
  StepStart,
  StepComplete,
  StepFail,
  StepCancel,
  LogWrite,
  WorkerError
)
/** @since 0.1.0 @category models */
export type DurablyEvent = typeof DurablyEvent.Type
/** @since 0.1.0 @category models */
export type EventType = DurablyEvent["type"]
/** @since 0.1.0 @category models */
export type EventOf<T extends EventType> = Extract<DurablyEvent, { readonly type: T }>

/**
 * Every event type, in the order of the union (e.g. to listen to all of them).
 *
 * @since 0.1.0
 * @category models
 */
export const eventTypes: ReadonlyArray<EventType> = DurablyEvent.members.map(
  (member) => member.fields.type.literals[0]
)

/** Event types after which a run emits nothing more until it is retried. */
export const terminalEventTypes: ReadonlyArray<EventType> = ["run:complete", "run:fail", "run:cancel", "run:delete"]
