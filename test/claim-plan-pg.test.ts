// The PostgreSQL claim walks the claimable index in id order and stops at the
// first claimable run, however many runs the table holds: the plan of the
// candidate select inside `durably_claim`, taken by auto_explain on a table
// that has no statistics yet (a fresh database, as in production's first hours).
import { Store } from "@durably/core/Store"
import { NodeStore } from "@durably/node"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import pg from "pg"
import { freshSchemaUrl, pgAvailable } from "./support/postgres.js"

describe.skipIf(!pgAvailable)("the PostgreSQL claim's plan", () => {
  it.scopedLive("finds the next run of its jobs through the claimable index, sorting nothing", () =>
    Effect.gen(function* () {
      const url = yield* freshSchemaUrl("claimplan")
      yield* Effect.provide(
        Effect.flatMap(Store, (store) => store.migrate),
        NodeStore.pg({ url })
      )
      const client = new pg.Client({ connectionString: url })
      yield* Effect.acquireRelease(
        Effect.promise(() => client.connect()),
        () => Effect.promise(() => client.end())
      )
      const plans: Array<string> = []
      client.on("notice", (notice) => plans.push(notice.message ?? ""))
      const query = (text: string) => Effect.promise(() => client.query(text))
      // Many finished runs of the job and a backlog of pending ones, never analysed.
      yield* query(`INSERT INTO durably_runs (id, job_name, input, status, labels, created_at, updated_at, completed_at)
        SELECT lpad(i::text, 26, '0'), 'job', '{}', CASE WHEN i <= 2000 THEN 'completed' ELSE 'pending' END, '{}', 0, 0,
          CASE WHEN i <= 2000 THEN 1 END
        FROM generate_series(1, 3000) i`)
      yield* query("LOAD 'auto_explain'")
      yield* query("SET auto_explain.log_min_duration = 0")
      yield* query("SET auto_explain.log_nested_statements = on")
      yield* query("SET client_min_messages = log")
      for (let i = 0; i < 7; i++) yield* query("SELECT id FROM durably_claim('w', 1, 30000, '{job}')")
      const candidateSelects = plans.filter((plan) => plan.includes("FOR UPDATE SKIP LOCKED"))
      // Past five calls plpgsql may switch to a generic plan: both kinds are checked.
      expect(candidateSelects.length).toBe(7)
      for (const plan of candidateSelects) {
        expect(plan).toContain("Index Scan using durably_runs_claimable")
        expect(plan).not.toContain("Sort")
      }
    })
  )
})
