// Named prepared statements on a PostgreSQL database, beside its `SqlClient`.
//
// Each statement sent through `SqlClient` is parsed and planned by the server
// again and costs the client far more than the round trip itself. A client
// layer that can offer prepared statements provides this service as well, and
// `SqlStore` then runs its statements outside transactions as named prepared
// statements. Without it the store sends the same statements through `SqlClient`.
import type { SqlError } from "@effect/sql/SqlError"
import type { Effect } from "effect"
import { Context } from "effect"

export class PreparedSql extends Context.Tag("@durably/core/PreparedSql")<
  PreparedSql,
  {
    /**
     * Runs `sql` (with `$1`, `$2`, … placeholders) as the prepared statement
     * `name`, preparing it on first use on each connection; returns its rows.
     * One name always stands for one text.
     */
    readonly query: (
      name: string,
      sql: string,
      params: ReadonlyArray<unknown>
    ) => Effect.Effect<ReadonlyArray<Record<string, unknown>>, SqlError>
  }
>() {}
