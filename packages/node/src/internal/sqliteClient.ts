// A SQLite `SqlClient` on better-sqlite3 that also offers its connection
// directly (`SyncSqlite`), so the store's hot statements skip the per-statement
// cost of going through `SqlClient` (span, compiler, Effect-based prepare cache).
//
// The client and the permit that guards the connection are core's
// (`SyncSqliteClient`); this module is the better-sqlite3 driver.
import type { SqlClient } from "@effect/sql"
import type { Connection } from "@effect/sql/SqlConnection"
import { SqlError } from "@effect/sql/SqlError"
import { SyncSqliteClient } from "@durably/core/Internal"
import type { SyncConnection, SyncSqlite, SyncStatement } from "@durably/core/Internal"
import Database from "better-sqlite3"
import type { Layer } from "effect"
import { Duration, Effect, Schedule } from "effect"

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
  SyncSqliteClient.layer(
    Effect.map(makeConnection(options), (driver) => ({ ...driver, durableCommits: options.synchronous === "FULL" }))
  )
