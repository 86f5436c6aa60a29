/**
 * The `Durably` service: trigger jobs, follow and manage their runs.
 *
 * @since 0.1.0
 */
import type { Schema, Stream } from "effect"
import { Context, Effect, Layer } from "effect"
import type { ConflictError, CorruptRowError, NotFoundError, StoreError, ValidationError } from "./DurablyError.js"
import type { DurablyEvent } from "./DurablyEvent.js"
import type { EventBus } from "./EventBus.js"
import { makeEngine } from "./internal/engine.js"
import type { Options } from "./internal/options.js"
import { validateOptions } from "./internal/options.js"
import type { RunsFilter, TriggerError, TriggerOptions, Triggered, WaitError, WaitOptions } from "./internal/types.js"
import type { UnsafeTrigger } from "./internal/unsafe.js"
import { registerStopCancelled, registerUnsafeTrigger } from "./internal/unsafe.js"
import type * as Job from "./Job.js"
import type { LogEntry, Run, StepRecord } from "./Run.js"
import type { Disposition, RunFilter, Store } from "./Store.js"
import { Worker } from "./Worker.js"

export type { Options } from "./internal/options.js"
export type { RunsFilter, TriggerError, TriggerOptions, Triggered, WaitError, WaitOptions } from "./internal/types.js"

/**
 * @since 0.1.0
 * @category tags
 */
export class Durably extends Context.Tag("@durably/core/Durably")<
  Durably,
  {
    /** The registered jobs, by name. */
    readonly jobs: ReadonlyMap<string, Job.Any>
    /**
     * Registers more jobs at run time. Only jobs needing no services of their
     * own can be added here; the layer's context was fixed when it was built.
     * The same job again is a no-op; another job under a taken name fails.
     */
    readonly register: (jobs: ReadonlyArray<Job.Standalone>) => Effect.Effect<void, ValidationError>
    /**
     * Validates the input against the job's schema, stores a run, publishes
     * `run:trigger` and wakes the worker. Inside the caller's open `SqlClient`
     * transaction the run is written in that transaction, and the event and
     * the wake-up wait for its commit (a rollback leaves neither).
     */
    readonly trigger: <J extends Job.Any>(
      job: J,
      input: Schema.Schema.Type<J["input"]>,
      options?: TriggerOptions
    ) => Effect.Effect<Triggered, TriggerError>
    /** Like `trigger` for a job named at run time with input of unknown shape (HTTP, facade). */
    readonly triggerByName: (
      jobName: string,
      input: unknown,
      options?: TriggerOptions
    ) => Effect.Effect<Triggered, TriggerError>
    /** Triggers and waits for the run to finish; the output is decoded with the job's schema. */
    readonly triggerAndWait: <J extends Job.Any>(
      job: J,
      input: Schema.Schema.Type<J["input"]>,
      options?: TriggerOptions & WaitOptions
    ) => Effect.Effect<
      { readonly run: Run; readonly output: Schema.Schema.Type<NonNullable<J["output"]>>; readonly disposition: Disposition },
      TriggerError | WaitError
    >
    /** Triggers many runs in one transaction; results in input order. */
    readonly batchTrigger: <J extends Job.Any>(
      job: J,
      items: ReadonlyArray<{ readonly input: Schema.Schema.Type<J["input"]>; readonly options?: TriggerOptions | undefined }>
    ) => Effect.Effect<ReadonlyArray<Triggered>, TriggerError>
    readonly getRun: (runId: string) => Effect.Effect<Run, NotFoundError | StoreError | CorruptRowError>
    readonly getRuns: (filter?: RunFilter) => Effect.Effect<ReadonlyArray<Run>, StoreError | CorruptRowError>
    readonly getSteps: (runId: string) => Effect.Effect<ReadonlyArray<StepRecord>, StoreError | CorruptRowError>
    readonly getLogs: (runId: string) => Effect.Effect<ReadonlyArray<LogEntry>, StoreError | CorruptRowError>
    /** Cancels a pending or leased run; its executing job (in this process) is interrupted at once. */
    readonly cancel: (runId: string) => Effect.Effect<Run, NotFoundError | ConflictError | StoreError | CorruptRowError>
    /** Puts a failed or cancelled run back to pending, same id. */
    readonly retry: (runId: string) => Effect.Effect<Run, NotFoundError | ConflictError | StoreError | CorruptRowError>
    /** Triggers a new run with the same job, input and labels. */
    readonly retrigger: (runId: string) => Effect.Effect<Triggered, NotFoundError | StoreError | CorruptRowError>
    readonly deleteRun: (runId: string) => Effect.Effect<void, NotFoundError | ConflictError | StoreError | CorruptRowError>
    /** Deletes finished runs completed before `olderThan`; returns how many. */
    readonly purgeRuns: (options: {
      readonly olderThan: Date
      readonly limit?: number | undefined
    }) => Effect.Effect<number, StoreError>
    /** Waits until the run is terminal: the completed run, or `JobFailedError` / `CancelledError`. */
    readonly waitForRun: (runId: string, options?: WaitOptions) => Effect.Effect<Run, WaitError>
    /**
     * The run's events from now on; ends after its terminal event (at once for
     * a finished run). A run executing in another process is followed by
     * polling the store every `pollingInterval`: its step results, progress,
     * log entries, new leases and end are delivered as they are stored.
     */
    readonly subscribe: (
      runId: string
    ) => Stream.Stream<DurablyEvent, NotFoundError | StoreError | CorruptRowError>
    /**
     * The run-list events (`run:trigger`, `run:leased`, `run:progress`,
     * `run:complete`, `run:fail`, `run:cancel`, `run:retry`, `run:delete`) of
     * the runs `filter` selects, from now on: this process's at once, other
     * processes' as the store is polled every `pollingInterval`.
     */
    readonly subscribeRuns: (filter?: RunsFilter) => Stream.Stream<DurablyEvent, StoreError | CorruptRowError>
    readonly processOne: Effect.Effect<boolean, StoreError>
    readonly processUntilIdle: (options?: { readonly maxRuns?: number | undefined }) => Effect.Effect<number, StoreError>
  }
>() {}

/**
 * `Durably` and its `Worker`, over a `Store` and an `EventBus`. The jobs'
 * own requirements must be provided to this layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = <J extends Job.Any>(
  options: Options<J>
): Layer.Layer<Durably | Worker, ValidationError, Store | EventBus | Job.Requirements<J>> =>
  Layer.scopedContext(
    Effect.map(makeEngine(options), (engine) => {
      // The engine's methods take any job and input; these are their typed faces.
      const durably = Durably.of({
        ...engine.durably,
        trigger: engine.durably.trigger as Durably["Type"]["trigger"],
        triggerAndWait: engine.durably.triggerAndWait as Durably["Type"]["triggerAndWait"],
        batchTrigger: engine.durably.batchTrigger as Durably["Type"]["batchTrigger"]
      })
      registerUnsafeTrigger(durably, engine.unsafeTrigger as UnsafeTrigger)
      registerStopCancelled(durably, engine.stopCancelled)
      return Context.make(Durably, durably).pipe(Context.add(Worker, engine.worker))
    })
  )

/**
 * Checks engine options without building anything: a `ValidationError` names
 * each bad option. `layer` runs the same check.
 *
 * @since 0.1.0
 * @category utils
 */
export const validate = <J extends Job.Any>(options: Options<J>): Effect.Effect<void, ValidationError> =>
  Effect.asVoid(validateOptions(options))
