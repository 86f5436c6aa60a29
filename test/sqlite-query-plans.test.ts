// SQLite finds pending and leased runs through the claimable index and
// finished ones through the (partial) status index, but only when a query
// states the index's condition. These tests capture the store's own statements
// and ask SQLite for their plans: none may scan the whole run table.
import { SqlStore } from "@durably/core"
import { Store } from "@durably/core/Store"
import { SqlClient, Statement } from "@effect/sql"
import { SqliteClient } from "@effect/sql-sqlite-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { join } from "node:path"
import { tempDir } from "./support/sqlite.js"

/** The plan of every statement `effect` runs, one line per statement. */
const plansOf = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const statements: Array<readonly [string, ReadonlyArray<unknown>]> = []
    yield* Statement.withTransformer(effect, (statement) =>
      Effect.sync(() => {
        statements.push(statement.compile())
        return statement
      })
    )
    const plans: Array<string> = []
    for (const [text, params] of statements) {
      const rows = yield* Statement.withTransformerDisabled(
        sql.unsafe<{ detail: string }>(`EXPLAIN QUERY PLAN ${text}`, params)
      )
      plans.push(rows.map((row) => row.detail).join(" | "))
    }
    return plans
  })

const layer = Layer.unwrapScoped(
  Effect.map(tempDir, (dir) =>
    SqlStore.layerMigrated.pipe(Layer.provideMerge(SqliteClient.layer({ filename: join(dir, "plans.db") })))
  )
)

describe("SQLite query plans", () => {
  it.scoped("listing runs by status, and releasing expired leases, go through an index", () =>
    Effect.gen(function* () {
      const store = yield* Store
      const cases: ReadonlyArray<readonly [Effect.Effect<unknown, unknown>, string]> = [
        [store.getRuns({ status: "pending" }), "durably_runs_claimable"],
        [store.getRuns({ status: ["pending", "leased"] }), "durably_runs_claimable"],
        [store.getRuns({ status: "completed" }), "durably_runs_status"],
        [store.getRuns({ status: ["failed", "cancelled"] }), "durably_runs_status"],
        [store.releaseExpired, "durably_runs_claimable"]
      ]
      for (const [operation, index] of cases) {
        const plans = yield* plansOf(operation)
        expect(plans).toHaveLength(1)
        expect(plans[0]).toContain(`USING INDEX ${index}`)
      }
    }).pipe(Effect.provide(layer))
  )

  it.scoped("finding a key's pending run (coalescing) goes through the concurrency index", () =>
    Effect.gen(function* () {
      const store = yield* Store
      const plans = yield* plansOf(
        store.enqueue({ jobName: "j", input: {}, concurrencyKey: "k", coalesce: "skip" })
      )
      expect(plans.some((plan) => plan.includes("USING INDEX durably_runs_concurrency"))).toBe(true)
      expect(plans.filter((plan) => /SCAN durably_runs(?! USING)/.test(plan))).toEqual([])
    }).pipe(Effect.provide(layer))
  )

  it.scoped("a claim for some jobs walks the claimable index and checks keys through the concurrency index", () =>
    Effect.gen(function* () {
      const store = yield* Store
      yield* store.enqueue({ jobName: "a", input: {}, concurrencyKey: "k" })
      const plans = yield* plansOf(store.claim({ workerId: "w", leaseMs: 30_000, jobNames: ["a", "b"] }))
      expect(plans).toHaveLength(1)
      expect(plans[0]).toContain("USING INDEX durably_runs_claimable")
      expect(plans[0]).toContain("USING INDEX durably_runs_concurrency")
      expect(plans[0]).not.toMatch(/SCAN durably_runs(?! USING)/)
    }).pipe(Effect.provide(layer))
  )
})
