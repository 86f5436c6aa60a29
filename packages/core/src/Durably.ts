/**
 * The `Durably` service: trigger jobs, follow and manage their runs.
 *
 * @since 0.1.0
 */
import type { Duration, Either, Layer, Schema, Stream } from "effect"
import { Context, Effect } from "effect"
import type {
  CancelledError,
  ConflictError,
  CorruptRowError,
  JobFailedError,
  NotFoundError,
  StoreError,
  ValidationError,
  WaitTimeoutError
} from "./DurablyError.js"
import type { DurablyEvent } from "./DurablyEvent.js"
import type { EventBus } from "./EventBus.js"
import { makeEngine, validateOptions } from "./internal/engine.js"
import type * as Job from "./Job.js"
import type { Labels, LogEntry, Run, StepRecord } from "./Run.js"
import type { Disposition, RunFilter, Store } from "./Store.js"
import type { Worker } from "./Worker.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface TriggerOptions {
  /** A second trigger with the same key (per job) returns the first run and adds none. */
  readonly idempotencyKey?: string | undefined
  /** Runs sharing a key execute one at a time, in trigger order, across all jobs and workers. */
  readonly concurrencyKey?: string | undefined
  /** `skip`: when a run with this concurrency key is still pending, return it instead of adding one. */
  readonly coalesce?: "skip" | undefined
  readonly labels?: Labels | undefined
}

/** @since 0.1.0 @category models */
export interface Triggered {
  readonly run: Run
  readonly disposition: Disposition
}

/** @since 0.1.0 @category models */
export interface WaitOptions {
  readonly timeoutMs?: number | undefined
}

/** @since 0.1.0 @category models */
export type TriggerError = ValidationError | NotFoundError | StoreError | CorruptRowError

/** @since 0.1.0 @category models */
export type WaitError = JobFailedError | CancelledError | WaitTimeoutError | NotFoundError | StoreError | CorruptRowError

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
    /** Validates the input against the job's schema, stores a run and wakes the worker. */
    readonly trigger: <J extends Job.Any>(
      job: J,
      input: Schema.Schema.Type<J["input"]>,
      options?: TriggerOptions
    ) => Effect.Effect<Triggered, TriggerError>
    /**
     * `trigger` started at once, outside the runtime, with `now` (epoch ms) for
     * the current time. When it can be done at once (the input encodes
     * synchronously and the store writes without waiting: SQLite, its
     * connection free) it is, and the answer is an `Either` (`Either.isEither`).
     * Otherwise nothing is written yet, and the answer is the effect that does
     * the rest. For the Promise facade, which would otherwise start a fiber for
     * each trigger.
     */
    readonly unsafeTrigger: <J extends Job.Any>(
      job: J,
      input: Schema.Schema.Type<J["input"]>,
      options: TriggerOptions | undefined,
      now: number
    ) => Either.Either<Triggered, TriggerError> | Effect.Effect<Triggered, TriggerError>
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
    /** The run's events from now on; ends after its terminal event (at once for a finished run). */
    readonly subscribe: (
      runId: string
    ) => Stream.Stream<DurablyEvent, NotFoundError | StoreError | CorruptRowError>
    readonly processOne: Effect.Effect<boolean, StoreError>
    readonly processUntilIdle: (options?: { readonly maxRuns?: number | undefined }) => Effect.Effect<number, StoreError>
  }
>() {}

/**
 * Engine settings; every duration is in milliseconds.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options<J extends Job.Any> {
  readonly jobs: ReadonlyArray<J>
  /** Lease owner name; default `worker-<random>`. */
  readonly workerId?: string | undefined
  /** How often an idle worker looks for runs (default 1000). */
  readonly pollingIntervalMs?: number | undefined
  /** How often a lease is renewed while no step is written (default 5000). */
  readonly leaseRenewIntervalMs?: number | undefined
  /** How long a lease lasts without renewal (default 30000). */
  readonly leaseMs?: number | undefined
  /** Runs executed at once by this worker (default 1). */
  readonly maxConcurrentRuns?: number | undefined
  /** Keep step outputs after a run finishes (default false). */
  readonly preserveSteps?: boolean | undefined
  /** How long `stop` waits for in-flight runs before interrupting them (default 30000). */
  readonly shutdownTimeoutMs?: number | undefined
  /**
   * Purge finished runs older than this (e.g. `"30 days"`), checked while the
   * worker is idle, at most once a minute, 100 runs at a time. Default: keep all.
   */
  readonly retainRuns?: Duration.DurationInput | undefined
  /** Start the polling loop when the layer is built (default true). */
  readonly autoStart?: boolean | undefined
}

/**
 * `Durably` and its `Worker`, over a `Store` and an `EventBus`. The jobs'
 * own requirements must be provided to this layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = <J extends Job.Any>(
  options: Options<J>
): Layer.Layer<Durably | Worker, ValidationError, Store | EventBus | Job.Requirements<J>> => makeEngine(options)


/**
 * Checks engine options without building anything: a `ValidationError` names
 * each bad option. `layer` runs the same check.
 *
 * @since 0.1.0
 * @category utils
 */
export const validate = <J extends Job.Any>(options: Options<J>): Effect.Effect<void, ValidationError> =>
  Effect.asVoid(validateOptions(options))
