/**
 * The `Worker` service: claims runs and executes them. Built by
 * `Durably.layer`, which starts its polling loop unless `autoStart` is false.
 *
 * @since 0.1.0
 */
import type { Effect } from "effect"
import { Context } from "effect"
import type { StoreError } from "./DurablyError.js"

/**
 * @since 0.1.0
 * @category tags
 */
export class Worker extends Context.Tag("@durably/core/Worker")<
  Worker,
  {
    /** The lease owner name this worker writes on the runs it claims. */
    readonly workerId: string
    /**
     * Starts the polling loop (a no-op when it runs): claims only runs of the
     * jobs this engine has (those added by `register` too), up to
     * `maxConcurrentRuns` at once, waking at once when this process triggers a
     * run (once its transaction committed), backing off (with `worker:error`
     * events) while the store fails.
     */
    readonly start: Effect.Effect<void>
    /**
     * Graceful shutdown: stops claiming, lets in-flight runs finish for up to
     * `shutdownTimeout`, then interrupts them. Their completed steps stay. A
     * run interrupted between steps is handed back, so any worker resumes it
     * at once; one interrupted inside a step's body keeps its lease until it
     * expires (renewal stops), since that body may still be running, so no
     * worker starts the step again before `leaseDuration` has passed.
     */
    readonly stop: Effect.Effect<void>
    /** Claims now instead of at the next poll. */
    readonly wake: Effect.Effect<void>
    /** Claims one run of a job this engine has and executes it to the end; false when none was claimable. */
    readonly processOne: Effect.Effect<boolean, StoreError>
    /** Processes runs one by one until none is claimable (or `maxRuns`); returns how many. */
    readonly processUntilIdle: (options?: { readonly maxRuns?: number | undefined }) => Effect.Effect<number, StoreError>
    /** Ids of the runs executing in this worker now. */
    readonly running: Effect.Effect<ReadonlyArray<string>>
  }
>() {}
