// What each dialect module gives the store: every statement it runs, compiled
// to the dialect's placeholders. Statements that tell whether they matched
// return the matched ids (`RETURNING`), since an executor gives back rows only.
import type { NewRun, RunQuery } from "./shared.js"
import type { Bound, Statement } from "./statement.js"

export interface Dialect {
  readonly name: "sqlite" | "pg"
  /** One run, unless its idempotency key is taken; returns its id when inserted. */
  readonly insertRun: Statement
  /** Runs without idempotency keys, in one statement. */
  readonly insertRuns: (runs: ReadonlyArray<NewRun>, now: number) => Bound
  readonly insertLabels: (runId: string, entries: ReadonlyArray<readonly [string, string]>) => Bound
  readonly runByIdempotencyKey: Statement
  readonly pendingWithKey: Statement
  /**
   * Serialises coalescing enqueues of one concurrency key until their
   * transactions end, where a write transaction does not already (PostgreSQL).
   */
  readonly coalesceLock: Statement | undefined
  /** Leases the oldest claimable run of the jobs `@jobs` (see `jobs`); returns its row. */
  readonly claim: Statement
  /** The `@jobs` parameter of `claim`. */
  readonly jobs: (jobNames: ReadonlyArray<string>) => unknown
  readonly failCorruptClaim: Statement
  readonly renew: Statement
  /** A step write, which also extends the lease to `@now` plus the run's lease duration. */
  readonly persistStep: Statement
  readonly progress: Statement
  readonly log: Statement
  readonly finish: Statement
  /** `finish` and, once it matched, the run's completed steps deleted, in one statement; or none. */
  readonly finishCleaning: Statement | undefined
  readonly deleteStepOutputs: Statement
  readonly release: Statement
  readonly cancel: Statement
  readonly retry: Statement
  readonly statusOf: Statement
  readonly deleteRun: Statement
  /** Deletes the steps, logs and labels of the runs given, one statement per table. */
  readonly deleteDependents: (runIds: ReadonlyArray<string>) => ReadonlyArray<Bound>
  readonly purge: Statement
  readonly releaseExpired: Statement
  readonly runById: Statement
  readonly getRuns: (query: RunQuery) => Bound
  readonly stepsOf: Statement
  readonly logsOf: Statement
}
