// Engine errors to HTTP errors. Store failures and corrupt rows become a bare
// 500: the body never carries SQL, stacks or connection details.
import type { ConflictError, CorruptRowError, NotFoundError, StoreError, ValidationError } from "@durably/core/DurablyError"
import { Effect } from "effect"
import { BadRequest, Conflict, InternalError, NotFound } from "../DurablyApi.js"

export type EngineError = ValidationError | NotFoundError | ConflictError | StoreError | CorruptRowError

export const internalError = new InternalError({ error: "internal server error" })

export const toHttpError = (error: EngineError): Effect.Effect<BadRequest | NotFound | Conflict | InternalError> => {
  switch (error._tag) {
    case "ValidationError":
      return Effect.succeed(new BadRequest({ error: error.message, issues: error.issues }))
    case "NotFoundError":
      // An unknown job is a bad request; an unknown run is not found.
      return Effect.succeed(
        error.entity === "job" ? new BadRequest({ error: error.message }) : new NotFound({ error: error.message })
      )
    case "ConflictError":
      return Effect.succeed(new Conflict({ error: error.message }))
    case "StoreError":
    case "CorruptRowError":
      return Effect.as(Effect.logError("durably http: request failed", error), internalError)
  }
}

/** Runs `effect`, answering its engine errors as HTTP errors. */
export const answer = <A, R>(effect: Effect.Effect<A, EngineError, R>) =>
  Effect.catchAll(effect, (error) => Effect.flatMap(toHttpError(error), Effect.fail))
