// Write transactions that are safe under concurrency on both dialects.
//
// `sql.withTransaction` issues a deferred `BEGIN`. On SQLite a transaction that
// reads before it writes then fails with SQLITE_BUSY when another process wrote
// in between (busy_timeout cannot help a read→write upgrade), so read-then-write
// transactions there take the write lock up front with `BEGIN IMMEDIATE`.
// A COMMIT that fails surfaces from @effect/sql as a defect; it becomes a typed
// `StoreError` here so callers can handle it.
import { SqlClient } from "@effect/sql"
import { SqlError } from "@effect/sql/SqlError"
import { Cause, Effect, Option, Scope } from "effect"
import { StoreError } from "../DurablyError.js"

export type WriteTransaction = <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E | SqlError, R>

const immediate = (sql: SqlClient.SqlClient): WriteTransaction =>
  SqlClient.makeWithTransaction({
    transactionTag: SqlClient.TransactionConnection,
    spanAttributes: [],
    acquireConnection: Effect.flatMap(Scope.make(), (scope) =>
      Effect.map(Scope.extend(sql.reserve, scope), (conn) => [scope, conn] as const)
    ),
    // BEGIN / COMMIT / ROLLBACK go through the prepared-statement cache: they run on every completion.
    begin: (conn) => conn.execute("BEGIN IMMEDIATE", [], undefined),
    savepoint: (conn, id) => conn.executeUnprepared(`SAVEPOINT effect_sql_${id}`, [], undefined),
    commit: (conn) => conn.execute("COMMIT", [], undefined),
    rollback: (conn) => conn.execute("ROLLBACK", [], undefined),
    rollbackSavepoint: (conn, id) => conn.executeUnprepared(`ROLLBACK TO SAVEPOINT effect_sql_${id}`, [], undefined)
  })

/** The write transaction for this client's dialect. */
export const writeTransaction = (sql: SqlClient.SqlClient): WriteTransaction =>
  sql.onDialectOrElse({
    sqlite: () => immediate(sql),
    orElse: () => sql.withTransaction
  })

const isSqlError = (u: unknown): u is SqlError => u instanceof SqlError

/** Maps SQL failures, including a COMMIT that failed as a defect, to `StoreError` (one handler: it wraps every store call). */
export const storeErrors =
  (operation: string) =>
  <A, E, R>(effect: Effect.Effect<A, E | SqlError, R>): Effect.Effect<A, Exclude<E, SqlError> | StoreError, R> =>
    Effect.catchAllCause(effect, (cause): Effect.Effect<never, Exclude<E, SqlError> | StoreError> => {
      const sqlError = Option.orElse(Option.filter(Cause.failureOption(cause), isSqlError), () =>
        Option.filter(Cause.dieOption(cause), isSqlError)
      )
      // Without a SqlError, the cause holds none of the errors this removes from the type.
      return Option.isSome(sqlError)
        ? Effect.fail(new StoreError({ operation, cause: sqlError.value }))
        : Effect.failCause(cause as Cause.Cause<Exclude<E, SqlError>>)
    })
