// Synchronous access to the SQLite connection behind a `SqlClient`.
//
// SQLite drivers in Node (better-sqlite3) execute statements synchronously,
// and going through `SqlClient` for each one costs far more than the statement
// itself. A client layer that can offer its connection directly provides this
// service as well, and `SqlStore` then runs its hot statements (enqueue, claim,
// step writes, completion) on prepared statements through it. Without it the
// store runs the same statements through `SqlClient`.
import type { SqlError } from "@effect/sql/SqlError"
import type { Effect, Either } from "effect"
import { Context } from "effect"

/** A prepared statement. */
export interface SyncStatement {
  /** Runs the statement and returns its rows (for statements with `RETURNING`, or a `SELECT`). */
  readonly all: (...params: ReadonlyArray<unknown>) => Array<Record<string, unknown>>
  /** Runs a statement that returns no rows. */
  readonly run: (...params: ReadonlyArray<unknown>) => { readonly changes: number }
}

/** The connection, while it is held. */
export interface SyncConnection {
  /** A prepared statement for `sql`, cached by the connection. */
  readonly prepare: (sql: string) => SyncStatement
  /**
   * Runs `body` in a write transaction (`BEGIN IMMEDIATE`), committing when it
   * returns and rolling back when it throws.
   */
  readonly transaction: <A>(body: () => A) => A
  /**
   * Runs `body` with commits that need not reach the disk before they return
   * (`synchronous = NORMAL` while it runs, whatever the connection's setting):
   * a crash of the machine may lose them, but never a later commit, since a
   * durable commit flushes the log up to and including them. For writes whose
   * loss a crash makes harmless (a claim: every process that held it died too).
   */
  readonly relaxed: <A>(body: () => A) => A
}

export class SyncSqlite extends Context.Tag("@durably/core/SyncSqlite")<
  SyncSqlite,
  {
    /**
     * Runs `f` with the connection to itself: it waits while another fiber
     * holds the connection for a `SqlClient` transaction, and `f` runs without
     * yielding, so no other statement interleaves. An exception thrown by `f`
     * fails with `SqlError`.
     */
    readonly use: <A>(f: (connection: SyncConnection) => A) => Effect.Effect<A, SqlError>
    /**
     * `use` without waiting: runs `f` at once when no `SqlClient` transaction
     * holds the connection (its result, or a `SqlError` when it throws), and
     * returns `undefined` when one does, leaving the wait to `use`.
     */
    readonly useNow: <A>(f: (connection: SyncConnection) => A) => Either.Either<A, SqlError> | undefined
    /**
     * Whether a commit waits for the disk (`synchronous = FULL`). Then writers
     * that commit together wait once instead of once each, and the store
     * commits the step writes of runs executing at the same time together.
     */
    readonly durableCommits: boolean
  }
>() {}
