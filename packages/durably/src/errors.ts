/**
 * The errors the facade throws: plain classes with a `_tag` and an HTTP-style
 * `statusCode`, carrying the same data as the engine's tagged errors.
 */

/** One problem found while validating input, with the path to the bad field. */
export interface Issue {
  readonly path: ReadonlyArray<string | number>
  readonly message: string
}

interface ErrorOptions {
  readonly cause?: unknown
}

/** The base of every error Durably throws. */
export class DurablyError extends Error {
  readonly _tag: string
  readonly statusCode: number

  constructor(tag: string, message: string, statusCode: number, options?: ErrorOptions) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause })
    this._tag = tag
    this.name = tag
    this.statusCode = statusCode
  }
}

/** A `DurablyError` class whose instances carry `fields` and a fixed tag and status. */
const define = <Tag extends string, Fields extends object>(
  tag: Tag,
  statusCode: number,
  describe: (fields: Fields) => string
) =>
  class extends DurablyError {
    constructor(fields: Fields, options?: ErrorOptions) {
      super(tag, describe(fields), statusCode, options)
      Object.assign(this, fields)
    }
  } as unknown as new (fields: Fields, options?: ErrorOptions) => DurablyError & Readonly<Fields> & { readonly _tag: Tag }

/** 404: no run or job by that id or name. */
export class NotFoundError extends define<"NotFoundError", { entity: "run" | "job"; id: string }>(
  "NotFoundError",
  404,
  (f) => `${f.entity} not found: ${f.id}`
) {}

/** 400: input, options or a request that does not match what was asked for; `issues` names each bad field. */
export class ValidationError extends define<"ValidationError", { subject: string; issues: ReadonlyArray<Issue> }>(
  "ValidationError",
  400,
  (f) =>
    `invalid ${f.subject}: ${f.issues
      .map((issue) => (issue.path.length > 0 ? `${issue.path.join(".")}: ${issue.message}` : issue.message))
      .join("; ")}`
) {}

/** 409: a state change the run's current status does not allow. */
export class ConflictError extends define<"ConflictError", { runId: string; operation: string; status: string }>(
  "ConflictError",
  409,
  (f) => `cannot ${f.operation} run ${f.runId}: it is ${f.status}`
) {}

/** 409: the run was cancelled (from `waitForRun` / `triggerAndWait`). */
export class CancelledError extends define<"CancelledError", { runId: string }>(
  "CancelledError",
  409,
  (f) => `run ${f.runId} was cancelled`
) {}

/** 409: this worker's lease on the run was taken over; it writes nothing more. */
export class LeaseLostError extends define<"LeaseLostError", { runId: string; generation: number }>(
  "LeaseLostError",
  409,
  (f) => `lease on run ${f.runId} (generation ${f.generation}) was lost`
) {}

/** 500: the run failed (from `waitForRun` / `triggerAndWait`); `error` is its stored failure. */
export class JobFailedError extends define<
  "JobFailedError",
  { runId: string; error: string; failedStepName: string | null }
>(
  "JobFailedError",
  500,
  (f) => `run ${f.runId} failed${f.failedStepName === null ? "" : ` in step "${f.failedStepName}"`}: ${f.error}`
) {}

/** 408: `waitForRun` / `triggerAndWait` gave up waiting; the run itself goes on. */
export class WaitTimeoutError extends define<"WaitTimeoutError", { runId: string; timeoutMs: number }>(
  "WaitTimeoutError",
  408,
  (f) => `run ${f.runId} did not finish within ${f.timeoutMs} ms`
) {}

/** 400: a job called `step.run` twice with one name in one execution. */
export class DuplicateStepError extends define<"DuplicateStepError", { runId: string; stepName: string }>(
  "DuplicateStepError",
  400,
  (f) => `step "${f.stepName}" ran twice in one execution of run ${f.runId}`
) {}

/** 503: the database failed or could not be opened. */
export class StoreError extends define<"StoreError", { operation: string; detail: string }>(
  "StoreError",
  503,
  (f) => `store failed during ${f.operation}: ${f.detail}`
) {}

/** 500: a stored row that cannot be read back (bad JSON, unknown status). */
export class CorruptRowError extends define<"CorruptRowError", { table: string; runId: string; detail: string }>(
  "CorruptRowError",
  500,
  (f) => `corrupt row in ${f.table} for run ${f.runId}: ${f.detail}`
) {}
