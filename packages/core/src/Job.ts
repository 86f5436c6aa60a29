/**
 * Job definitions: a name, an input schema, an optional output schema and a
 * function of the input made of durable steps.
 *
 * @since 0.1.0
 */
import type { Effect, Schema } from "effect"
import type { Step } from "./Step.js"

/**
 * A job definition. `I`/`II` are the input's type and stored (encoded) form,
 * `O`/`OI` the output's. `R` is what its steps need besides `Step`: the layer
 * that runs this job must provide it.
 *
 * @since 0.1.0
 * @category models
 */
export interface Job<in out Name extends string, in out I, in out II, in out O, in out OI, out E = never, out R = never> {
  readonly name: Name
  readonly input: Schema.Schema<I, II>
  readonly output: Schema.Schema<O, OI> | undefined
  readonly run: (input: I) => Effect.Effect<O, E, R | Step>
}

/**
 * Any job, whatever its types.
 *
 * @since 0.1.0
 * @category models
 */
export interface Any {
  readonly name: string
  readonly input: Schema.Schema.AnyNoContext
  readonly output: Schema.Schema.AnyNoContext | undefined
  run(input: unknown): Effect.Effect<unknown, unknown, unknown>
}

/**
 * A job that needs no services besides `Step`, so it can be registered with an
 * engine that is already running.
 *
 * @since 0.1.0
 * @category models
 */
export interface Standalone extends Any {
  run(input: never): Effect.Effect<unknown, unknown, Step>
}

/**
 * The services a set of jobs needs, apart from `Step`.
 *
 * @since 0.1.0
 * @category models
 */
export type Requirements<J extends Any> = Exclude<
  J extends { run(input: never): Effect.Effect<unknown, unknown, infer R> } ? R : never,
  Step
>

/**
 * Defines a job.
 *
 * @example
 * const syncUsers = Job.make({
 *   name: "sync-users",
 *   input: Schema.Struct({ orgId: Schema.String }),
 *   run: ({ orgId }) => Step.run("fetch", fetchUsers(orgId))
 * })
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <const Name extends string, I, II, O, E = never, R = never, OI = O>(definition: {
  readonly name: Name
  readonly input: Schema.Schema<I, II>
  readonly output?: Schema.Schema<O, OI> | undefined
  readonly run: (input: I) => Effect.Effect<O, E, R>
}): Job<Name, I, II, O, OI, E, Exclude<R, Step>> => ({
  name: definition.name,
  input: definition.input,
  output: definition.output,
  // `R` is `Exclude<R, Step> | Step` at most; TypeScript cannot see that for a generic `R`.
  run: definition.run as (input: I) => Effect.Effect<O, E, Exclude<R, Step> | Step>
})
