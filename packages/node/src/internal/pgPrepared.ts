// One `pg` pool per PostgreSQL layer, shared by the `SqlClient` and by
// `PreparedSql`, through which the store sends its hot statements as named
// prepared statements: prepared once per connection, a query then costs little
// more than its round trip. (Two pools held up to twice the connections, and
// the memory that goes with them.)
import { PreparedSql } from "@durably/core/Internal"
import { SqlError } from "@effect/sql/SqlError"
import { Duration, Effect } from "effect"
import type { Scope } from "effect"
import type { Pool } from "pg"

export interface PoolOptions {
  readonly url: string
  readonly maxConnections: number
}

/**
 * Opens the pool (closed with the scope) and checks that the server answers,
 * so a wrong URL fails when the layer is built rather than at the first query.
 */
export const pool = (options: PoolOptions): Effect.Effect<Pool, SqlError, Scope.Scope> =>
  Effect.gen(function* () {
    // Loaded with the layer, so a SQLite-only process never loads the driver.
    const { default: pg } = yield* Effect.promise(() => import("pg"))
    const opened = yield* Effect.acquireRelease(
      Effect.sync(() => {
        const opened = new pg.Pool({ connectionString: options.url, max: options.maxConnections })
        // A connection that breaks while idle is dropped by the pool; without a
        // listener the error would end the process.
        opened.on("error", () => undefined)
        return opened
      }),
      (opened) => Effect.promise(() => opened.end())
    )
    yield* Effect.tryPromise({
      try: () => opened.query("SELECT 1"),
      catch: (cause) => new SqlError({ cause, message: "PostgreSQL: failed to connect" })
    }).pipe(
      Effect.timeoutFail({
        duration: Duration.seconds(5),
        onTimeout: () => new SqlError({ cause: new Error("Connection timed out"), message: "PostgreSQL: connection timed out" })
      })
    )
    return opened
  })

/** PostgreSQL's "cached plan must not change result type" (feature_not_supported). */
const isStalePlan = (cause: unknown): boolean =>
  typeof cause === "object" &&
  cause !== null &&
  "code" in cause &&
  cause.code === "0A000" &&
  "message" in cause &&
  typeof cause.message === "string" &&
  cause.message.includes("cached plan")

/** `PreparedSql` on `pool`. */
export const make = (pool: Pool): PreparedSql["Type"] => {
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
}
