/**
 * The persisted domain: runs, their steps and their log entries.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

/**
 * `pending` waits for a worker; `leased` is held by one; the rest are terminal.
 *
 * @since 0.1.0
 * @category models
 */
export const RunStatus = Schema.Literal("pending", "leased", "completed", "failed", "cancelled")
/** @since 0.1.0 @category models */
export type RunStatus = typeof RunStatus.Type

/** @since 0.1.0 @category models */
export const terminalStatuses: ReadonlyArray<RunStatus> = ["completed", "failed", "cancelled"]

/** @since 0.1.0 @category predicates */
export const isTerminal = (status: RunStatus): boolean => terminalStatuses.includes(status)

/**
 * String labels attached to a run when it is triggered, used to filter runs.
 *
 * @since 0.1.0
 * @category models
 */
export const Labels = Schema.Record({ key: Schema.String, value: Schema.String })
/** @since 0.1.0 @category models */
export type Labels = typeof Labels.Type

/**
 * @since 0.1.0
 * @category models
 */
export const Progress = Schema.Struct({
  current: Schema.Number,
  total: Schema.optional(Schema.Number),
  message: Schema.optional(Schema.String)
})
/** @since 0.1.0 @category models */
export interface Progress extends Schema.Schema.Type<typeof Progress> {}

/**
 * A run as the engine and its callers see it. `input` and `output` are JSON
 * values; a job's own schema turns them into its types.
 *
 * @since 0.1.0
 * @category models
 */
export const Run = Schema.Struct({
  id: Schema.String,
  jobName: Schema.String,
  status: RunStatus,
  input: Schema.Unknown,
  output: Schema.Unknown,
  error: Schema.NullOr(Schema.String),
  labels: Labels,
  progress: Schema.NullOr(Progress),
  idempotencyKey: Schema.NullOr(Schema.String),
  concurrencyKey: Schema.NullOr(Schema.String),
  leaseOwner: Schema.NullOr(Schema.String),
  leaseExpiresAt: Schema.NullOr(Schema.Date),
  leaseGeneration: Schema.Number,
  attempt: Schema.Number,
  startedAt: Schema.NullOr(Schema.Date),
  completedAt: Schema.NullOr(Schema.Date),
  createdAt: Schema.Date,
  updatedAt: Schema.Date
})
/** @since 0.1.0 @category models */
export interface Run extends Schema.Schema.Type<typeof Run> {}

/**
 * @since 0.1.0
 * @category models
 */
export const StepStatus = Schema.Literal("completed", "failed", "cancelled")
/** @since 0.1.0 @category models */
export type StepStatus = typeof StepStatus.Type

/**
 * A step's stored record. `index` is the step's position in the job's
 * execution order, stable across replays; `output` is the encoded output.
 *
 * @since 0.1.0
 * @category models
 */
export const StepRecord = Schema.Struct({
  runId: Schema.String,
  name: Schema.String,
  index: Schema.Number,
  status: StepStatus,
  output: Schema.Unknown,
  error: Schema.NullOr(Schema.String),
  startedAt: Schema.Date,
  completedAt: Schema.Date
})
/** @since 0.1.0 @category models */
export interface StepRecord extends Schema.Schema.Type<typeof StepRecord> {}

/** @since 0.1.0 @category models */
export const LogLevel = Schema.Literal("info", "warn", "error")
/** @since 0.1.0 @category models */
export type LogLevel = typeof LogLevel.Type

/**
 * @since 0.1.0
 * @category models
 */
export const LogEntry = Schema.Struct({
  runId: Schema.String,
  stepName: Schema.NullOr(Schema.String),
  level: LogLevel,
  message: Schema.String,
  data: Schema.Unknown,
  createdAt: Schema.Date
})
/** @since 0.1.0 @category models */
export interface LogEntry extends Schema.Schema.Type<typeof LogEntry> {}
