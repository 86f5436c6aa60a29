/**
 * `defineJob`: a job for the Promise facade, with its input and output checked
 * by an Effect Schema or any Standard Schema v1 (zod, valibot, ...).
 */
import * as Job from "@durably/core/Job"
import { Step } from "@durably/core"
import { Effect } from "effect"
import { ValidationError } from "./errors.js"
import type { Accepted, SchemaInput, Validated } from "./internal/schema.js"
import { isSchemaInput, toEffectSchema } from "./internal/schema.js"
import type { StepContext } from "./internal/stepContext.js"
import { makeSteps } from "./internal/stepContext.js"

export type { StepContext } from "./internal/stepContext.js"
export type { Accepted, SchemaInput, Validated } from "./internal/schema.js"

/** The engine job behind a definition (shared by every instance it is registered with). */
export const engineJob: unique symbol = Symbol.for("durably/engineJob")

/** A job definition of any types. */
export interface AnyJobDefinition {
  readonly name: string
  readonly [engineJob]: Job.Standalone
}

/**
 * A job: `Input` is what `trigger` accepts, `Output` what a completed run
 * yields (after the output schema, if any).
 */
export interface JobDefinition<Name extends string, Input, Output> extends AnyJobDefinition {
  readonly name: Name
  /** Type-level only. */
  readonly "~types"?: { readonly input: Input; readonly output: Output }
}

type OutputOf<S> = S extends SchemaInput ? Validated<S> : void
type ReturnOf<S> = S extends SchemaInput ? Accepted<S> : void

/** What `defineJob` takes. */
export interface JobConfig<Name extends string, In extends SchemaInput, Out extends SchemaInput | undefined> {
  readonly name: Name
  readonly input: In
  readonly output?: Out
  /** The job: a function of named steps. It is re-run from the top on resume; completed steps replay. */
  readonly run: (step: StepContext, input: Validated<In>) => Promise<ReturnOf<Out>>
}

/**
 * Defines a job.
 *
 * @example
 * const syncUsers = defineJob({
 *   name: "sync-users",
 *   input: z.object({ orgId: z.string() }),
 *   output: z.object({ syncedCount: z.number() }),
 *   run: async (step, input) => {
 *     const users = await step.run("fetch-users", (signal) => api.fetchUsers(input.orgId, { signal }))
 *     await step.run("save-to-db", () => db.upsertUsers(users))
 *     return { syncedCount: users.length }
 *   }
 * })
 */
export const defineJob = <const Name extends string, In extends SchemaInput, Out extends SchemaInput | undefined = undefined>(
  config: JobConfig<Name, In, Out>
): JobDefinition<Name, Accepted<In>, OutputOf<Out>> => {
  const issues: Array<{ path: ReadonlyArray<string>; message: string }> = []
  if (typeof config.name !== "string" || config.name.length === 0) {
    issues.push({ path: ["name"], message: "must be a non-empty string" })
  }
  if (!isSchemaInput(config.input)) issues.push({ path: ["input"], message: "must be an Effect Schema or a Standard Schema" })
  if (config.output !== undefined && !isSchemaInput(config.output)) {
    issues.push({ path: ["output"], message: "must be an Effect Schema or a Standard Schema" })
  }
  if (typeof config.run !== "function") issues.push({ path: ["run"], message: "must be a function" })
  if (issues.length > 0) throw new ValidationError({ subject: "job definition", issues })

  const job = Job.make({
    name: config.name,
    input: toEffectSchema(config.input),
    output: config.output === undefined ? undefined : toEffectSchema(config.output),
    run: (input: unknown) =>
      Effect.flatMap(Effect.runtime<Step.Step>(), (runtime) =>
        Effect.flatMap(Step.runId, (runId) => {
          let steps: ReturnType<typeof makeSteps> | undefined
          return Effect.tryPromise({
            try: async (signal) => {
              steps = makeSteps(runtime, runId, signal)
              const output = await config.run(steps.context, input as Validated<In>)
              await steps.settled()
              return output
            },
            catch: (thrown) => thrown
          }).pipe(Effect.onInterrupt(() => steps?.interruptAll ?? Effect.void))
        })
      )
  })
  return { name: config.name, [engineJob]: job }
}
