// A SQLite `SqlClient` on better-sqlite3 that also offers its connection
// directly (`SyncSqlite`), so the store's hot statements skip the per-statement
// cost of going through `SqlClient` (span, compiler, Effect-based prepare cache).
//
// One connection, guarded by one permit: a `SqlClient` transaction holds it from
// BEGIN to COMMIT; a plain statement and a `SyncSqlite.use` take it only for
// the moment they run, so neither ever lands inside another fiber's transaction.
import * as Reactivity from "@effect/experimental/Reactivity"
import { SqlClient } from "@effect/sql"
import type { Connection } from "@effect/sql/SqlConnection"
import { SqlError } from "@effect/sql/SqlError"
import * as Statement from "@effect/sql/Statement"
import { SyncSqlite } from "@durably/core/Internal"
import type { SyncConnection, SyncStatement } from "@durably/core/Internal"
import Database from "better-sqlite3"
import { Context, Duration, Effect, Either, Layer, Option, Schedule, Scope } from "effect"

export interface ClientOptions {
  readonly filename: string
  readonly synchronous: "NORMAL" | "FULL"
  readonly busyTimeoutMs: number
}

const isBusy = (cause: unknown): boolean =>
  typeof cause === "object" && cause !== null && "code" in cause && String(cause.code).startsWith("SQLITE_BUSY")

/** Prepared statements kept per connection; the least recently prepared one goes first. */
const cacheSize = 200

const makeConnection = (options: ClientOptions) =>
  Effect.gen(function* () {
    const db = yield* Effect.acquireRelease(
      Effect.try({
        try: () => new Database(options.filename, { timeout: options.busyTimeoutMs }),
        catch: (cause) => new SqlError({ cause, message: `Failed to open ${options.filename}` })
      }),
      (db) => Effect.sync(() => db.close())
    )
    // Switching to WAL needs a lock that SQLite does not wait for through the busy
    // timeout (another process may hold it while creating or migrating the file),
    // so a busy database is tried again, for as long as the busy timeout allows.
    yield* Effect.try({
      try: () => {
        db.pragma("journal_mode = WAL")
        db.pragma(`synchronous = ${options.synchronous}`)
      },
      catch: (cause) => new SqlError({ cause, message: "Failed to configure the database" })
    }).pipe(
      Effect.retry({
        schedule: Schedule.spaced(Duration.millis(10)).pipe(Schedule.upTo(Duration.millis(options.busyTimeoutMs))),
        while: (error) => isBusy(error.cause)
      })
    )

    const cache = new Map<string, Database.Statement>()
    const prepare = (sql: string): Database.Statement => {
      const cached = cache.get(sql)
      if (cached !== undefined) return cached
      const statement = db.prepare(sql)
      if (cache.size >= cacheSize) cache.delete(cache.keys().next().value as string)
      cache.set(sql, statement)
      return statement
    }

    // With synchronous = NORMAL every commit is relaxed already.
    const relaxing =
      options.synchronous === "NORMAL"
        ? undefined
        : { relax: prepare("PRAGMA synchronous = NORMAL"), restore: prepare(`PRAGMA synchronous = ${options.synchronous}`) }
    const begin = prepare("BEGIN IMMEDIATE")
    const commit = prepare("COMMIT")
    const rollback = prepare("ROLLBACK")

    const sync: SyncConnection = {
      prepare: (sql) => {
        const statement = prepare(sql)
        return {
          all: (...params) => statement.all(...params) as Array<Record<string, unknown>>,
          run: (...params) => statement.run(...params)
        } satisfies SyncStatement
      },
      transaction: (body) => {
        begin.run()
        try {
          const result = body()
          commit.run()
          return result
        } catch (error) {
          if (db.inTransaction) rollback.run()
          throw error
        }
      },
      relaxed: (body) => {
        if (relaxing === undefined) return body()
        relaxing.relax.run()
        try {
          return body()
        } finally {
          relaxing.restore.run()
        }
      }
    }

    const attempt = <A>(run: () => A, message: string) =>
      Effect.try({ try: run, catch: (cause) => new SqlError({ cause, message }) })

    const rows = (statement: Database.Statement, params: ReadonlyArray<unknown>): ReadonlyArray<unknown> => {
      if (statement.reader) return statement.all(...params)
      statement.run(...params)
      return []
    }

    const execute = (
      sql: string,
      params: ReadonlyArray<unknown>,
      transformRows: (<A extends object>(rows: ReadonlyArray<A>) => ReadonlyArray<A>) | undefined,
      prepared: boolean
    ) =>
      attempt(() => {
        const result = rows(prepared ? prepare(sql) : db.prepare(sql), params) as ReadonlyArray<object>
        return transformRows === undefined ? result : transformRows(result)
      }, "Failed to execute statement")

    const connection: Connection = {
      execute: (sql, params, transformRows) => execute(sql, params, transformRows, true),
      executeUnprepared: (sql, params, transformRows) => execute(sql, params, transformRows, false),
      executeRaw: (sql, params) =>
        attempt(() => {
          const statement = prepare(sql)
          return statement.reader ? statement.all(...params) : statement.run(...params)
        }, "Failed to execute statement"),
      executeValues: (sql, params) =>
        attempt(() => {
          const statement = prepare(sql)
          if (!statement.reader) {
            statement.run(...params)
            return []
          }
          try {
            return statement.raw(true).all(...params) as ReadonlyArray<ReadonlyArray<unknown>>
          } finally {
            statement.raw(false)
          }
        }, "Failed to execute statement"),
      executeStream: () => Effect.dieMessage("executeStream is not supported by this SQLite client")
    }
    return { connection, sync }
  })

/** `SqlClient` and `SyncSqlite` over one better-sqlite3 connection. */
export const layer = (options: ClientOptions): Layer.Layer<SqlClient.SqlClient | SyncSqlite, SqlError> =>
  Layer.scopedContext(
    Effect.gen(function* () {
      const { connection, sync } = yield* makeConnection(options)
      const permit = yield* Effect.makeSemaphore(1)
      /** True while a `SqlClient` transaction holds the connection. */
      let held = false

      const client = yield* SqlClient.make({
        acquirer: permit.withPermits(1)(Effect.succeed(connection)),
        // Held until the transaction's scope closes (COMMIT or ROLLBACK).
        transactionAcquirer: Effect.uninterruptibleMask((restore) =>
          Effect.gen(function* () {
            yield* restore(permit.take(1))
            held = true
            yield* Scope.addFinalizer(
              yield* Effect.scope,
              Effect.suspend(() => {
                held = false
                return permit.release(1)
              })
            )
            return connection
          })
        ),
        compiler: Statement.makeCompilerSqlite(),
        spanAttributes: [["db.system.name", "sqlite"]]
      })

      const runNow = <A>(f: (connection: SyncConnection) => A): Either.Either<A, SqlError> => {
        try {
          return Either.right(f(sync))
        } catch (cause) {
          return Either.left(new SqlError({ cause, message: "Failed to execute statement" }))
        }
      }

      const useNow = <A>(f: (connection: SyncConnection) => A) => (held ? undefined : runNow(f))

      // Commonly nobody holds the connection, and `f` runs before anyone can take it.
      const use = <A>(f: (connection: SyncConnection) => A): Effect.Effect<A, SqlError> =>
        Effect.suspend(() => useNow(f) ?? waitFor(Effect.suspend(() => runNow(f))))

      /** While a transaction holds the connection: run inside it when it is this fiber's, else after it. */
      const waitFor = <A>(run: Effect.Effect<A, SqlError>) =>
        Effect.flatMap(Effect.serviceOption(SqlClient.TransactionConnection), (inTransaction) =>
          Option.isSome(inTransaction) ? run : permit.withPermits(1)(run)
        )

      const direct = SyncSqlite.of({ use, useNow, durableCommits: options.synchronous === "FULL" })
      return Context.make(SqlClient.SqlClient, client).pipe(Context.add(SyncSqlite, direct))
    })
  ).pipe(Layer.provide(Reactivity.layer))
