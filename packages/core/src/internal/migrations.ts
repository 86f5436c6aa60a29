// Versioned schema migrations, recorded in `durably_schema_versions` by
// @effect/sql's migrator. Safe when several processes migrate one empty
// database at once: PostgreSQL serialises them with an advisory lock around
// creating the versions table (the migrator's own LOCK TABLE then serialises
// the rest); SQLite runs the whole migrator inside one BEGIN IMMEDIATE.
import { Migrator, SqlClient } from "@effect/sql"
import { Effect } from "effect"
import { claimable, finished, heartbeat, keyBlocks, leaseTo, unfinished } from "./sql/shared.js"
import { writeTransaction } from "./transaction.js"

export const versionsTable = "durably_schema_versions"

/** The columns of `durably_runs` (migration 1; migration 4 rebuilds the table with them). */
const runColumns = `
      id TEXT PRIMARY KEY NOT NULL,
      job_name TEXT NOT NULL,
      input TEXT NOT NULL,
      status TEXT NOT NULL,
      idempotency_key TEXT,
      concurrency_key TEXT,
      labels TEXT NOT NULL DEFAULT '{}',
      progress TEXT,
      output TEXT,
      error TEXT,
      lease_owner TEXT,
      lease_expires_at BIGINT,
      lease_ms BIGINT,
      lease_generation INTEGER NOT NULL DEFAULT 0,
      attempt INTEGER NOT NULL DEFAULT 0,
      started_at BIGINT,
      completed_at BIGINT,
      created_at BIGINT NOT NULL,
      updated_at BIGINT NOT NULL
    `

/** The indexes of `durably_runs` besides the idempotency index. */
const runIndexes = [
  // Claim order: the claimable runs only, walked by id.
  `CREATE INDEX durably_runs_claimable ON durably_runs (id) WHERE ${unfinished}`,
  // The live-lease / trigger-order check per concurrency key.
  `CREATE INDEX durably_runs_concurrency ON durably_runs (concurrency_key, id)
      WHERE concurrency_key IS NOT NULL AND ${unfinished}`,
  `CREATE INDEX durably_runs_status ON durably_runs (status, id)`,
  `CREATE INDEX durably_runs_job ON durably_runs (job_name, id)`,
  `CREATE INDEX durably_runs_completed ON durably_runs (completed_at) WHERE completed_at IS NOT NULL`
]

const createTables = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const logId = sql.onDialectOrElse({
    pg: () => "id BIGSERIAL PRIMARY KEY",
    orElse: () => "id INTEGER PRIMARY KEY"
  })
  const statements = [
    `CREATE TABLE durably_runs (${runColumns})`,
    `CREATE UNIQUE INDEX durably_runs_idempotency ON durably_runs (job_name, idempotency_key)`,
    ...runIndexes,
    `CREATE TABLE durably_run_labels (
      run_id TEXT NOT NULL,
      key TEXT NOT NULL,
      value TEXT NOT NULL,
      PRIMARY KEY (run_id, key)
    )`,
    `CREATE INDEX durably_run_labels_lookup ON durably_run_labels (key, value, run_id)`,
    `CREATE TABLE durably_steps (
      run_id TEXT NOT NULL,
      name TEXT NOT NULL,
      "index" INTEGER NOT NULL,
      status TEXT NOT NULL,
      output TEXT,
      error TEXT,
      started_at BIGINT NOT NULL,
      completed_at BIGINT NOT NULL
    )`,
    `CREATE INDEX durably_steps_run ON durably_steps (run_id, "index")`,
    `CREATE UNIQUE INDEX durably_steps_completed ON durably_steps (run_id, name) WHERE status = 'completed'`,
    `CREATE TABLE durably_logs (
      ${logId},
      run_id TEXT NOT NULL,
      step_name TEXT,
      level TEXT NOT NULL,
      message TEXT NOT NULL,
      data TEXT,
      created_at BIGINT NOT NULL
    )`,
    `CREATE INDEX durably_logs_run ON durably_logs (run_id, id)`
  ]
  for (const statement of statements) yield* sql.unsafe(statement)
})

// A step write is the lease heartbeat, in one statement. PostgreSQL does it
// with a data-modifying CTE in the statement itself; SQLite has none, so a
// trigger extends the lease of the run the fenced INSERT … SELECT just matched.
const createLeaseHeartbeat = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql.onDialectOrElse({
    pg: () => Effect.void,
    orElse: () => sql.unsafe(heartbeatTrigger)
  })
})

const heartbeatTrigger = `CREATE TRIGGER durably_steps_heartbeat AFTER INSERT ON durably_steps
        BEGIN
          UPDATE durably_runs SET ${heartbeat("NEW.completed_at")}
          WHERE id = NEW.run_id AND status = 'leased';
        END`

const partialIdempotencyIndex = `CREATE UNIQUE INDEX durably_runs_idempotency ON durably_runs (job_name, idempotency_key)
      WHERE idempotency_key IS NOT NULL`

// Fewer B-trees per trigger and per lease write. Most runs carry no idempotency
// key, so its unique index becomes partial and they skip it. On SQLite the
// table becomes WITHOUT ROWID: a rowid table keyed by TEXT keeps the rows and
// the key in two B-trees, and every write by id walked both. Measured on raw
// better-sqlite3, sequential autocommit inserts: 70-81 µs before, 43-48 µs after.
// The rebuild follows SQLite's procedure for changing a table: drop the trigger
// that names it, copy into a new table, drop the old one, rename, and recreate
// the indexes and the trigger.
const leanRunIndexes = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const statements = sql.onDialectOrElse({
    pg: () => [`DROP INDEX durably_runs_idempotency`, partialIdempotencyIndex],
    orElse: () => [
      `DROP TRIGGER durably_steps_heartbeat`,
      `CREATE TABLE durably_runs_rebuilt (${runColumns}) WITHOUT ROWID`,
      `INSERT INTO durably_runs_rebuilt SELECT * FROM durably_runs`,
      `DROP TABLE durably_runs`,
      `ALTER TABLE durably_runs_rebuilt RENAME TO durably_runs`,
      partialIdempotencyIndex,
      ...runIndexes,
      heartbeatTrigger
    ]
  })
  for (const statement of statements) yield* sql.unsafe(statement)
})

// PostgreSQL claim, one round trip. A candidate must be the oldest unfinished
// run of its concurrency key (trigger order), so two claimers never aim at
// different runs of one key. The key's advisory lock is only *tried*: a claimer
// never waits on a key while it holds another one, so claims cannot deadlock.
// Each statement in a VOLATILE plpgsql function takes a fresh snapshot, so the
// re-check after the lock sees every claim committed since the candidate select.
// With `byJob` (migration 7) it takes only runs of the jobs `p_jobs`; an older
// unfinished run of another job still holds its key. Its candidate select must
// walk the claimable index in id order and stop at the first hit; so the
// function plans without sorting (`SET enable_sort = off`, for its own
// statements only). Left to itself, on a table without statistics the planner
// took the job index (which holds every finished run too) or a bitmap scan,
// and sorted every run of the job on each claim: 0.16 → 0.40 ms per claim over
// a 300-run drain, growing with the table.
const pgClaimFunction = (byJob: boolean) => `CREATE FUNCTION durably_claim(
          p_worker TEXT, p_now BIGINT, p_lease_ms BIGINT${byJob ? ", p_jobs TEXT[]" : ""})
        RETURNS SETOF durably_runs LANGUAGE plpgsql VOLATILE${byJob ? "\n        SET enable_sort = off" : ""} AS $claim$
        DECLARE
          candidate RECORD;
          busy TEXT[] := '{}';
        BEGIN
          LOOP
            SELECT r.id, r.concurrency_key INTO candidate FROM durably_runs r
            WHERE ${claimable("r", "p_now")}${byJob ? "\n              AND r.job_name = ANY (p_jobs)" : ""}
              AND (r.concurrency_key IS NULL OR (
                NOT (r.concurrency_key = ANY (busy))
                AND NOT EXISTS (${keyBlocks("r", "p_now")})
              ))
            ORDER BY r.id
            LIMIT 1
            FOR UPDATE SKIP LOCKED;
            IF NOT FOUND THEN
              RETURN;
            END IF;
            IF candidate.concurrency_key IS NOT NULL THEN
              IF NOT pg_try_advisory_xact_lock(hashtext(candidate.concurrency_key))
                OR EXISTS (${keyBlocks("candidate", "p_now")}) THEN
                busy := busy || candidate.concurrency_key;
                CONTINUE;
              END IF;
            END IF;
            RETURN QUERY UPDATE durably_runs SET ${leaseTo("p_worker", "p_now", "p_lease_ms")}
            WHERE id = candidate.id
            RETURNING *;
            RETURN;
          END LOOP;
        END
        $claim$`

const createPgClaim = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql.onDialectOrElse({
    pg: () => sql.unsafe(pgClaimFunction(false)),
    orElse: () => Effect.void
  })
})

// On SQLite the step table becomes one B-tree: WITHOUT ROWID, keyed by
// (run_id, name, attempt), instead of a rowid table with two indexes, so a step
// write touches one B-tree instead of three. Measured on raw better-sqlite3, a
// 10-step run's statements (claim, ten step writes, completion) took 380-500 µs
// before and 230-320 µs after. `attempt` is the run's attempt (claim) that
// wrote a failed or cancelled step, and 0 on a completed one: so the key keeps
// what the partial unique index kept, one completed step per (run_id, name),
// while a step's failures in successive attempts stay apart. Rows from before
// get -1, -2, … (the latest first) on failures, never a real attempt (1 and up).
// PostgreSQL, whose tables are heaps anyway, only gains the column.
const leanSteps = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const statements = sql.onDialectOrElse({
    pg: () => [`ALTER TABLE durably_steps ADD COLUMN attempt INTEGER NOT NULL DEFAULT 0`],
    orElse: () => [
      `DROP TRIGGER durably_steps_heartbeat`,
      `CREATE TABLE durably_steps_rebuilt (
        run_id TEXT NOT NULL,
        name TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        "index" INTEGER NOT NULL,
        status TEXT NOT NULL,
        output TEXT,
        error TEXT,
        started_at BIGINT NOT NULL,
        completed_at BIGINT NOT NULL,
        PRIMARY KEY (run_id, name, attempt)
      ) WITHOUT ROWID`,
      `INSERT INTO durably_steps_rebuilt (run_id, name, attempt, "index", status, output, error, started_at, completed_at)
        SELECT run_id, name,
          CASE WHEN status = 'completed' THEN 0
            ELSE -ROW_NUMBER() OVER (
              PARTITION BY run_id, name, status = 'completed' ORDER BY completed_at DESC, rowid DESC
            ) END,
          "index", status, output, error, started_at, completed_at
        FROM durably_steps`,
      `DROP TABLE durably_steps`,
      `ALTER TABLE durably_steps_rebuilt RENAME TO durably_steps`,
      heartbeatTrigger
    ]
  })
  for (const statement of statements) yield* sql.unsafe(statement)
})

// On SQLite the status index keeps finished runs only. Pending and leased runs
// are found through the claimable index (queries for them repeat its condition,
// `unfinished`), so a trigger writes one B-tree less and a claim none of the
// status index. Measured through the facade, 2,000 sequential triggers on disk,
// 9 alternating runs: median 293 ms before, 269 ms after.
const finishedStatusIndex = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const statements = sql.onDialectOrElse({
    pg: () => [],
    orElse: () => [
      `DROP INDEX durably_runs_status`,
      `CREATE INDEX durably_runs_status ON durably_runs (status, id) WHERE ${finished}`
    ]
  })
  for (const statement of statements) yield* sql.unsafe(statement)
})

// A worker claims only runs of the jobs it has, so a run of a job no worker
// of that kind serves waits for one instead of failing as unknown.
const pgClaimByJob = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const statements = sql.onDialectOrElse({
    pg: () => [`DROP FUNCTION durably_claim(TEXT, BIGINT, BIGINT)`, pgClaimFunction(true)],
    orElse: () => []
  })
  for (const statement of statements) yield* sql.unsafe(statement)
})

/** Every migration, by id and name. */
export const migrations = {
  "1_create_tables": createTables,
  "2_lease_heartbeat": createLeaseHeartbeat,
  "3_pg_claim": createPgClaim,
  "4_lean_run_indexes": leanRunIndexes,
  "5_lean_steps": leanSteps,
  "6_finished_status_index": finishedStatusIndex,
  "7_pg_claim_by_job": pgClaimByJob
}

const loader = Migrator.fromRecord(migrations)

const runMigrator = Migrator.make({})({ loader, table: versionsTable })

/** Applies every pending migration; concurrent callers wait for one another. */
export const migrate = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql.onDialectOrElse({
    pg: () =>
      Effect.zipRight(
        sql.withTransaction(
          Effect.zipRight(
            sql`SELECT pg_advisory_xact_lock(hashtext('durably:migrations'))`,
            sql.unsafe(`CREATE TABLE IF NOT EXISTS ${versionsTable} (
              migration_id integer PRIMARY KEY,
              created_at timestamp with time zone NOT NULL DEFAULT now(),
              name text NOT NULL
            )`)
          )
        ),
        runMigrator
      ),
    orElse: () => writeTransaction(sql)(runMigrator)
  })
})
