/**
 * The errors the facade throws: plain classes with a `_tag` and an HTTP-style
 * `statusCode`, carrying the same data as the engine's tagged errors.
 */
/** One problem found while validating input, with the path to the bad field. */
export interface Issue {
  readonly path: ReadonlyArray<string | number>
  readonly message: string
}

/** The base of every error Durably throws. */
export class DurablyError extends Error {
  readonly _tag: string
  readonly statusCode: number

  constructor(tag: string, message: string, statusCode: number, options?: { readonly cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause })
    this._tag = tag
    this.name = tag
    this.statusCode = statusCode
  }
}

/** 404: no run or job by that id or name. */
export class NotFoundError extends DurablyError {
  declare readonly _tag: "NotFoundError"
  readonly entity: "run" | "job"
  readonly id: string
  constructor(fields: { readonly entity: "run" | "job"; readonly id: string }, options?: { readonly cause?: unknown }) {
    super("NotFoundError", `${fields.entity} not found: ${fields.id}`, 404, options)
    this.entity = fields.entity
    this.id = fields.id
  }
}

/** 400: input, options or a request that does not match what was asked for; `issues` names each bad field. */
export class ValidationError extends DurablyError {
  declare readonly _tag: "ValidationError"
  readonly subject: string
  readonly issues: ReadonlyArray<Issue>
  constructor(fields: { readonly subject: string; readonly issues: ReadonlyArray<Issue> }, options?: { readonly cause?: unknown }) {
    const detail = fields.issues
      .map((issue) => (issue.path.length > 0 ? `${issue.path.join(".")}: ${issue.message}` : issue.message))
      .join("; ")
    super("ValidationError", `invalid ${fields.subject}: ${detail}`, 400, options)
    this.subject = fields.subject
    this.issues = fields.issues
  }
}

/** 409: a state change the run's current status does not allow. */
export class ConflictError extends DurablyError {
  declare readonly _tag: "ConflictError"
  readonly runId: string
  readonly operation: string
  readonly status: string
  constructor(
    fields: { readonly runId: string; readonly operation: string; readonly status: string },
    options?: { readonly cause?: unknown }
  ) {
    super("ConflictError", `cannot ${fields.operation} run ${fields.runId}: it is ${fields.status}`, 409, options)
    this.runId = fields.runId
    this.operation = fields.operation
    this.status = fields.status
  }
}

/** 409: the run was cancelled (from `waitForRun` / `triggerAndWait`). */
export class CancelledError extends DurablyError {
  declare readonly _tag: "CancelledError"
  readonly runId: string
  constructor(fields: { readonly runId: string }, options?: { readonly cause?: unknown }) {
    super("CancelledError", `run ${fields.runId} was cancelled`, 409, options)
    this.runId = fields.runId
  }
}

/** 409: this worker's lease on the run was taken over; it writes nothing more. */
export class LeaseLostError extends DurablyError {
  declare readonly _tag: "LeaseLostError"
  readonly runId: string
  readonly generation: number
  constructor(fields: { readonly runId: string; readonly generation: number }, options?: { readonly cause?: unknown }) {
    super("LeaseLostError", `lease on run ${fields.runId} (generation ${fields.generation}) was lost`, 409, options)
    this.runId = fields.runId
    this.generation = fields.generation
  }
}

/** 500: the run failed (from `waitForRun` / `triggerAndWait`); `error` is its stored failure. */
export class JobFailedError extends DurablyError {
  declare readonly _tag: "JobFailedError"
  readonly runId: string
  readonly error: string
  readonly failedStepName: string | null
  constructor(
    fields: { readonly runId: string; readonly error: string; readonly failedStepName: string | null },
    options?: { readonly cause?: unknown }
  ) {
    const where = fields.failedStepName === null ? "" : ` in step "${fields.failedStepName}"`
    super("JobFailedError", `run ${fields.runId} failed${where}: ${fields.error}`, 500, options)
    this.runId = fields.runId
    this.error = fields.error
    this.failedStepName = fields.failedStepName
  }
}

/** 408: `waitForRun` / `triggerAndWait` gave up waiting; the run itself goes on. */
export class WaitTimeoutError extends DurablyError {
  declare readonly _tag: "WaitTimeoutError"
  readonly runId: string
  readonly timeoutMs: number
  constructor(fields: { readonly runId: string; readonly timeoutMs: number }, options?: { readonly cause?: unknown }) {
    super("WaitTimeoutError", `run ${fields.runId} did not finish within ${fields.timeoutMs} ms`, 408, options)
    this.runId = fields.runId
    this.timeoutMs = fields.timeoutMs
  }
}

/** 400: a job called `step.run` twice with one name in one execution. */
export class DuplicateStepError extends DurablyError {
  declare readonly _tag: "DuplicateStepError"
  readonly runId: string
  readonly stepName: string
  constructor(fields: { readonly runId: string; readonly stepName: string }, options?: { readonly cause?: unknown }) {
    super("DuplicateStepError", `step "${fields.stepName}" ran twice in one execution of run ${fields.runId}`, 400, options)
    this.runId = fields.runId
    this.stepName = fields.stepName
  }
}

/** 503: the database failed or could not be reached. */
export class StoreError extends DurablyError {
  declare readonly _tag: "StoreError"
  readonly operation: string
  constructor(fields: { readonly operation: string; readonly detail: string }, options?: { readonly cause?: unknown }) {
    super("StoreError", `store failed during ${fields.operation}: ${fields.detail}`, 503, options)
    this.operation = fields.operation
  }
}

/** 500: a stored row that cannot be read back (bad JSON, unknown status). */
export class CorruptRowError extends DurablyError {
  declare readonly _tag: "CorruptRowError"
  readonly table: string
  readonly runId: string
  readonly detail: string
  constructor(
    fields: { readonly table: string; readonly runId: string; readonly detail: string },
    options?: { readonly cause?: unknown }
  ) {
    super("CorruptRowError", `corrupt row in ${fields.table} for run ${fields.runId}: ${fields.detail}`, 500, options)
    this.table = fields.table
    this.runId = fields.runId
    this.detail = fields.detail
  }
}
