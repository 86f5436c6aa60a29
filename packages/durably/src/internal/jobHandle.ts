// `durably.jobs.x`: one job's trigger, wait and reads, each run on the
// instance's runtime (a trigger on an open instance starts without a fiber).
import { Durably as Engine } from "@durably/core"
import type { TriggerOptions } from "@durably/core/Durably"
import type { UnsafeTrigger } from "@durably/core/Internal"
import type * as Job from "@durably/core/Job"
import type { Run } from "@durably/core/Run"
import type { Disposition, RunFilter } from "@durably/core/Store"
import { Effect, Either } from "effect"
import type { AnyJobDefinition } from "../defineJob.js"
import { engineJob } from "../defineJob.js"
import type { CorruptRowError } from "../errors.js"
import type { Instance } from "./instance.js"
import type { DecodeOutput } from "./runOutput.js"
import { orNull, withDisposition } from "./runOutput.js"
import { toFacadeError } from "./translate.js"
import type { WaitForRunOptions } from "./waitForRun.js"
import { waitFor, withCallbacks } from "./waitForRun.js"

/** A run whose `output` has the job's output type. */
export type TypedRun<Output> = Omit<Run, "output"> & { readonly output: Output | null }

/** A triggered run and how the trigger was resolved. */
export type TriggerResult<Output> = TypedRun<Output> & { readonly disposition: Disposition }

export interface TriggerAndWaitResult<Output> {
  readonly id: string
  readonly output: Output
  readonly disposition: Disposition
}

/** What `durably.jobs.x` offers for one job. */
export interface JobHandle<Name extends string, Input, Output> {
  readonly name: Name
  trigger(input: Input, options?: TriggerOptions): Promise<TriggerResult<Output>>
  triggerAndWait(input: Input, options?: TriggerOptions & WaitForRunOptions): Promise<TriggerAndWaitResult<Output>>
  /** Triggers all in one transaction; results in input order. */
  batchTrigger(
    items: ReadonlyArray<{ readonly input: Input; readonly options?: TriggerOptions | undefined }>
  ): Promise<Array<TriggerResult<Output>>>
  /** The run if it exists and belongs to this job, else `null`. */
  getRun(runId: string): Promise<TypedRun<Output> | null>
  getRuns(filter?: Omit<RunFilter, "jobName">): Promise<Array<TypedRun<Output>>>
}

/**
 * The trigger started without a fiber (see `UnsafeTrigger`) once the instance
 * is open; `undefined` before that.
 */
const triggerNow = (
  instance: Instance,
  decodeOutput: DecodeOutput,
  job: Job.Any,
  input: unknown,
  triggerOptions: TriggerOptions | undefined
) => {
  const direct = instance.direct()
  if (direct === undefined || instance.isUnsynced() || instance.isDisposed()) return undefined
  let started: ReturnType<UnsafeTrigger>
  try {
    started = direct.trigger(job, input, triggerOptions, direct.clock.unsafeCurrentTimeMillis())
  } catch (error) {
    // A validator that throws: rejected like the effect's defect would be.
    return Promise.reject(toFacadeError(error))
  }
  if (Either.isEither(started)) {
    if (Either.isLeft(started)) return Promise.reject(toFacadeError(started.left))
    // A new run has no output to decode; one that existed already may have.
    if (started.right.disposition === "created") return Promise.resolve({ ...started.right.run, disposition: "created" as const })
  }
  return instance.use(Effect.flatMap(started, withDisposition(decodeOutput)))
}

export const makeHandle = (
  instance: Instance,
  decodeOutput: DecodeOutput,
  definition: AnyJobDefinition
): JobHandle<string, unknown, unknown> => {
  const { use } = instance
  const job = definition[engineJob]
  const typed = (run: Run): Effect.Effect<TypedRun<unknown>, CorruptRowError> => decodeOutput(run)
  const decoded = withDisposition(decodeOutput)
  return {
    name: definition.name,
    trigger: (input, triggerOptions) =>
      triggerNow(instance, decodeOutput, job, input, triggerOptions) ??
      use(Effect.flatMap(Engine.Durably, (engine) => Effect.flatMap(engine.trigger(job, input, triggerOptions), decoded))),
    triggerAndWait: (input, waitOptions) =>
      use(
        withCallbacks(waitOptions, (watch) =>
          Effect.gen(function* () {
            const engine = yield* Engine.Durably
            const { disposition, run } = yield* engine.trigger(job, input, waitOptions)
            yield* watch(run.id)
            const done = yield* waitFor(decodeOutput, run.id, waitOptions)
            return { id: done.id, output: done.output, disposition }
          })
        ).pipe(Effect.scoped)
      ),
    batchTrigger: (items) =>
      use(
        Effect.gen(function* () {
          const engine = yield* Engine.Durably
          const results = yield* engine.batchTrigger(job, items)
          return yield* Effect.forEach(results, decoded)
        })
      ),
    getRun: (runId) =>
      use(
        orNull(
          Effect.flatMap(Engine.Durably, (engine) =>
            Effect.flatMap(engine.getRun(runId), (run) => (run.jobName === job.name ? typed(run) : Effect.succeed(null)))
          )
        )
      ),
    getRuns: (filter) =>
      use(
        Effect.flatMap(Engine.Durably, (engine) =>
          Effect.flatMap(engine.getRuns({ ...filter, jobName: job.name }), (runs) => Effect.forEach(runs, typed))
        )
      )
  }
}
