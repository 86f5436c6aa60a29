// Engine errors (Effect tagged errors) to the facade's error classes, so a
// Promise caller can `instanceof` them and read `statusCode`. Anything else
// (a job's own thrown value) passes through unchanged.
import type * as Core from "@durably/core/DurablyError"
import { Cause, Exit } from "effect"
import * as Errors from "../errors.js"

type CoreError =
  | Core.NotFoundError
  | Core.ValidationError
  | Core.ConflictError
  | Core.CancelledError
  | Core.LeaseLostError
  | Core.JobFailedError
  | Core.WaitTimeoutError
  | Core.DuplicateStepError
  | Core.StoreError
  | Core.CorruptRowError

const coreTags = new Set<string>([
  "NotFoundError",
  "ValidationError",
  "ConflictError",
  "CancelledError",
  "LeaseLostError",
  "JobFailedError",
  "WaitTimeoutError",
  "DuplicateStepError",
  "StoreError",
  "CorruptRowError"
])

const isCoreError = (error: unknown): error is CoreError =>
  error instanceof Error && "_tag" in error && typeof error._tag === "string" && coreTags.has(error._tag) &&
  !(error instanceof Errors.DurablyError)

const fromCoreError = (error: CoreError): Errors.DurablyError => {
  const options = { cause: error }
  switch (error._tag) {
    case "NotFoundError":
      return new Errors.NotFoundError({ entity: error.entity, id: error.id }, options)
    case "ValidationError":
      return new Errors.ValidationError({ subject: error.subject, issues: error.issues }, options)
    case "ConflictError":
      return new Errors.ConflictError({ runId: error.runId, operation: error.operation, status: error.status }, options)
    case "CancelledError":
      return new Errors.CancelledError({ runId: error.runId }, options)
    case "LeaseLostError":
      return new Errors.LeaseLostError({ runId: error.runId, generation: error.generation }, options)
    case "JobFailedError":
      return new Errors.JobFailedError(
        { runId: error.runId, error: error.error, failedStepName: error.failedStepName },
        options
      )
    case "WaitTimeoutError":
      return new Errors.WaitTimeoutError({ runId: error.runId, timeoutMs: error.timeoutMs }, options)
    case "DuplicateStepError":
      return new Errors.DuplicateStepError({ runId: error.runId, stepName: error.stepName }, options)
    case "StoreError": {
      const detail = error.cause instanceof Error ? error.cause.message : String(error.cause)
      return new Errors.StoreError({ operation: error.operation, detail }, options)
    }
    case "CorruptRowError":
      return new Errors.CorruptRowError({ table: error.table, runId: error.runId, detail: error.detail }, options)
  }
}

/** A failure as the facade throws it. */
export const toFacadeError = (error: unknown): unknown => {
  return isCoreError(error) ? fromCoreError(error) : error
}

/** The value of an exit, or its failure thrown as the facade's error. */
export const settle = <A, E>(exit: Exit.Exit<A, E>, onInterrupt: () => unknown): A => {
  if (Exit.isSuccess(exit)) return exit.value
  if (Cause.isInterruptedOnly(exit.cause)) throw onInterrupt()
  throw toFacadeError(Cause.squash(exit.cause))
}
