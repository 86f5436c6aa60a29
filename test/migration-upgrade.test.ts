// A database made by an earlier version (migrations 1–3) with runs in every
// state is migrated to the current schema: nothing is lost, and the store works
// on the rebuilt table (claims, the step heartbeat, idempotency keys).
import { Store } from "@durably/core/Store"
import * as SqlStore from "@durably/core/SqlStore"
import { NodeStore } from "@durably/node"
import { Migrator, SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Option } from "effect"
import { join } from "node:path"
import { migrations, versionsTable } from "../packages/core/src/internal/migrations.js"
import { freshSchemaUrl, pgAvailable } from "./support/postgres.js"
import { tempDir } from "./support/sqlite.js"

const earlier = Object.fromEntries(Object.entries(migrations).filter(([key]) => Number.parseInt(key, 10) <= 3))
const migrateEarlier = Migrator.make({})({ loader: Migrator.fromRecord(earlier), table: versionsTable })

const upgrade = <E>(client: Layer.Layer<SqlClient.SqlClient, E>) =>
  Effect.gen(function* () {
    const context = yield* Layer.build(client)
    const sql = yield* Effect.provide(SqlClient.SqlClient, context)
    yield* Effect.provide(migrateEarlier, context)
    // Runs written by the earlier schema: pending, keyed, leased with a step, completed.
    const store = yield* Effect.provide(SqlStore.make, context)
    const pending = yield* store.enqueue({ jobName: "j", input: { n: 1 } })
    const keyed = yield* store.enqueue({ jobName: "j", input: { n: 2 }, idempotencyKey: "k1" })
    const done = yield* store.enqueue({ jobName: "j", input: { n: 3 } })
    // Leased as the earlier schema's claim leased them (its `durably_claim` takes no job list).
    const leaseEarlier = (runId: string) =>
      Effect.zipRight(
        sql`UPDATE durably_runs SET status = 'leased', lease_owner = 'w', lease_expires_at = 60000, lease_ms = 60000,
            lease_generation = lease_generation + 1, attempt = attempt + 1, started_at = 0, updated_at = 0
          WHERE id = ${runId}`,
        store.getRun(runId)
      )
    const first = yield* leaseEarlier(pending.run.id)
    yield* store.complete({ runId: first.id, generation: first.leaseGeneration }, { ok: true }, { deleteSteps: false })
    const held = yield* leaseEarlier(keyed.run.id)
    const lease = { runId: held.id, generation: held.leaseGeneration }
    // Step rows as the earlier schema has them (no attempt column): the held run's
    // completed step, and the finished run's history of one step failing twice and then completing.
    const stepRow = (runId: string, name: string, status: string, output: string | null, error: string | null, at: number) =>
      sql`INSERT INTO durably_steps (run_id, name, "index", status, output, error, started_at, completed_at)
        VALUES (${runId}, ${name}, 0, ${status}, ${output}, ${error}, ${at}, ${at})`
    yield* stepRow(held.id, "a", "completed", "7", null, 1)
    yield* stepRow(first.id, "f", "failed", null, "one", 1)
    yield* stepRow(first.id, "f", "failed", null, "two", 2)
    yield* stepRow(first.id, "f", "completed", "3", null, 3)
    const before = yield* store.getRuns({ limit: 100 })

    // The current schema: every migration after the earlier ones.
    const current = yield* Effect.provide(Effect.flatMap(Store, (s) => Effect.as(s.migrate, s)), Layer.provide(SqlStore.layer, Layer.succeedContext(context)))
    expect(yield* current.getRuns({ limit: 100 })).toEqual(before)
    expect((yield* current.getSteps(held.id)).map((step) => step.output)).toEqual([7])
    const history = yield* current.getSteps(first.id)
    expect(history.map((step) => [step.name, step.status, step.error ?? step.output])).toEqual([
      ["f", "failed", "one"],
      ["f", "failed", "two"],
      ["f", "completed", 3]
    ])
    const versions = yield* sql<{ migration_id: number }>`SELECT migration_id FROM ${sql(versionsTable)} ORDER BY migration_id`
    expect(versions.map((row) => Number(row.migration_id))).toEqual(Object.keys(migrations).map((key) => Number.parseInt(key, 10)))

    // The held lease still writes, and a step write still extends it (the trigger was recreated).
    yield* current.persistStep(lease, { name: "b", index: 1, status: "completed", output: 8, startedAt: 0 })
    expect((yield* current.getSteps(held.id)).map((step) => step.output)).toEqual([7, 8])
    yield* current.complete(lease, null, { deleteSteps: true })
    expect((yield* current.getRun(held.id)).status).toBe("completed")
    expect(yield* current.getSteps(held.id)).toEqual([])
    // Idempotency keys written before still match; runs without one never conflict.
    expect((yield* current.enqueue({ jobName: "j", input: {}, idempotencyKey: "k1" })).run.id).toBe(keyed.run.id)
    const plain = yield* current.enqueue({ jobName: "j", input: {} })
    expect(plain.disposition).toBe("created")
    // Claims go on: the two runs still pending (one from before, the new one) are claimed, then none.
    const waiting = [pending.run.id, keyed.run.id, done.run.id, plain.run.id].filter((id) => id !== first.id && id !== held.id)
    const claimed = [yield* current.claim({ workerId: "w2", leaseMs: 60_000, jobNames: ["j"] }), yield* current.claim({ workerId: "w2", leaseMs: 60_000, jobNames: ["j"] })]
    expect(claimed.map((run) => Option.getOrThrow(run).id).sort()).toEqual(waiting.sort())
    expect(Option.isNone(yield* current.claim({ workerId: "w2", leaseMs: 60_000, jobNames: ["j"] }))).toBe(true)
  })

describe("upgrading a database made by migrations 1–3", () => {
  it.scoped("SQLite: the run table is rebuilt without losing a run, a step or a lease", () =>
    Effect.flatMap(tempDir, (dir) => upgrade(NodeStore.sqliteClient({ filename: join(dir, "old.db") })))
  )
  it.scoped.skipIf(!pgAvailable)("PostgreSQL: the idempotency index becomes partial without losing a run", () =>
    Effect.flatMap(freshSchemaUrl(), (url) => upgrade(NodeStore.pgClient({ url })))
  )
})
