// The arguments and answers of the `Durably` service. They are declared here,
// below both `Durably.ts` (which re-exports them) and the engine, so that the
// public module can build its layer from the engine without the engine ever
// importing the public module back.
import type { Duration } from "effect"
import type {
  CancelledError,
  CorruptRowError,
  JobFailedError,
  NotFoundError,
  StoreError,
  ValidationError,
  WaitTimeoutError
} from "../DurablyError.js"
import type { Labels, Run } from "../Run.js"
import type { Disposition } from "../Store.js"

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
  /** Give up after this long with a `WaitTimeoutError` (the run goes on). */
  readonly timeout?: Duration.DurationInput | undefined
}

/**
 * Which runs `subscribeRuns` reports: all of them, or those of the named
 * jobs carrying every label given.
 *
 * @since 0.1.0
 * @category models
 */
export interface RunsFilter {
  readonly jobName?: string | ReadonlyArray<string> | undefined
  readonly labels?: Labels | undefined
}

/** @since 0.1.0 @category models */
export type TriggerError = ValidationError | NotFoundError | StoreError | CorruptRowError

/** @since 0.1.0 @category models */
export type WaitError = JobFailedError | CancelledError | WaitTimeoutError | NotFoundError | StoreError | CorruptRowError
