/**
 * Store layers for Node: SQLite through better-sqlite3 and PostgreSQL through
 * `pg`, each providing `SqlClient` and a migrated `Store`.
 *
 * @since 0.1.0
 */
import { SqlClient } from "@effect/sql"
import type { PgClient } from "@effect/sql-pg"
import type { Store } from "@durably/core/Store"
import { PreparedSql } from "@durably/core/Internal"
import type { SyncSqlite } from "@durably/core/Internal"
import { SqlStore } from "@durably/core"
import type { StoreError } from "@durably/core/DurablyError"
import type { SqlError } from "@effect/sql/SqlError"
import type { ConfigError } from "effect/ConfigError"
import { Effect, Layer } from "effect"
import * as PgPrepared from "./internal/pgPrepared.js"
import * as SqliteClient from "./internal/sqliteClient.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface SqliteOptions {
  /** A file path, or `":memory:"`. */
  readonly filename: string
  /** `NORMAL` (default) is durable across process crashes in WAL mode; `FULL` also across power loss. */
  readonly synchronous?: "NORMAL" | "FULL" | undefined
  /** How long a writer waits for another process's write lock; it blocks the event loop meanwhile. */
  readonly busyTimeoutMs?: number | undefined
}

/**
 * A SQLite `SqlClient` in WAL mode with the pragmas a job queue wants. It also
 * provides `SyncSqlite`, through which `SqlStore` runs its hot statements.
 *
 * @since 0.1.0
 * @category layers
 */
export const sqliteClient = (options: SqliteOptions): Layer.Layer<SqlClient.SqlClient | SyncSqlite, SqlError> =>
  SqliteClient.layer({
    filename: options.filename,
    synchronous: options.synchronous ?? "NORMAL",
    busyTimeoutMs: Math.trunc(options.busyTimeoutMs ?? 5000)
  })

/**
 * @since 0.1.0
 * @category models
 */
export interface PgOptions {
  /** A `postgres://` URL. */
  readonly url: string
  /**
   * Connections in the pool (default 10). The `SqlClient` and the store's
   * prepared hot statements share it; it opens connections only as they are
   * needed.
   */
  readonly maxConnections?: number | undefined
}

/**
 * A PostgreSQL `SqlClient` on a `pg` pool, which also provides `PreparedSql` on
 * the same pool: `SqlStore` runs its hot statements through it. The PostgreSQL
 * driver is loaded when the layer is built, so a process that only uses
 * SQLite never loads it.
 *
 * @since 0.1.0
 * @category layers
 */
export const pgClient = (
  options: PgOptions
): Layer.Layer<SqlClient.SqlClient | PgClient.PgClient | PreparedSql, ConfigError | SqlError> =>
  Layer.unwrapScoped(
    Effect.gen(function* () {
      const pool = yield* PgPrepared.pool({ url: options.url, maxConnections: options.maxConnections ?? 10 })
      const { PgClient } = yield* Effect.promise(() => import("@effect/sql-pg"))
      return Layer.merge(
        PgClient.layerFromPool({ acquire: Effect.succeed(pool) }),
        Layer.succeed(PreparedSql, PgPrepared.make(pool))
      )
    })
  )

/**
 * A migrated store on a SQLite file.
 *
 * @since 0.1.0
 * @category layers
 */
export const sqlite = (
  options: SqliteOptions
): Layer.Layer<Store | SqlClient.SqlClient | SyncSqlite, SqlError | StoreError> =>
  SqlStore.layerMigrated.pipe(Layer.provideMerge(sqliteClient(options)))

/**
 * A migrated store on PostgreSQL.
 *
 * @since 0.1.0
 * @category layers
 */
export const pg = (
  options: PgOptions
): Layer.Layer<Store | SqlClient.SqlClient | PreparedSql, ConfigError | SqlError | StoreError> =>
  SqlStore.layerMigrated.pipe(Layer.provideMerge(pgClient(options)))
