/**
 * The typed errors of Durably. Each one carries the data a caller needs to act
 * on it (the run id, the field issues, the current status), never only a message.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

/**
 * One problem found while validating input, with the path to the bad field.
 *
 * @since 0.1.0
 * @category models
 */
export const Issue = Schema.Struct({
  path: Schema.Array(Schema.Union(Schema.String, Schema.Number)),
  message: Schema.String
})
/** @since 0.1.0 @category models */
export interface Issue extends Schema.Schema.Type<typeof Issue> {}

/**
 * A run, job or step that does not exist.
 *
 * @since 0.1.0
 * @category errors
 */
export class NotFoundError extends Schema.TaggedError<NotFoundError>()("NotFoundError", {
  entity: Schema.Literal("run", "job"),
  id: Schema.String
}) {
  override get message(): string {
    return `${this.entity} not found: ${this.id}`
  }
}

/**
 * Input that does not match what was asked for: a job input failing its schema,
 * a bad option, a malformed request. `issues` names each bad field.
 *
 * @since 0.1.0
 * @category errors
 */
export class ValidationError extends Schema.TaggedError<ValidationError>()("ValidationError", {
  subject: Schema.String,
  issues: Schema.Array(Issue)
}) {
  override get message(): string {
    const detail = this.issues
      .map((issue) => (issue.path.length > 0 ? `${issue.path.join(".")}: ${issue.message}` : issue.message))
      .join("; ")
    return `invalid ${this.subject}: ${detail}`
  }
}

/**
 * A state change that the run's current status does not allow, such as
 * cancelling a run that already completed.
 *
 * @since 0.1.0
 * @category errors
 */
export class ConflictError extends Schema.TaggedError<ConflictError>()("ConflictError", {
  runId: Schema.String,
  operation: Schema.String,
  status: Schema.String
}) {
  override get message(): string {
    return `cannot ${this.operation} run ${this.runId}: it is ${this.status}`
  }
}

/**
 * A fenced write matched no row: the lease on the run was taken over by a newer
 * claim, expired, or the run was cancelled. The holder must stop at once.
 *
 * @since 0.1.0
 * @category errors
 */
export class LeaseLostError extends Schema.TaggedError<LeaseLostError>()("LeaseLostError", {
  runId: Schema.String,
  generation: Schema.Number
}) {
  override get message(): string {
    return `lease lost on run ${this.runId} (generation ${this.generation})`
  }
}

/**
 * The run was cancelled while it was being waited on or executed.
 *
 * @since 0.1.0
 * @category errors
 */
export class CancelledError extends Schema.TaggedError<CancelledError>()("CancelledError", {
  runId: Schema.String
}) {
  override get message(): string {
    return `run ${this.runId} was cancelled`
  }
}

/**
 * A run finished as failed; carries the failure as stored.
 *
 * @since 0.1.0
 * @category errors
 */
export class JobFailedError extends Schema.TaggedError<JobFailedError>()("JobFailedError", {
  runId: Schema.String,
  error: Schema.String,
  failedStepName: Schema.NullOr(Schema.String)
}) {
  override get message(): string {
    return `run ${this.runId} failed: ${this.error}`
  }
}

/**
 * A stored row that cannot be decoded (invalid JSON, unknown status …).
 * Names the run so it can be inspected or deleted; other runs are unaffected.
 *
 * @since 0.1.0
 * @category errors
 */
export class CorruptRowError extends Schema.TaggedError<CorruptRowError>()("CorruptRowError", {
  table: Schema.String,
  runId: Schema.String,
  detail: Schema.String
}) {
  override get message(): string {
    return `corrupt row in ${this.table} for run ${this.runId}: ${this.detail}`
  }
}

/**
 * The database failed: connection lost, constraint violated, commit refused.
 *
 * @since 0.1.0
 * @category errors
 */
export class StoreError extends Schema.TaggedError<StoreError>()("StoreError", {
  operation: Schema.String,
  cause: Schema.Defect
}) {
  override get message(): string {
    const cause = this.cause instanceof Error ? this.cause.message : String(this.cause)
    return `store operation ${this.operation} failed: ${cause}`
  }
}

/**
 * A job used one step name twice in one execution. Step names identify stored
 * results, so each must be unique within a run.
 *
 * @since 0.1.0
 * @category errors
 */
export class DuplicateStepError extends Schema.TaggedError<DuplicateStepError>()("DuplicateStepError", {
  runId: Schema.String,
  stepName: Schema.String
}) {
  override get message(): string {
    return `step name "${this.stepName}" used twice in run ${this.runId}`
  }
}

/**
 * Waiting for a run gave up before the run finished; the run goes on.
 *
 * @since 0.1.0
 * @category errors
 */
export class WaitTimeoutError extends Schema.TaggedError<WaitTimeoutError>()("WaitTimeoutError", {
  runId: Schema.String,
  timeoutMs: Schema.Number
}) {
  override get message(): string {
    return `run ${this.runId} did not finish within ${this.timeoutMs} ms`
  }
}
