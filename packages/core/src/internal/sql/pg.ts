// Every statement the store runs on PostgreSQL. `SqlClient` runs them as they
// are (`unsafe`, positional parameters) and `PreparedSql` as named prepared
// statements, the same text under one name. Each write is one statement, so
// a round trip: the step write extends the lease in a CTE, the terminal write
// deletes the step outputs in another.
import { builders } from "./build.js"
import type { Dialect } from "./dialect.js"
import * as Shared from "./shared.js"
import { compile, returning } from "./statement.js"

const pg = (name: string, named: string) => compile("$", name, named)

// The parameters a plain `SELECT` list takes get no type from a column, hence the casts.
const persistStep = `WITH heartbeat AS (
      UPDATE durably_runs SET ${Shared.heartbeat("@now")}
      WHERE ${Shared.fence}
      RETURNING id, attempt
    )
    INSERT INTO durably_steps (${Shared.stepColumns})
    SELECT id, @name, CAST(@index AS INTEGER), ${Shared.stepAttempt("@status")}, @status, @output, @error,
      CAST(@startedAt AS BIGINT), CAST(@now AS BIGINT)
    FROM heartbeat
    RETURNING run_id`

const finishCleaning = `WITH done AS (${returning(Shared.named.finish)}),
      cleanup AS (${Shared.deleteStepOutputs("IN (SELECT id FROM done)")})
    SELECT * FROM done`

/**
 * The advisory lock of an enqueue that joined its caller's transaction, in the
 * two-int key space (apart from the claim's per-key locks): held shared until
 * that transaction ends.
 */
const enqueueLock = `hashtext('durably:enqueue'), hashtext(@runId)`

/** How `committed` learns that the transaction an enqueue joined has ended. */
export const joined = {
  /** Taken inside the transaction. */
  lock: pg("joinLock", `SELECT pg_advisory_xact_lock_shared(${enqueueLock})`),
  /** Run by itself: true once the transaction ended (its autocommit transaction then releases the lock at once). */
  ended: pg("joinEnded", `SELECT pg_try_advisory_xact_lock(${enqueueLock}) AS ended`)
}

export const dialect: Dialect = {
  name: "pg",
  ...builders("$"),
  insertRun: pg("insertRun", returning(Shared.named.insertRun)),
  runByIdempotencyKey: pg("runByIdempotencyKey", Shared.named.runByIdempotencyKey),
  pendingWithKey: pg("pendingWithKey", Shared.named.pendingWithKey),
  coalesceLock: pg("coalesceLock", `SELECT pg_advisory_xact_lock(hashtext('durably:coalesce'), hashtext(@concurrencyKey))`),
  // The `durably_claim` function of migration 7: one round trip.
  claim: pg("claim", `SELECT * FROM durably_claim(@workerId, @now, @leaseMs, CAST(@jobs AS TEXT[]))`),
  jobs: (jobNames) => [...jobNames],
  failCorruptClaim: pg("failCorruptClaim", Shared.named.failCorruptClaim),
  renew: pg("renew", returning(Shared.named.renew)),
  persistStep: pg("persistStep", persistStep),
  progress: pg("progress", returning(Shared.named.progress)),
  log: pg("log", returning(Shared.named.log, "run_id")),
  finish: pg("finish", returning(Shared.named.finish)),
  finishCleaning: pg("finishCleaning", finishCleaning),
  deleteStepOutputs: pg("deleteStepOutputs", Shared.named.deleteStepOutputs),
  release: pg("release", Shared.named.release),
  cancel: pg("cancel", Shared.named.cancel),
  retry: pg("retry", Shared.named.retry),
  statusOf: pg("statusOf", Shared.named.statusOf),
  deleteRun: pg("deleteRun", Shared.named.deleteRun),
  purge: pg("purge", Shared.named.purge),
  releaseExpired: pg("releaseExpired", Shared.named.releaseExpired),
  runById: pg("runById", Shared.named.runById),
  stepsOf: pg("stepsOf", Shared.named.stepsOf),
  logsOf: pg("logsOf", Shared.named.logsOf)
}
