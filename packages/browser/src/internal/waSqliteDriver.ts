// The wa-sqlite connection of the database worker as a `SyncDriver`: the
// same synchronous connection seen as `@effect/sql`'s `Connection` and as the
// store's `SyncConnection`. Statements are prepared once and kept.
import type { Connection } from "@effect/sql/SqlConnection"
import { SqlError } from "@effect/sql/SqlError"
import type { SyncConnection, SyncSqliteClient } from "@durably/core/Internal"
import * as WaSqlite from "@effect/wa-sqlite"
import { Effect } from "effect"

type Value = SQLiteCompatibleType | null

/** Rows of a statement as column names and value arrays. */
interface Result {
  readonly columns: ReadonlyArray<string>
  readonly rows: Array<Array<Value>>
}

const bindable = (value: unknown): Value => {
  if (value === undefined || value === null) return null
  if (typeof value === "boolean") return value ? 1 : 0
  return value as Value
}

const toObjects = ({ columns, rows }: Result): Array<Record<string, unknown>> =>
  rows.map((row) => {
    const object: Record<string, unknown> = {}
    for (let i = 0; i < columns.length; i++) object[columns[i] as string] = row[i]
    return object
  })

/** The driver, and `finalize` for its kept statements (before the database is closed). */
export const make = (
  sqlite3: SQLiteAPI,
  db: number,
  durableCommits: boolean
): SyncSqliteClient.SyncDriver & { readonly finalize: () => void } => {
  const cache = new Map<string, number>()

  const prepare = (sql: string): number => {
    const cached = cache.get(sql)
    if (cached !== undefined) return cached
    // Unscoped: the statement outlives the iteration, kept until `finalize`.
    const statements = sqlite3.statements(db, sql, { unscoped: true })[Symbol.iterator]()
    const first = statements.next()
    statements.return?.()
    if (first.done === true) throw new Error(`no statement in: ${sql}`)
    cache.set(sql, first.value)
    return first.value
  }

  const step = (stmt: number, params: ReadonlyArray<unknown>): Result => {
    try {
      sqlite3.clear_bindings(stmt)
      if (params.length > 0) sqlite3.bind_collection(stmt, params.map(bindable))
      const rows: Array<Array<Value>> = []
      let columns: ReadonlyArray<string> | undefined
      while (sqlite3.step(stmt) === WaSqlite.SQLITE_ROW) {
        columns ??= sqlite3.column_names(stmt)
        rows.push(sqlite3.row(stmt))
      }
      return { columns: columns ?? [], rows }
    } finally {
      sqlite3.reset(stmt)
    }
  }

  /** Every statement of `sql` (migrations may hold several), prepared for this call only. */
  const unprepared = (sql: string, params: ReadonlyArray<unknown>): Result => {
    let last: Result = { columns: [], rows: [] }
    for (const stmt of sqlite3.statements(db, sql)) last = step(stmt, params)
    return last
  }

  const exec = (sql: string) => void step(prepare(sql), [])

  const sync: SyncConnection = {
    prepare: (sql) => {
      const stmt = prepare(sql)
      return {
        all: (...params) => toObjects(step(stmt, params)),
        run: (...params) => {
          step(stmt, params)
          return { changes: sqlite3.changes(db) }
        }
      }
    },
    transaction: (body) => {
      exec("BEGIN IMMEDIATE")
      try {
        const result = body()
        exec("COMMIT")
        return result
      } catch (error) {
        if (sqlite3.get_autocommit(db) === 0) exec("ROLLBACK")
        throw error
      }
    },
    relaxed: (body) => {
      if (!durableCommits) return body()
      exec("PRAGMA synchronous = NORMAL")
      try {
        return body()
      } finally {
        exec("PRAGMA synchronous = FULL")
      }
    }
  }

  const attempt = <A>(run: () => A) =>
    Effect.try({ try: run, catch: (cause) => new SqlError({ cause, message: "Failed to execute statement" }) })

  const connection: Connection = {
    execute: (sql, params, transformRows) =>
      attempt(() => {
        const rows = toObjects(step(prepare(sql), params))
        return transformRows === undefined ? rows : transformRows(rows)
      }),
    executeUnprepared: (sql, params, transformRows) =>
      attempt(() => {
        const rows = toObjects(unprepared(sql, params))
        return transformRows === undefined ? rows : transformRows(rows)
      }),
    executeRaw: (sql, params) => attempt(() => toObjects(step(prepare(sql), params))),
    executeValues: (sql, params) => attempt(() => step(prepare(sql), params).rows),
    executeStream: () => Effect.dieMessage("executeStream is not supported by this SQLite client")
  }

  const finalize = () => {
    for (const stmt of cache.values()) sqlite3.finalize(stmt)
    cache.clear()
  }

  return { connection, sync, durableCommits, finalize }
}
