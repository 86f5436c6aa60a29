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

/** PostgreSQL's "cached plan must not change result type" (feature_not_supported). */
const isStalePlan = (cause: unknown): boolean =>
  typeof cause === "object" &&
  cause !== null &&
  "code" in cause &&
  cause.code === "0A000" &&
  "message" in cause &&
  typeof cause.message === "string" &&
  cause.message.includes("cached plan")

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
      // A statement prepared before a migration changed its table's columns fails
      // once with "cached plan must not change result type" on each connection
      // that holds it: then every statement is prepared anew under fresh names.
      let generation = 0
      const run = (name: string, text: string, params: ReadonlyArray<unknown>) => {
        const at = generation
        return Effect.tryPromise({
          try: () => pool.query<Record<string, unknown>>({ name: `${name}_${at}`, text, values: [...params] }),
          catch: (cause) => ({ cause, stalePlan: isStalePlan(cause), at })
        })
      }
      return PreparedSql.of({
        query: (name, text, params) =>
          run(name, text, params).pipe(
            Effect.catchIf(
              (failure) => failure.stalePlan,
              (failure) => {
                if (generation === failure.at) generation++
                return run(name, text, params)
              }
            ),
            Effect.mapError((failure) => new SqlError({ cause: failure.cause, message: "Failed to execute statement" })),
            Effect.map((result) => result.rows)
          )
      })
    })
  )
