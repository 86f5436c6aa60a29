/**
 * The `Store` service: all persistence of runs, steps and logs, including the
 * lease protocol. `SqlStore.layer` implements it over `@effect/sql`.
 *
 * @since 0.1.0
 */
import type { Effect, Option } from "effect"
import { Context } from "effect"
import type {
  ConflictError,
  CorruptRowError,
  LeaseLostError,
  NotFoundError,
  StoreError
} from "./DurablyError.js"
import type { Labels, LogEntry, LogLevel, Progress, Run, RunStatus, StepRecord, StepStatus } from "./Run.js"

/**
 * What to enqueue. `input` is already validated and encoded by the caller.
 *
 * @since 0.1.0
 * @category models
 */
export interface EnqueueRequest {
  readonly jobName: string
  readonly input: unknown
  readonly idempotencyKey?: string | undefined
  readonly concurrencyKey?: string | undefined
  /** `skip`: when a pending run with the same concurrency key exists, add nothing and return it. */
  readonly coalesce?: "skip" | undefined
  readonly labels?: Labels | undefined
}

/**
 * `created` a new run; `idempotent` the run that already had this idempotency
 * key; `coalesced` the pending run that already had this concurrency key.
 *
 * @since 0.1.0
 * @category models
 */
export type Disposition = "created" | "idempotent" | "coalesced"

/** @since 0.1.0 @category models */
export interface Enqueued {
  readonly run: Run
  readonly disposition: Disposition
  /**
   * Present when the enqueue joined the caller's open transaction: completes
   * once that transaction has ended, with true when the run was committed and
   * false when it was rolled back. Awaiting it inside that transaction never
   * completes.
   */
  readonly committed?: Effect.Effect<boolean> | undefined
}

/**
 * The fencing token of a claimed run: every write its holder makes carries it.
 *
 * @since 0.1.0
 * @category models
 */
export interface Lease {
  readonly runId: string
  readonly generation: number
}

/** @since 0.1.0 @category models */
export interface ClaimOptions {
  readonly workerId: string
  readonly leaseMs: number
  /** Only runs of these jobs are claimed; an empty list claims nothing. */
  readonly jobNames: ReadonlyArray<string>
}

/** @since 0.1.0 @category models */
export interface StepWrite {
  readonly name: string
  readonly index: number
  readonly status: StepStatus
  readonly output?: unknown
  readonly error?: string | undefined
  readonly startedAt: number
}

/** @since 0.1.0 @category models */
export interface LogWrite {
  readonly stepName: string | null
  readonly level: LogLevel
  readonly message: string
  readonly data?: unknown
}

/** @since 0.1.0 @category models */
export interface RunFilter {
  readonly status?: RunStatus | ReadonlyArray<RunStatus> | undefined
  readonly jobName?: string | ReadonlyArray<string> | undefined
  readonly labels?: Labels | undefined
  readonly limit?: number | undefined
  readonly offset?: number | undefined
}

/** @since 0.1.0 @category models */
export interface PurgeOptions {
  /** Terminal runs that completed before this instant (epoch ms) are deleted. */
  readonly olderThan: number
  readonly limit?: number | undefined
}

/** @since 0.1.0 @category models */
export interface TerminalOptions {
  /** Delete the run's completed steps (their outputs) with the terminal write; failed-step records stay. */
  readonly deleteSteps: boolean
}

/**
 * @since 0.1.0
 * @category tags
 */
export class Store extends Context.Tag("@durably/core/Store")<
  Store,
  {
    /** Apply the schema migrations; safe to call from several processes at once. */
    readonly migrate: Effect.Effect<void, StoreError>
    /**
     * Enqueue one run (one statement when there are no labels and no
     * coalescing). Inside the caller's open `SqlClient` transaction it joins
     * that transaction, and `committed` tells how it ended.
     */
    readonly enqueue: (request: EnqueueRequest) => Effect.Effect<Enqueued, StoreError | CorruptRowError>
    /** Enqueue many runs in one transaction (the caller's, when one is open); results in input order. */
    readonly enqueueBatch: (
      requests: ReadonlyArray<EnqueueRequest>
    ) => Effect.Effect<ReadonlyArray<Enqueued>, StoreError | CorruptRowError>
    /**
     * Lease the oldest claimable run (pending, or leased with an expired lease)
     * of one of `jobNames` whose concurrency key is free: no live lease on it
     * and no older unfinished run with it, of any job. One round trip.
     */
    readonly claim: (options: ClaimOptions) => Effect.Effect<Option.Option<Run>, StoreError | CorruptRowError>
    /** Extend a live lease to `now + leaseMs`; returns the new expiry (epoch ms). */
    readonly renew: (lease: Lease, leaseMs: number) => Effect.Effect<number, StoreError | LeaseLostError>
    /**
     * Store a step's result and extend the lease to `now + leaseMs` (the duration it
     * was claimed or last renewed with), in one fenced statement: a step write is the heartbeat.
     */
    readonly persistStep: (lease: Lease, step: StepWrite) => Effect.Effect<void, StoreError | LeaseLostError>
    /** Record progress (fenced). */
    readonly progress: (lease: Lease, progress: Progress) => Effect.Effect<void, StoreError | LeaseLostError>
    /** Append a log entry (fenced). */
    readonly log: (lease: Lease, entry: LogWrite) => Effect.Effect<void, StoreError | LeaseLostError>
    /**
     * Mark the run completed with its encoded output (fenced, lease must be live).
     * Nothing is read back: the holder knows the run, and `getRun` gives it whole.
     */
    readonly complete: (
      lease: Lease,
      output: unknown,
      options: TerminalOptions
    ) => Effect.Effect<void, StoreError | LeaseLostError>
    /** Mark the run failed (fenced, lease must be live). */
    readonly fail: (
      lease: Lease,
      error: string,
      options: TerminalOptions
    ) => Effect.Effect<void, StoreError | LeaseLostError>
    /** Give up a lease without finishing, so any worker can resume the run at once. */
    readonly release: (lease: Lease) => Effect.Effect<void, StoreError>
    /** pending | leased → cancelled, atomically; terminal runs are a `ConflictError`. */
    readonly cancel: (
      runId: string,
      options: TerminalOptions
    ) => Effect.Effect<Run, StoreError | NotFoundError | ConflictError | CorruptRowError>
    /** failed | cancelled → pending, same id, `attempt` kept. */
    readonly retry: (
      runId: string
    ) => Effect.Effect<Run, StoreError | NotFoundError | ConflictError | CorruptRowError>
    /** Delete a run that is not leased, with its steps, logs and labels; returns its job name and labels. */
    readonly deleteRun: (
      runId: string
    ) => Effect.Effect<{ readonly jobName: string; readonly labels: Labels }, StoreError | NotFoundError | ConflictError>
    /** Delete terminal runs completed before `olderThan`; returns how many. */
    readonly purge: (options: PurgeOptions) => Effect.Effect<number, StoreError>
    /** Return runs whose lease expired to `pending`; returns how many. */
    readonly releaseExpired: Effect.Effect<number, StoreError>
    readonly getRun: (runId: string) => Effect.Effect<Run, StoreError | NotFoundError | CorruptRowError>
    /** Runs matching the filter, newest first (ties broken by id). */
    readonly getRuns: (filter?: RunFilter) => Effect.Effect<ReadonlyArray<Run>, StoreError | CorruptRowError>
    /** Steps of a run in execution order. */
    readonly getSteps: (runId: string) => Effect.Effect<ReadonlyArray<StepRecord>, StoreError | CorruptRowError>
    readonly getLogs: (runId: string) => Effect.Effect<ReadonlyArray<LogEntry>, StoreError | CorruptRowError>
  }
>() {}
