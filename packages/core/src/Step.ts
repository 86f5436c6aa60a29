/**
 * What a job's code uses: durable steps, progress and logs. Each function
 * needs the `Step` service, which the worker provides to each execution.
 *
 * @since 0.1.0
 */
import type { Schema } from "effect"
import { Context, Effect } from "effect"
import type { DuplicateStepError } from "./DurablyError.js"
import type { LogLevel } from "./Run.js"

/**
 * Options of one step. With `schema`, the output is stored in its encoded form
 * and decoded on replay, so `Date`, `bigint` or `Option` come back as they
 * went in; without it the output must be a JSON value.
 *
 * @since 0.1.0
 * @category models
 */
export interface StepOptions<A, I> {
  readonly schema?: Schema.Schema<A, I> | undefined
}

/**
 * The steps of the run being executed.
 *
 * @since 0.1.0
 * @category tags
 */
export class Step extends Context.Tag("@durably/core/Step")<
  Step,
  {
    readonly runId: string
    readonly jobName: string
    readonly run: <A, E, R, I = A>(
      name: string,
      effect: Effect.Effect<A, E, R>,
      options?: StepOptions<A, I>
    ) => Effect.Effect<A, E | DuplicateStepError, R>
    readonly progress: (current: number, total?: number, message?: string) => Effect.Effect<void>
    readonly log: (level: LogLevel, message: string, data?: unknown) => Effect.Effect<void>
  }
>() {}

/**
 * Runs `effect` as the durable step `name`. A step that completed in an earlier
 * execution of this run returns its stored output without running again.
 *
 * @since 0.1.0
 * @category constructors
 */
export const run = <A, E, R, I = A>(
  name: string,
  effect: Effect.Effect<A, E, R>,
  options?: StepOptions<A, I>
): Effect.Effect<A, E | DuplicateStepError, R | Step> => Effect.flatMap(Step, (step) => step.run(name, effect, options))

/**
 * Reports the run's progress (stored, and published as `run:progress`).
 *
 * @since 0.1.0
 * @category utils
 */
export const progress = (current: number, total?: number, message?: string): Effect.Effect<void, never, Step> =>
  Effect.flatMap(Step, (step) => step.progress(current, total, message))

const logAt =
  (level: LogLevel) =>
  (message: string, data?: unknown): Effect.Effect<void, never, Step> =>
    Effect.flatMap(Step, (step) => step.log(level, message, data))

/**
 * Writes a log entry for the run (stored, and published as `log:write`).
 *
 * @since 0.1.0
 * @category utils
 */
export const log = {
  info: logAt("info"),
  warn: logAt("warn"),
  error: logAt("error")
} as const

/**
 * The id of the run being executed.
 *
 * @since 0.1.0
 * @category utils
 */
export const runId: Effect.Effect<string, never, Step> = Effect.map(Step, (step) => step.runId)
