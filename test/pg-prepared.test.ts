// `PreparedSql` on PostgreSQL: the store's hot statements are named prepared
// statements. One prepared before a migration changes its table's columns
// must keep working after it (PostgreSQL refuses the stale plan once).
import { PreparedSql } from "@durably/core/Internal"
import { Store } from "@durably/core/Store"
import { NodeStore } from "@durably/node"
import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import { freshSchema, pgAvailable } from "./support/postgres.js"

describe.skipIf(!pgAvailable)("PreparedSql on PostgreSQL", () => {
  it.layer(freshSchema((url) => NodeStore.pg({ url, maxConnections: 1 })))((it) => {
    it.effect("a statement prepared before a column is added runs after it", () =>
      Effect.gen(function* () {
        const prepared = yield* PreparedSql
        const sql = yield* SqlClient.SqlClient
        const store = yield* Store
        const { run } = yield* store.enqueue({ jobName: "job", input: { n: 1 } })
        const read = prepared.query("test_read_run", "SELECT * FROM durably_runs WHERE id = $1", [run.id])
        expect((yield* read)[0]).toMatchObject({ id: run.id, status: "pending" })
        yield* sql`ALTER TABLE durably_runs ADD COLUMN added_later TEXT`
        expect((yield* read)[0]).toMatchObject({ id: run.id, added_later: null })
        // The store's own prepared statements recover the same way.
        const claimed = yield* store.claim({ workerId: "w", leaseMs: 30_000, jobNames: ["job"] })
        expect(Option.map(claimed, (r) => r.id)).toEqual(Option.some(run.id))
      })
    )

    it.effect("a failing statement is a SqlError that names the cause", () =>
      Effect.gen(function* () {
        const prepared = yield* PreparedSql
        const error = yield* Effect.flip(prepared.query("test_bad", "SELECT * FROM no_such_table", []))
        expect(error._tag).toBe("SqlError")
        expect(String((error.cause as { message?: unknown }).message)).toContain("no_such_table")
      })
    )
  })
})
