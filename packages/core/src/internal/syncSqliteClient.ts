// A `SqlClient` and `SyncSqlite` over one synchronous SQLite connection, for
// any driver that executes statements synchronously (better-sqlite3 in Node,
// wa-sqlite in a browser's dedicated worker). The driver gives its connection
// twice: as `@effect/sql`'s `Connection` and as the store's `SyncConnection`.
//
// One connection, guarded by one permit: a `SqlClient` transaction holds it from
// BEGIN to COMMIT; a plain statement and a `SyncSqlite.use` take it only for
// the moment they run, so neither ever lands inside another fiber's transaction.
import * as Reactivity from "@effect/experimental/Reactivity"
import { SqlClient } from "@effect/sql"
import type { Connection } from "@effect/sql/SqlConnection"
import { SqlError } from "@effect/sql/SqlError"
import * as Statement from "@effect/sql/Statement"
import type { Scope } from "effect"
import { Context, Effect, Either, Layer, Option } from "effect"
import type { SyncConnection } from "./syncSqlite.js"
import { SyncSqlite } from "./syncSqlite.js"

/** One open connection, seen both ways. */
export interface SyncDriver {
  readonly connection: Connection
  readonly sync: SyncConnection
  /** Whether a commit waits for the disk (see `SyncSqlite.durableCommits`). */
  readonly durableCommits: boolean
}

/** `SqlClient` and `SyncSqlite` over the connection `open` gives (closed with the layer's scope). */
export const layer = <E>(
  open: Effect.Effect<SyncDriver, E, Scope.Scope>
): Layer.Layer<SqlClient.SqlClient | SyncSqlite, E> =>
  Layer.scopedContext(
    Effect.gen(function* () {
      const { connection, durableCommits, sync } = yield* open
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
            yield* Effect.addFinalizer(() =>
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

      const direct = SyncSqlite.of({ use, useNow, durableCommits })
      return Context.make(SqlClient.SqlClient, client).pipe(Context.add(SyncSqlite, direct))
    })
  ).pipe(Layer.provide(Reactivity.layer))
