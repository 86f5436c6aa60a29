// Runs as the facade returns them: a completed run's output decoded through
// its job's output schema (when the job is known to this instance).
import type { Triggered } from "@durably/core/Durably"
import type * as Job from "@durably/core/Job"
import type { Run } from "@durably/core/Run"
import { Effect, Schema } from "effect"
import { CorruptRowError } from "../errors.js"

export type DecodeOutput = (run: Run) => Effect.Effect<Run, CorruptRowError>

export const outputDecoder =
  (definitions: ReadonlyMap<string, Job.Standalone>): DecodeOutput =>
  (run) => {
    const schema = definitions.get(run.jobName)?.output
    if (schema === undefined || run.output === null || run.status !== "completed") return Effect.succeed(run)
    return Schema.decodeUnknown(schema)(run.output).pipe(
      Effect.map((output) => ({ ...run, output })),
      Effect.mapError(
        (error) => new CorruptRowError({ table: "durably_runs", runId: run.id, detail: `output: ${error.message}` })
      )
    )
  }

/** A triggered run as a handle returns it: its output decoded, with its disposition. */
export const withDisposition =
  (decodeOutput: DecodeOutput) =>
  ({ disposition, run }: Triggered) =>
    Effect.map(decodeOutput(run), (decoded) => ({ ...decoded, disposition }))

/** `null` for a `NotFoundError`. */
export const orNull = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.catchIf(
    effect,
    (error): error is E => typeof error === "object" && error !== null && "_tag" in error && error._tag === "NotFoundError",
    () => Effect.succeed(null)
  )
