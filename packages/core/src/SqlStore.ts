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
 * Each statement is written once per dialect (`internal/sql/`). The hot ones
 * skip `SqlClient`'s per-statement cost when the client layer offers a faster
 * door: prepared statements on SQLite's connection (`SyncSqlite`) or named
 * prepared statements on PostgreSQL (`PreparedSql`), with the same text.
 * Inside the caller's open `SqlClient` transaction every statement goes
 * through `SqlClient`, so it takes part in that transaction.
 *
 * @since 0.1.0
 */
import { SqlClient } from "@effect/sql"
import { Effect, Layer, Option } from "effect"
import { StoreError } from "./DurablyError.js"
import { migrate } from "./internal/migrations.js"
import { PreparedSql } from "./internal/preparedSql.js"
import { makeRunIdSource } from "./internal/runId.js"
import * as Pg from "./internal/sql/pg.js"
import * as Sqlite from "./internal/sql/sqlite.js"
import * as Context from "./internal/store/context.js"
import * as Enqueue from "./internal/store/enqueue.js"
import * as Lease from "./internal/store/lease.js"
import * as Manage from "./internal/store/manage.js"
import * as Reads from "./internal/store/reads.js"
import * as SqliteDirect from "./internal/store/sqliteDirect.js"
import { withEnqueueNow, withReleaseAll } from "./internal/storeDoors.js"
import { SyncSqlite } from "./internal/syncSqlite.js"
import { storeErrors, writeTransaction } from "./internal/transaction.js"
import { Store } from "./Store.js"

/**
 * Builds the store. Requires a `SqlClient`; call `migrate` once before use.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const isPg = sql.onDialectOrElse({ pg: () => true, orElse: () => false })
  const prepared = isPg ? yield* Effect.serviceOption(PreparedSql) : Option.none()
  const context = Context.make({
    sql,
    dialect: isPg ? Pg.dialect : Sqlite.dialect,
    prepared: Option.getOrUndefined(prepared),
    transaction: writeTransaction(sql),
    nextId: makeRunIdSource()
  })
  const enqueue = Enqueue.make(context)
  const sync = isPg ? Option.none() : yield* Effect.serviceOption(SyncSqlite)
  const direct = Option.map(sync, (sync) => SqliteDirect.make(context, sync, enqueue))

  const manage = Manage.make(context)
  const store = Store.of({
    migrate: migrate.pipe(
      Effect.provideService(SqlClient.SqlClient, sql),
      storeErrors("migrate"),
      Effect.catchTag("MigrationError", (cause) => Effect.fail(new StoreError({ operation: "migrate", cause })))
    ),
    ...enqueue,
    ...Lease.make(context),
    ...manage.operations,
    ...Reads.make(context),
    ...Option.match(direct, { onNone: () => ({}), onSome: (direct) => direct.operations })
  })
  withReleaseAll(store, manage.releaseAll)
  return Option.match(direct, {
    onNone: () => store,
    onSome: (direct) => withEnqueueNow(store, direct.enqueueNow)
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
