// Every statement the store runs on SQLite. `SqlClient` runs them as they are
// (`unsafe`, positional parameters); the synchronous path on the connection
// (`store/sqliteDirect.ts`) runs the same texts, and for the writes it only
// counts the matched rows with `counted`, their text without `RETURNING`
// (which costs SQLite more than a small write itself).
import { builders } from "./build.js"
import type { Dialect } from "./dialect.js"
import * as Shared from "./shared.js"
import { compile, returning } from "./statement.js"

const sqlite = (name: string, named: string) => compile("?", name, named)

// A step write is the heartbeat: the trigger of migration 2 extends the lease of the run it was fenced by.
const persistStep = `INSERT INTO durably_steps (${Shared.stepColumns})
    SELECT id, @name, @index, ${Shared.stepAttempt("@status")}, @status, @output, @error, @startedAt, @now
    FROM durably_runs WHERE ${Shared.fence}`

// One statement: SQLite takes the write lock before evaluating it, so the
// selection and the update are atomic across processes. The claimable index is
// named: left to itself the planner walks the status index and sorts every
// pending run, so a claim would slow down as the queue grows.
const claim = `UPDATE durably_runs SET ${Shared.leaseTo("@workerId", "@now", "@leaseMs")}
      WHERE id = (
        SELECT r.id FROM durably_runs r INDEXED BY durably_runs_claimable
        WHERE ${Shared.claimable("r", "@now")}
          AND r.job_name IN (SELECT value FROM json_each(@jobs))
          AND (r.concurrency_key IS NULL OR NOT EXISTS (${Shared.keyBlocks("r", "@now")}))
        ORDER BY r.id
        LIMIT 1
      )
      RETURNING *`

/** The writes whose matched rows the synchronous path counts instead of returning. */
const writes = {
  insertRun: Shared.named.insertRun,
  renew: Shared.named.renew,
  persistStep,
  progress: Shared.named.progress,
  log: Shared.named.log,
  finish: Shared.named.finish
}

/** `writes` without `RETURNING`, for the synchronous path. */
export const counted = {
  insertRun: sqlite("insertRun", writes.insertRun),
  renew: sqlite("renew", writes.renew),
  persistStep: sqlite("persistStep", writes.persistStep),
  progress: sqlite("progress", writes.progress),
  log: sqlite("log", writes.log),
  finish: sqlite("finish", writes.finish)
}

// A worker claims with one list until a job is registered: each list is serialised once, not per claim.
const jobsJson = new WeakMap<ReadonlyArray<string>, string>()

export const dialect: Dialect = {
  name: "sqlite",
  ...builders("?"),
  insertRun: sqlite("insertRun", returning(writes.insertRun)),
  runByIdempotencyKey: sqlite("runByIdempotencyKey", Shared.named.runByIdempotencyKey),
  pendingWithKey: sqlite("pendingWithKey", Shared.named.pendingWithKey),
  // Enqueues that coalesce run in a write transaction (`BEGIN IMMEDIATE`), which serialises them already.
  coalesceLock: undefined,
  claim: sqlite("claim", claim),
  jobs: (jobNames) => {
    let json = jobsJson.get(jobNames)
    if (json === undefined) jobsJson.set(jobNames, (json = JSON.stringify(jobNames)))
    return json
  },
  failCorruptClaim: sqlite("failCorruptClaim", Shared.named.failCorruptClaim),
  renew: sqlite("renew", returning(writes.renew)),
  persistStep: sqlite("persistStep", returning(writes.persistStep, "run_id")),
  progress: sqlite("progress", returning(writes.progress)),
  log: sqlite("log", returning(writes.log, "run_id")),
  finish: sqlite("finish", returning(writes.finish)),
  // SQLite has no data-modifying CTE: the cleanup is a second statement in the same transaction.
  finishCleaning: undefined,
  deleteStepOutputs: sqlite("deleteStepOutputs", Shared.named.deleteStepOutputs),
  release: sqlite("release", Shared.named.release),
  cancel: sqlite("cancel", Shared.named.cancel),
  retry: sqlite("retry", Shared.named.retry),
  statusOf: sqlite("statusOf", Shared.named.statusOf),
  deleteRun: sqlite("deleteRun", Shared.named.deleteRun),
  purge: sqlite("purge", Shared.named.purge),
  releaseExpired: sqlite("releaseExpired", Shared.named.releaseExpired),
  runById: sqlite("runById", Shared.named.runById),
  stepsOf: sqlite("stepsOf", Shared.named.stepsOf),
  logsOf: sqlite("logsOf", Shared.named.logsOf)
}
