// `PreparedSql` for PostgreSQL on a `pg` pool of its own, beside the
// `SqlClient`'s pool: named statements are prepared once per connection, and a
// query costs little more than its round trip. The store only sends single
// statements through it, so the two pools never need to share a transaction.
import { PreparedSql } from "@durably/core/PreparedSql"
import { SqlError } from "@effect/sql/SqlError"
import { Effect, Layer } from "effect"

export interface PoolOptions {
  readonly url: string
  readonly maxConnections: number
}

export const layer = (options: PoolOptions): Layer.Layer<PreparedSql, SqlError> =>
  Layer.scoped(
    PreparedSql,
    Effect.gen(function* () {
      // Loaded with the layer, as the `SqlClient` side loads its driver.
      const { default: pg } = yield* Effect.promise(() => import("pg"))
      const pool = yield* Effect.acquireRelease(
        Effect.sync(() => {
          const pool = new pg.Pool({ connectionString: options.url, max: options.maxConnections })
          // A connection that breaks while idle is dropped by the pool; without a
          // listener the error would end the process.
          pool.on("error", () => undefined)
          return pool
        }),
        (pool) => Effect.promise(() => pool.end())
      )
      return PreparedSql.of({
        query: (name, text, params) =>
          Effect.tryPromise({
            try: () => pool.query<Record<string, unknown>>({ name, text, values: [...params] }),
            catch: (cause) => new SqlError({ cause, message: "Failed to execute statement" })
          }).pipe(Effect.map((result) => result.rows))
      })
    })
  )
