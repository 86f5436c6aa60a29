// The statements both dialects run alike, written once with named parameters
// (`@name`); `sqlite.ts` and `pg.ts` compile them to their placeholders, and
// the migrations take the fragments that name the indexes from here.
import { terminalStatuses } from "../../Run.js"

const quoted = (values: ReadonlyArray<string>) => values.map((value) => `'${value}'`).join(", ")

/**
 * The conditions of the claimable index and of the status index (SQLite). A
 * query for pending or leased runs repeats the first, one for finished runs the
 * second: SQLite uses a partial index only when the query states its condition.
 */
export const unfinishedStatuses: ReadonlyArray<string> = ["pending", "leased"]
export const unfinished = `status IN (${quoted(unfinishedStatuses)})`
export const finished = `NOT (${unfinished})`
const terminal = `status IN (${quoted(terminalStatuses)})`

/**
 * The conflict target of an insert that may carry an idempotency key; it names
 * the partial unique index of migration 4.
 */
export const idempotencyConflict = "ON CONFLICT (job_name, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING"

/**
 * "Another run holds or precedes `alias`'s concurrency key": a live lease on
 * the key, or an older unfinished run with it, of any job (trigger order).
 */
export const keyBlocks = (alias: string, now: string): string =>
  `SELECT 1 FROM durably_runs o
    WHERE o.concurrency_key = ${alias}.concurrency_key
      AND o.status IN (${quoted(unfinishedStatuses)})
      AND o.id <> ${alias}.id
      AND (o.id < ${alias}.id OR (o.status = 'leased' AND o.lease_expires_at > ${now}))`

/** Whether the run `alias` can be claimed at `now`: pending, or leased with an expired lease. */
export const claimable = (alias: string, now: string): string =>
  `${alias}.status IN (${quoted(unfinishedStatuses)})
        AND (${alias}.status = 'pending' OR ${alias}.lease_expires_at <= ${now})`

/** What a claim sets: a new lease for `worker` from `now`, the next generation and attempt. */
export const leaseTo = (worker: string, now: string, leaseMs: string): string =>
  `status = 'leased',
        lease_owner = ${worker},
        lease_expires_at = ${now} + ${leaseMs},
        lease_ms = ${leaseMs},
        lease_generation = lease_generation + 1,
        attempt = attempt + 1,
        started_at = COALESCE(started_at, ${now}),
        updated_at = ${now}`

/**
 * The `attempt` of a step row written by an `INSERT … SELECT` from the run
 * (migration 5): 0 for a completed step, the run's attempt otherwise.
 */
export const stepAttempt = (status: string): string => `CASE WHEN ${status} = 'completed' THEN 0 ELSE attempt END`

/** The columns a step write fills, in the order its `SELECT` gives them. */
export const stepColumns = `run_id, name, "index", attempt, status, output, error, started_at, completed_at`

/** A lease holder's write matches its run only while it holds the lease it was given. */
export const fence = `id = @runId AND status = 'leased' AND lease_generation = @generation`
/** `fence`, and the lease has not expired: a write that extends or ends it. */
const fenceLive = `${fence} AND lease_expires_at > @now`

/** A step write's heartbeat: the lease extended from `now` by the duration it was claimed or renewed with. */
export const heartbeat = (now: string): string => `lease_expires_at = ${now} + lease_ms, updated_at = ${now}`

const noLease = `lease_owner = NULL, lease_expires_at = NULL`
const backToPending = `status = 'pending', ${noLease}, updated_at = @now`

/** Completed steps hold the outputs; failed-step records stay as history. `runs` selects the run ids. */
export const deleteStepOutputs = (runs: string): string =>
  `DELETE FROM durably_steps WHERE status = 'completed' AND run_id ${runs}`

const list = (prefix: string, count: number) => Array.from({ length: count }, (_, i) => `@${prefix}${i}`).join(", ")

/** The values of one new run, as the enqueue gives them. */
export interface NewRun {
  readonly id: string
  readonly jobName: string
  readonly input: string
  readonly idempotencyKey: string | null
  readonly concurrencyKey: string | null
  readonly labels: string
}

const runValueNames = ["id", "jobName", "input", "idempotencyKey", "concurrencyKey", "labels"] as const

/** A multi-row insert of `count` new runs: the parameters of row `i` end in `i`; `@now` is shared. */
export const insertRuns = (count: number): string =>
  `INSERT INTO durably_runs
      (id, job_name, input, status, idempotency_key, concurrency_key, labels, created_at, updated_at)
    VALUES ${Array.from(
      { length: count },
      (_, i) => `(@id${i}, @jobName${i}, @input${i}, 'pending', @idempotencyKey${i}, @concurrencyKey${i}, @labels${i}, @now, @now)`
    ).join(",\n      ")}`

/** The named values of `insertRuns(1)` (and of `named.insertRun`): written out, since every enqueue makes them. */
export const insertRunValues = (run: NewRun, now: number): Record<string, unknown> => ({
  id0: run.id,
  jobName0: run.jobName,
  input0: run.input,
  idempotencyKey0: run.idempotencyKey,
  concurrencyKey0: run.concurrencyKey,
  labels0: run.labels,
  now
})

/** The named values of `insertRuns(runs.length)`. */
export const insertRunsValues = (runs: ReadonlyArray<NewRun>, now: number): Record<string, unknown> => {
  const values: Record<string, unknown> = { now }
  runs.forEach((run, i) => {
    for (const name of runValueNames) values[`${name}${i}`] = run[name]
  })
  return values
}

/** A multi-row insert of `count` labels of the run `@runId`. */
export const insertLabels = (count: number): string =>
  `INSERT INTO durably_run_labels (run_id, key, value) VALUES ${Array.from(
    { length: count },
    (_, i) => `(@runId, @key${i}, @value${i})`
  ).join(", ")}`

/** The named values of `insertLabels(entries.length)`. */
export const insertLabelsValues = (runId: string, entries: ReadonlyArray<readonly [string, string]>) => {
  const values: Record<string, unknown> = { runId }
  entries.forEach(([key, value], i) => {
    values[`key${i}`] = key
    values[`value${i}`] = value
  })
  return values
}

/** The tables that hold rows of a run besides its own. */
export const dependentTables = ["durably_steps", "durably_logs", "durably_run_labels"] as const

/** Deletes the rows of `table` that belong to `count` runs `@runId0`, `@runId1`, …. */
export const deleteDependents = (table: (typeof dependentTables)[number], count: number): string =>
  `DELETE FROM ${table} WHERE run_id IN (${list("runId", count)})`

/** What `getRuns` filters by, each list possibly empty. */
export interface RunQuery {
  readonly statuses: ReadonlyArray<string>
  readonly jobNames: ReadonlyArray<string>
  readonly labels: ReadonlyArray<readonly [string, string]>
  readonly limit: number
  readonly offset: number
}

/**
 * The condition that lets SQLite serve a status filter from a partial index:
 * pending and leased runs are in the claimable index, finished ones in the
 * status index (a filter mixing both kinds uses neither).
 */
const partialIndexCondition = (statuses: ReadonlyArray<string>): ReadonlyArray<string> => {
  const unfinishedOnes = statuses.filter((status) => unfinishedStatuses.includes(status)).length
  if (statuses.length === 0 || (unfinishedOnes > 0 && unfinishedOnes < statuses.length)) return []
  return [unfinishedOnes > 0 ? unfinished : finished]
}

/** The runs matching `query`, newest first: the text and its named values. */
export const getRuns = (query: RunQuery): { readonly named: string; readonly values: Record<string, unknown> } => {
  const values: Record<string, unknown> = { limit: query.limit, offset: query.offset }
  query.statuses.forEach((status, i) => (values[`status${i}`] = status))
  query.jobNames.forEach((jobName, i) => (values[`jobName${i}`] = jobName))
  query.labels.forEach(([key, value], i) => {
    values[`labelKey${i}`] = key
    values[`labelValue${i}`] = value
  })
  const conditions = [
    ...(query.statuses.length > 0 ? [`status IN (${list("status", query.statuses.length)})`] : []),
    ...partialIndexCondition(query.statuses),
    ...(query.jobNames.length > 0 ? [`job_name IN (${list("jobName", query.jobNames.length)})`] : []),
    ...query.labels.map(
      (_, i) => `id IN (SELECT run_id FROM durably_run_labels WHERE key = @labelKey${i} AND value = @labelValue${i})`
    )
  ]
  const where = conditions.length > 0 ? `WHERE ${conditions.join(" AND ")}` : ""
  return {
    named: `SELECT * FROM durably_runs ${where}
    ORDER BY id DESC
    LIMIT @limit OFFSET @offset`,
    values
  }
}

/** The fixed statements both dialects run as they are. */
export const named = {
  /** One run, unless its idempotency key is taken (values: `insertRunValues`). */
  insertRun: `${insertRuns(1)}
    ${idempotencyConflict}`,
  runByIdempotencyKey: `SELECT * FROM durably_runs WHERE job_name = @jobName AND idempotency_key = @idempotencyKey`,
  pendingWithKey: `SELECT * FROM durably_runs
    WHERE concurrency_key = @concurrencyKey AND status = 'pending' AND ${unfinished}
    ORDER BY id LIMIT 1`,
  /** A claimed row that cannot be decoded is failed at once, so it never blocks the queue. */
  failCorruptClaim: `UPDATE durably_runs SET status = 'failed', error = @error,
      completed_at = @now, updated_at = @now, ${noLease}
    WHERE id = @runId AND lease_generation = @generation`,
  renew: `UPDATE durably_runs SET lease_expires_at = @expiresAt, lease_ms = @leaseMs, updated_at = @now
    WHERE ${fenceLive}`,
  progress: `UPDATE durably_runs SET progress = @progress, updated_at = @now WHERE ${fence}`,
  log: `INSERT INTO durably_logs (run_id, step_name, level, message, data, created_at)
    SELECT id, @stepName, @level, @message, @data, CAST(@now AS BIGINT)
    FROM durably_runs WHERE ${fence}`,
  finish: `UPDATE durably_runs SET status = @status, output = @output, error = @error,
      completed_at = @now, updated_at = @now, ${noLease}
    WHERE ${fenceLive}`,
  deleteStepOutputs: deleteStepOutputs("= @runId"),
  release: `UPDATE durably_runs SET ${backToPending} WHERE ${fence}`,
  cancel: `UPDATE durably_runs SET status = 'cancelled', completed_at = @now, updated_at = @now, ${noLease}
    WHERE id = @runId AND ${unfinished}
    RETURNING *`,
  retry: `UPDATE durably_runs SET status = 'pending', output = NULL, error = NULL,
      completed_at = NULL, ${noLease}, updated_at = @now
    WHERE id = @runId AND status IN ('failed', 'cancelled')
    RETURNING *`,
  statusOf: `SELECT status FROM durably_runs WHERE id = @runId`,
  deleteRun: `DELETE FROM durably_runs WHERE id = @runId AND status <> 'leased' RETURNING job_name, labels`,
  purge: `DELETE FROM durably_runs WHERE id IN (
      SELECT id FROM durably_runs
      WHERE ${terminal} AND completed_at < @olderThan
      ORDER BY completed_at
      LIMIT @limit
    )
    RETURNING id`,
  releaseExpired: `UPDATE durably_runs SET ${backToPending}
    WHERE status = 'leased' AND ${unfinished} AND lease_expires_at <= @expiredBy
    RETURNING id`,
  runById: `SELECT * FROM durably_runs WHERE id = @runId`,
  stepsOf: `SELECT * FROM durably_steps WHERE run_id = @runId ORDER BY "index", completed_at, status = 'completed', attempt`,
  logsOf: `SELECT * FROM durably_logs WHERE run_id = @runId ORDER BY id`
} as const
