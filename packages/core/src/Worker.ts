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
     * Starts the polling loop (a no-op when it runs): up to `maxConcurrentRuns`
     * runs at once, waking at once when this process triggers a run, backing
     * off (with `worker:error` events) while the store fails.
     */
    readonly start: Effect.Effect<void>
    /**
     * Graceful shutdown: stops claiming, lets in-flight runs finish for up to
     * `shutdownTimeoutMs`, then interrupts them and hands their leases back.
     * Their completed steps stay, so any worker resumes them.
     */
    readonly stop: Effect.Effect<void>
    /** Claims now instead of at the next poll. */
    readonly wake: Effect.Effect<void>
    /** Claims one run and executes it to the end; false when none was claimable. */
    readonly processOne: Effect.Effect<boolean, StoreError>
    /** Processes runs one by one until none is claimable (or `maxRuns`); returns how many. */
    readonly processUntilIdle: (options?: { readonly maxRuns?: number | undefined }) => Effect.Effect<number, StoreError>
    /** Ids of the runs executing in this worker now. */
    readonly running: Effect.Effect<ReadonlyArray<string>>
  }
>() {}
