// What every part of `SqlStore` shares: the client, the dialect's statements
// and the executor that runs them.
//
// A statement runs through `SqlClient` whenever a transaction is open (the
// caller's or the store's own), so it takes part in it; otherwise through the
// client's faster door when it offers one (`PreparedSql` on PostgreSQL), with
// the same text and parameters.
import { SqlClient } from "@effect/sql"
import type { SqlError } from "@effect/sql/SqlError"
import { Effect, Option } from "effect"
import { NotFoundError, ConflictError } from "../../DurablyError.js"
import type { PreparedSql } from "../preparedSql.js"
import type { Dialect } from "../sql/dialect.js"
import type { Bound, Row, Statement } from "../sql/statement.js"
import { bind } from "../sql/statement.js"
import type { WriteTransaction } from "../transaction.js"

/** Runs one statement with positional parameters; its rows. */
export type Executor = (statement: Statement, params: ReadonlyArray<unknown>) => Effect.Effect<ReadonlyArray<Row>, SqlError>

/** Through `SqlClient`: on the transaction of the fiber's context, when it has one. */
export const generic =
  (sql: SqlClient.SqlClient): Executor =>
  (statement, params) =>
    sql.unsafe<Row>(statement.text, params)

/** As named prepared statements, on a connection of the pool's choosing; an unnamed one through `otherwise`. */
export const prepared =
  (client: PreparedSql["Type"], otherwise: Executor): Executor =>
  (statement, params) =>
    statement.name === undefined
      ? otherwise(statement, params)
      : client.query(`durably_${statement.name}`, statement.text, params)

export interface StoreContext {
  readonly sql: SqlClient.SqlClient
  readonly dialect: Dialect
  /** Through `SqlClient`. */
  readonly generic: Executor
  /** Outside any transaction: the client's faster door, or `generic`. */
  readonly outside: Executor
  /** A write transaction (nested in the caller's when one is open). */
  readonly transaction: WriteTransaction
  /** The next run id at `now`; one source per store, so ids follow trigger order. */
  readonly nextId: (now: number) => string
  /** Runs `statement` with its parameters taken from `values`, on the executor for this fiber. */
  readonly run: (statement: Statement, values: Row) => Effect.Effect<ReadonlyArray<Row>, SqlError>
  /** Runs a built statement on the executor for this fiber. */
  readonly runBound: (bound: Bound) => Effect.Effect<ReadonlyArray<Row>, SqlError>
  /** After a conditional transition matched nothing: the run is missing, or in the wrong state. */
  readonly explainMiss: (runId: string, operation: string) => Effect.Effect<never, SqlError | NotFoundError | ConflictError>
}

export const make = (options: {
  readonly sql: SqlClient.SqlClient
  readonly dialect: Dialect
  readonly prepared: PreparedSql["Type"] | undefined
  readonly transaction: WriteTransaction
  readonly nextId: (now: number) => string
}): StoreContext => {
  const sqlClient = generic(options.sql)
  const outside = options.prepared === undefined ? sqlClient : prepared(options.prepared, sqlClient)
  const current = Effect.map(Effect.serviceOption(SqlClient.TransactionConnection), (transaction) =>
    Option.isSome(transaction) ? sqlClient : outside
  )
  const runBound = (bound: Bound) => Effect.flatMap(current, (execute) => execute(bound.statement, bound.params))
  const run = (statement: Statement, values: Row) => runBound({ statement, params: bind(statement, values) })

  const explainMiss = (runId: string, operation: string) =>
    Effect.flatMap(run(options.dialect.statusOf, { runId }), (rows): Effect.Effect<never, NotFoundError | ConflictError> => {
      const status = rows[0]?.["status"]
      return status === undefined
        ? Effect.fail(new NotFoundError({ entity: "run", id: runId }))
        : Effect.fail(new ConflictError({ runId, operation, status: String(status) }))
    })

  return {
    sql: options.sql,
    dialect: options.dialect,
    generic: sqlClient,
    outside,
    transaction: options.transaction,
    nextId: options.nextId,
    run,
    runBound,
    explainMiss
  }
}
