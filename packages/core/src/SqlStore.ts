/**
 * `Store` over `@effect/sql`'s `SqlClient`, for SQLite and PostgreSQL.
 *
 * Cost per hot-path operation (statements sent by the client):
 * - claim: 1 (SQLite: one `UPDATE … WHERE id = (SELECT …) RETURNING`;
 *   PostgreSQL: one call of the `durably_claim` function, which locks with
 *   `FOR UPDATE SKIP LOCKED` and an advisory lock per concurrency key)
 * - persistStep: 1 fenced `INSERT … SELECT` that also extends the lease
 * - complete / fail: 1 fenced `UPDATE` (+ the step cleanup: in the same
 *   statement on PostgreSQL, in the same transaction on SQLite)
 *
 * The hot statements skip `SqlClient`'s per-statement cost when the client
 * layer offers a faster door: `SyncSqlite` (prepared statements on SQLite's
 * connection, `internal/sqliteDirect.ts`) or `PreparedSql` (named prepared
 * statements on PostgreSQL, `internal/pgHot.ts`).
 *
 * @since 0.1.0
 */
import { SqlClient } from "@effect/sql"
import type { SqlError } from "@effect/sql/SqlError"
import { Clock, Effect, Layer, Option } from "effect"
import { ConflictError, CorruptRowError, NotFoundError, StoreError } from "./DurablyError.js"
import { decodeLabels, decodeLog, decodeRun, decodeStep, toJson } from "./internal/rows.js"
import { finished, idempotencyConflict, keyBlocks, migrate, unfinished, unfinishedStatuses } from "./internal/migrations.js"
import { makeRunIdGenerator } from "./internal/runId.js"
import type { ClaimedRun, Finish } from "./internal/hotPath.js"
import { held, terminalWrites } from "./internal/hotPath.js"
import * as PgHot from "./internal/pgHot.js"
import * as SqliteDirect from "./internal/sqliteDirect.js"
import { storeErrors, writeTransaction } from "./internal/transaction.js"
import type { Run } from "./Run.js"
import { terminalStatuses } from "./Run.js"
import type { EnqueueRequest, Enqueued, Lease, LogWrite, RunFilter, StepWrite, TerminalOptions } from "./Store.js"
import { Store } from "./Store.js"
import { PreparedSql } from "./PreparedSql.js"
import { SyncSqlite } from "./SyncSqlite.js"

type Row = Record<string, unknown>

/** Rows per multi-row insert: 9 parameters each, well under PostgreSQL's 65,535. */
const plainChunk = 500

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

const asArray = <A>(value: A | ReadonlyArray<A> | undefined): ReadonlyArray<A> =>
  value === undefined ? [] : Array.isArray(value) ? (value as ReadonlyArray<A>) : [value as A]

/**
 * Builds the store. Requires a `SqlClient`; call `migrate` once before use.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const transaction = writeTransaction(sql)
  const nextId = yield* makeRunIdGenerator
  const isPg = sql.onDialectOrElse({ pg: () => true, orElse: () => false })
  /** How PostgreSQL's hot statements run: prepared when the client offers it. */
  const pgExecutor = Effect.map(
    Effect.serviceOption(PreparedSql),
    Option.match({
      onNone: (): PgHot.Execute => (_name, text, params) => sql.unsafe<Row>(text, params),
      onSome: (prepared): PgHot.Execute => prepared.query
    })
  )
  /** The SQLite claim's "key is busy" predicate; its one parameter is `now`. */
  const keyBlocksClaim = keyBlocks("r", "?")

  /** Succeeds when a fenced statement matched its row, fails with `LeaseLostError` otherwise. */
  const fenced = <E, R>(lease: Lease, statement: Effect.Effect<ReadonlyArray<Row>, E, R>) =>
    Effect.flatMap(statement, (rows) => held(lease, rows.length))

  const findRunRow = (runId: string) =>
    Effect.map(sql<Row>`SELECT * FROM durably_runs WHERE id = ${runId}`, (rows) => Option.fromNullable(rows[0]))

  const statusOf = (runId: string) =>
    Effect.map(sql<{ status: string }>`SELECT status FROM durably_runs WHERE id = ${runId}`, (rows) =>
      Option.map(Option.fromNullable(rows[0]), (row) => row.status)
    )

  /** After a conditional transition matched nothing: the run is missing, or in the wrong state. */
  const explainMiss = (runId: string, operation: string): Effect.Effect<never, SqlError | NotFoundError | ConflictError> =>
    Effect.flatMap(statusOf(runId), (status): Effect.Effect<never, NotFoundError | ConflictError> =>
      Option.isNone(status)
        ? Effect.fail(new NotFoundError({ entity: "run", id: runId }))
        : Effect.fail(new ConflictError({ runId, operation, status: status.value }))
    )

  /** Terminal cleanup: completed steps hold the outputs; failed-step records stay as history. */
  const deleteStepOutputs = (runId: string) =>
    sql`DELETE FROM durably_steps WHERE run_id = ${runId} AND status = 'completed'`

  // --- enqueue ---------------------------------------------------------------

  const insertRun = (request: EnqueueRequest, id: string, inputJson: string, now: number) =>
    sql<{ id: string }>`INSERT INTO durably_runs
      (id, job_name, input, status, idempotency_key, concurrency_key, labels, created_at, updated_at)
      VALUES (${id}, ${request.jobName}, ${inputJson}, 'pending',
        ${request.idempotencyKey ?? null}, ${request.concurrencyKey ?? null}, ${JSON.stringify(request.labels ?? {})},
        ${now}, ${now})
      ${sql.literal(idempotencyConflict)}
      RETURNING id`

  /** The run just inserted, as the row now reads (no read back: every column is known). */
  const createdRun = (request: EnqueueRequest, id: string, inputJson: string, now: number): Run => ({
    id,
    jobName: request.jobName,
    status: "pending",
    input: JSON.parse(inputJson) as unknown,
    output: null,
    error: null,
    labels: { ...request.labels },
    progress: null,
    idempotencyKey: request.idempotencyKey ?? null,
    concurrencyKey: request.concurrencyKey ?? null,
    leaseOwner: null,
    leaseExpiresAt: null,
    leaseGeneration: 0,
    attempt: 0,
    startedAt: null,
    completedAt: null,
    createdAt: new Date(now),
    updatedAt: new Date(now)
  })

  const insertLabels = (runId: string, request: EnqueueRequest) => {
    const entries = Object.entries(request.labels ?? {})
    return entries.length === 0
      ? Effect.void
      : sql`INSERT INTO durably_run_labels ${sql.insert(entries.map(([key, value]) => ({ run_id: runId, key, value })))}`
  }

  const existingByIdempotencyKey = (request: EnqueueRequest) =>
    request.idempotencyKey === undefined
      ? Effect.succeed(Option.none<Row>())
      : Effect.map(
          sql<Row>`SELECT * FROM durably_runs
            WHERE job_name = ${request.jobName} AND idempotency_key = ${request.idempotencyKey}`,
          (rows) => Option.fromNullable(rows[0])
        )

  const pendingWithKey = (concurrencyKey: string) =>
    Effect.map(
      sql<Row>`SELECT * FROM durably_runs
        WHERE concurrency_key = ${concurrencyKey} AND status = 'pending' AND ${sql.literal(unfinished)}
        ORDER BY id LIMIT 1`,
      (rows) => Option.fromNullable(rows[0])
    )

  const decodeAs =
    (disposition: Enqueued["disposition"]) =>
    (row: Row): Effect.Effect<Enqueued, CorruptRowError> =>
      Effect.map(decodeRun(row), (run) => ({ run, disposition }))

  /** Inserts one run, or finds the run its idempotency key already names. */
  const insertOrFind = (request: EnqueueRequest, now: number): Effect.Effect<Enqueued, SqlError | CorruptRowError> =>
    Effect.gen(function* () {
      const id = yield* nextId
      const inputJson = JSON.stringify(request.input ?? null)
      const [inserted] = yield* insertRun(request, id, inputJson, now)
      if (inserted !== undefined) {
        yield* insertLabels(id, request)
        return { run: createdRun(request, id, inputJson, now), disposition: "created" } satisfies Enqueued
      }
      const existing = yield* existingByIdempotencyKey(request)
      return yield* Option.match(existing, {
        // The conflicting run was deleted between our insert and this read: try again.
        onNone: () => insertOrFind(request, now),
        onSome: decodeAs("idempotent")
      })
    })

  const needsCoalescing = (request: EnqueueRequest): request is EnqueueRequest & { concurrencyKey: string } =>
    request.coalesce === "skip" && request.concurrencyKey !== undefined

  /** One enqueue; must run inside a write transaction when it coalesces or has labels. */
  const enqueueIn = (request: EnqueueRequest, now: number): Effect.Effect<Enqueued, SqlError | CorruptRowError> =>
    Effect.gen(function* () {
      if (!needsCoalescing(request)) return yield* insertOrFind(request, now)
      if (isPg) {
        // Serialise coalescing triggers per key (two-int lock space: apart from claim locks).
        yield* sql`SELECT pg_advisory_xact_lock(hashtext('durably:coalesce'), hashtext(${request.concurrencyKey}))`
      }
      const existing = yield* existingByIdempotencyKey(request)
      if (Option.isSome(existing)) return yield* decodeAs("idempotent")(existing.value)
      const pending = yield* pendingWithKey(request.concurrencyKey)
      if (Option.isSome(pending)) return yield* decodeAs("coalesced")(pending.value)
      return yield* insertOrFind(request, now)
    })

  const enqueue = (request: EnqueueRequest) =>
    Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      const single = !needsCoalescing(request) && Object.keys(request.labels ?? {}).length === 0
      return yield* single ? enqueueIn(request, now) : transaction(enqueueIn(request, now))
    }).pipe(storeErrors("enqueue"))

  /** No idempotency key, no coalescing, no labels: nothing to look up, only a row to add. */
  const isPlain = (request: EnqueueRequest) =>
    request.idempotencyKey === undefined && !needsCoalescing(request) && Object.keys(request.labels ?? {}).length === 0

  /** Plain requests as multi-row inserts (one round trip per chunk), ids in request order. */
  const insertPlain = (requests: ReadonlyArray<EnqueueRequest>, now: number) =>
    Effect.gen(function* () {
      const added = yield* Effect.forEach(requests, (request) =>
        Effect.map(nextId, (id) => ({
          request,
          row: {
            id,
            job_name: request.jobName,
            input: JSON.stringify(request.input ?? null),
            status: "pending",
            idempotency_key: null,
            concurrency_key: request.concurrencyKey ?? null,
            labels: "{}",
            created_at: now,
            updated_at: now
          }
        }))
      )
      for (let start = 0; start < added.length; start += plainChunk) {
        yield* sql`INSERT INTO durably_runs ${sql.insert(added.slice(start, start + plainChunk).map(({ row }) => row))}`
      }
      return added.map(
        ({ request, row }): Enqueued => ({ run: createdRun(request, row.id, row.input, now), disposition: "created" })
      )
    })

  const enqueueBatch = (requests: ReadonlyArray<EnqueueRequest>) =>
    Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      // On PostgreSQL each statement is a round trip: a batch of plain requests goes in a few.
      if (isPg && requests.every(isPlain)) return yield* transaction(insertPlain(requests, now))
      return yield* transaction(Effect.forEach(requests, (request) => enqueueIn(request, now)))
    }).pipe(storeErrors("enqueueBatch"))

  // --- claim -----------------------------------------------------------------

  const claimSqlite = (workerId: string, now: number, leaseMs: number) =>
    // One statement: SQLite takes the write lock before evaluating it, so the
    // selection and the update are atomic across processes.
    sql<Row>`UPDATE durably_runs SET
        status = 'leased',
        lease_owner = ${workerId},
        lease_expires_at = ${now + leaseMs},
        lease_ms = ${leaseMs},
        lease_generation = lease_generation + 1,
        attempt = attempt + 1,
        started_at = COALESCE(started_at, ${now}),
        updated_at = ${now}
      WHERE id = (
        SELECT r.id FROM durably_runs r INDEXED BY durably_runs_claimable
        WHERE r.status IN ('pending', 'leased')
          AND (r.status = 'pending' OR r.lease_expires_at <= ${now})
          AND (r.concurrency_key IS NULL OR NOT EXISTS (${sql.unsafe(keyBlocksClaim, [now])}))
        ORDER BY r.id
        LIMIT 1
      )
      RETURNING *`

  /** A claimed row that cannot be decoded is failed at once, so it never blocks the queue. */
  const failCorruptClaim = (row: Row, error: CorruptRowError) =>
    Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      yield* sql`UPDATE durably_runs SET status = 'failed', error = ${error.message},
          completed_at = ${now}, updated_at = ${now}, lease_owner = NULL, lease_expires_at = NULL
        WHERE id = ${error.runId} AND lease_generation = ${Number(row.lease_generation)}`
      return yield* Effect.fail(error)
    })

  const claimedRun: ClaimedRun = (row) =>
    row === undefined
      ? Effect.succeed(Option.none<Run>())
      : decodeRun(row).pipe(
          Effect.map(Option.some),
          Effect.catchTag("CorruptRowError", (error) => failCorruptClaim(row, error))
        )

  const claim = (options: { readonly workerId: string; readonly leaseMs: number }) =>
    Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      const rows = yield* claimSqlite(options.workerId, now, options.leaseMs)
      return yield* claimedRun(rows[0])
    }).pipe(storeErrors("claim"))

  // --- fenced writes ---------------------------------------------------------

  const renew = (lease: Lease, leaseMs: number) =>
    Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      const expiresAt = now + leaseMs
      yield* fenced(
        lease,
        sql<Row>`UPDATE durably_runs SET lease_expires_at = ${expiresAt}, lease_ms = ${leaseMs}, updated_at = ${now}
          WHERE id = ${lease.runId} AND status = 'leased' AND lease_generation = ${lease.generation}
            AND lease_expires_at > ${now}
          RETURNING id`
      )
      return expiresAt
    }).pipe(storeErrors("renew"))

  const persistStep = (lease: Lease, step: StepWrite) =>
    Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      const output = toJson(step.output)
      const error = step.error ?? null
      // The heartbeat trigger on durably_steps extends the lease. The attempt
      // follows `stepAttempt` (0 for a completed step), decided here from the known status.
      yield* fenced(
        lease,
        sql<Row>`INSERT INTO durably_steps (run_id, name, "index", attempt, status, output, error, started_at, completed_at)
          SELECT id, ${step.name}, ${step.index}, ${sql.literal(step.status === "completed" ? "0" : "attempt")}, ${step.status}, ${output}, ${error}, ${step.startedAt}, ${now}
          FROM durably_runs
          WHERE id = ${lease.runId} AND status = 'leased' AND lease_generation = ${lease.generation}
          RETURNING run_id`
      )
    }).pipe(storeErrors("persistStep"))

  const progress = (lease: Lease, value: Run["progress"]) =>
    Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      yield* fenced(
        lease,
        sql<Row>`UPDATE durably_runs SET progress = ${toJson(value)}, updated_at = ${now}
          WHERE id = ${lease.runId} AND status = 'leased' AND lease_generation = ${lease.generation}
          RETURNING id`
      )
    }).pipe(storeErrors("progress"))

  const log = (lease: Lease, entry: LogWrite) =>
    Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      yield* fenced(
        lease,
        sql<Row>`INSERT INTO durably_logs (run_id, step_name, level, message, data, created_at)
          SELECT id, ${entry.stepName}, ${entry.level}, ${entry.message}, ${toJson(entry.data)}, CAST(${now} AS BIGINT)
          FROM durably_runs
          WHERE id = ${lease.runId} AND status = 'leased' AND lease_generation = ${lease.generation}
          RETURNING run_id`
      )
    }).pipe(storeErrors("log"))

  /** The terminal write of a lease holder, with step cleanup only once it succeeded. */
  const finish: Finish = (operation, lease, status, fields, options) =>
    Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      const update = sql<Row>`UPDATE durably_runs SET status = ${status}, output = ${fields.output},
          error = ${fields.error}, completed_at = ${now}, updated_at = ${now},
          lease_owner = NULL, lease_expires_at = NULL
        WHERE id = ${lease.runId} AND status = 'leased' AND lease_generation = ${lease.generation}
          AND lease_expires_at > ${now}
        RETURNING id`
      const rows = yield* !options.deleteSteps
        ? update
        : transaction(Effect.tap(update, (rows) => (rows.length > 0 ? deleteStepOutputs(lease.runId) : Effect.void)))
      yield* held(lease, rows.length)
    }).pipe(storeErrors(operation))

  const { complete, fail } = terminalWrites(finish)

  const release = (lease: Lease) =>
    Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      yield* sql`UPDATE durably_runs SET status = 'pending', lease_owner = NULL, lease_expires_at = NULL,
          updated_at = ${now}
        WHERE id = ${lease.runId} AND status = 'leased' AND lease_generation = ${lease.generation}`
    }).pipe(storeErrors("release"))

  // --- state changes by anyone ----------------------------------------------

  const cancel = (runId: string, options: TerminalOptions) =>
    Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      const [row] = yield* sql<Row>`UPDATE durably_runs SET status = 'cancelled', completed_at = ${now},
          updated_at = ${now}, lease_owner = NULL, lease_expires_at = NULL
        WHERE id = ${runId} AND status IN ('pending', 'leased')
        RETURNING *`
      if (row === undefined) return yield* explainMiss(runId, "cancel")
      if (options.deleteSteps) yield* deleteStepOutputs(runId)
      return row
    }).pipe(transaction, Effect.flatMap(decodeRun), storeErrors("cancel"))

  const retry = (runId: string) =>
    Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      const [row] = yield* sql<Row>`UPDATE durably_runs SET status = 'pending', output = NULL, error = NULL,
          completed_at = NULL, lease_owner = NULL, lease_expires_at = NULL, updated_at = ${now}
        WHERE id = ${runId} AND status IN ('failed', 'cancelled')
        RETURNING *`
      if (row === undefined) return yield* explainMiss(runId, "retry")
      return row
    }).pipe(transaction, Effect.flatMap(decodeRun), storeErrors("retry"))

  const deleteDependents = (runIds: ReadonlyArray<string>) =>
    Effect.all([
      sql`DELETE FROM durably_steps WHERE ${sql.in("run_id", runIds)}`,
      sql`DELETE FROM durably_logs WHERE ${sql.in("run_id", runIds)}`,
      sql`DELETE FROM durably_run_labels WHERE ${sql.in("run_id", runIds)}`
    ])

  const deleteRun = (runId: string) =>
    Effect.gen(function* () {
      const deleted = yield* sql<{ job_name: string; labels: string }>`DELETE FROM durably_runs
        WHERE id = ${runId} AND status <> 'leased' RETURNING job_name, labels`
      const row = deleted[0]
      if (row === undefined) return yield* explainMiss(runId, "delete")
      yield* deleteDependents([runId])
      // A deleted row's labels are reported as they were; unreadable ones as none (the row is gone either way).
      const labels = Option.getOrElse(decodeLabels(row.labels), () => ({}))
      return { jobName: row.job_name, labels }
    }).pipe(transaction, storeErrors("deleteRun"))

  const purge = (options: { readonly olderThan: number; readonly limit?: number | undefined }) =>
    Effect.gen(function* () {
      const deleted = yield* sql<{ id: string }>`DELETE FROM durably_runs WHERE id IN (
          SELECT id FROM durably_runs
          WHERE ${sql.in("status", terminalStatuses)} AND completed_at < ${options.olderThan}
          ORDER BY completed_at
          LIMIT ${options.limit ?? 1_000_000_000}
        )
        RETURNING id`
      if (deleted.length > 0) yield* deleteDependents(deleted.map((row) => row.id))
      return deleted.length
    }).pipe(transaction, storeErrors("purge"))

  const releaseExpired = Effect.gen(function* () {
    const now = yield* Clock.currentTimeMillis
    const released = yield* sql<Row>`UPDATE durably_runs SET status = 'pending', lease_owner = NULL,
        lease_expires_at = NULL, updated_at = ${now}
      WHERE status = 'leased' AND ${sql.literal(unfinished)} AND lease_expires_at <= ${now}
      RETURNING id`
    return released.length
  }).pipe(storeErrors("releaseExpired"))

  // --- reads -----------------------------------------------------------------

  const getRun = (runId: string) =>
    findRunRow(runId).pipe(
      Effect.flatMap((row): Effect.Effect<Run, NotFoundError | CorruptRowError> =>
        Option.isNone(row) ? Effect.fail(new NotFoundError({ entity: "run", id: runId })) : decodeRun(row.value)
      ),
      storeErrors("getRun")
    )

  const getRuns = (filter: RunFilter = {}) =>
    Effect.gen(function* () {
      const statuses = asArray(filter.status)
      const jobNames = asArray(filter.jobName)
      const conditions = [
        ...(statuses.length > 0 ? [sql.in("status", statuses)] : []),
        ...partialIndexCondition(statuses).map((condition) => sql.literal(condition)),
        ...(jobNames.length > 0 ? [sql.in("job_name", jobNames)] : []),
        ...Object.entries(filter.labels ?? {}).map(
          ([key, value]) => sql`id IN (SELECT run_id FROM durably_run_labels WHERE key = ${key} AND value = ${value})`
        )
      ]
      const where = conditions.length > 0 ? sql`WHERE ${sql.and(conditions)}` : sql``
      const rows = yield* sql<Row>`SELECT * FROM durably_runs ${where}
        ORDER BY id DESC
        LIMIT ${filter.limit ?? 1_000_000_000} OFFSET ${filter.offset ?? 0}`
      return yield* Effect.forEach(rows, decodeRun)
    }).pipe(storeErrors("getRuns"))

  const getSteps = (runId: string) =>
    sql<Row>`SELECT * FROM durably_steps WHERE run_id = ${runId} ORDER BY "index", completed_at, status = 'completed', attempt`.pipe(
      Effect.flatMap(Effect.forEach(decodeStep)),
      storeErrors("getSteps")
    )

  const getLogs = (runId: string) =>
    sql<Row>`SELECT * FROM durably_logs WHERE run_id = ${runId} ORDER BY id`.pipe(
      Effect.flatMap(Effect.forEach(decodeLog)),
      storeErrors("getLogs")
    )

  // The hot path: PostgreSQL's own statements (prepared when the client offers it);
  // SQLite on its connection directly when the client offers it, else the statements above.
  const generic = { enqueue, enqueueBatch, claim, renew, persistStep, progress, log, complete, fail, release }
  const hot = isPg
    ? { ...generic, ...PgHot.make(yield* pgExecutor, { claimedRun, nextId, createdRun, isPlain, enqueue }) }
    : Option.match(yield* Effect.serviceOption(SyncSqlite), {
        onNone: () => generic,
        onSome: (sync) => SqliteDirect.make(sync, claimedRun, createdRun)
      })

  return Store.of({
    migrate: migrate.pipe(
      Effect.provideService(SqlClient.SqlClient, sql),
      storeErrors("migrate"),
      Effect.catchTag("MigrationError", (cause) => Effect.fail(new StoreError({ operation: "migrate", cause })))
    ),
    ...hot,
    cancel,
    retry,
    deleteRun,
    purge,
    releaseExpired,
    getRun,
    getRuns,
    getSteps,
    getLogs
  })
})

/**
 * The store as a layer over a `SqlClient`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<Store, never, SqlClient.SqlClient> = Layer.effect(Store, make)

/**
 * The store, with the schema migrated when the layer is built.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMigrated = Layer.effect(
  Store,
  Effect.tap(make, (store) => store.migrate)
)
