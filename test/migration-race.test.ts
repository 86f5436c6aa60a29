// Four processes migrating one empty database at the same moment. Each process
// is forked and ready first (start barrier), then all four are told "migrate"
// at once: each builds `NodeStore.pg` / `NodeStore.sqlite` on the target (the
// layer migrates when built) and then enqueues and reads back a run at once.
import { SqlClient } from "@effect/sql"
import { NodeStore } from "@durably/node"
import { describe, expect, layer } from "@effect/vitest"
import { Context, Effect, Layer } from "effect"
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import type { Child, Migrated } from "./support/processes.js"
import { migrations } from "../packages/core/src/internal/migrations.js"
import { childScript, forkChildren, sendAll } from "./support/processes.js"
import { freshDatabase, pgAvailable } from "./support/postgres.js"
import { tempDir } from "./support/sqlite.js"

const processCount = 4
const races = 3

/** The migrations the store defines, in order. */
const expectedMigrations: ReadonlyArray<{ readonly id: number; readonly name: string }> = Object.keys(migrations).map(
  (key) => {
    const [, id, name] = /^(\d+)_(.+)$/.exec(key) ?? []
    return { id: Number(id), name: name ?? "" }
  }
)

const tables = ["durably_runs", "durably_steps", "durably_logs", "durably_run_labels"]

/** The migrating processes, killed when the file's tests are done. */
class Migrators extends Context.Tag("test/Migrators")<Migrators, ReadonlyArray<Child>>() {
  static readonly layer = Layer.scoped(Migrators, forkChildren(processCount, childScript("migrator"), []))
}

/** Tells every process to migrate the target at the same moment; each must succeed. */
const migrateAtOnce = (dialect: "pg" | "sqlite", target: string) =>
  Effect.flatMap(Migrators, (migrators) =>
    sendAll(migrators, () => ({ cmd: "migrate", dialect, target }))
  )

/** Every process wrote a run of its own right after its migration returned, and read it back. */
const expectEachWroteAfterMigrating = (results: ReadonlyArray<Migrated>, label: string) => {
  expect(new Set(results.map((result) => result.pid)).size, label).toBe(processCount)
  expect(results.filter((result) => result.readBack !== result.runId), label).toEqual([])
  expect(new Set(results.map((result) => result.runId)).size, label).toBe(processCount)
}

const recordedMigrations = (sql: SqlClient.SqlClient) =>
  Effect.map(
    sql<{ migration_id: number; name: string }>`SELECT migration_id, name FROM durably_schema_versions
      ORDER BY migration_id`,
    (rows) => rows.map((row) => ({ id: Number(row.migration_id), name: row.name }))
  )

layer(Migrators.layer, { excludeTestServices: true })("four processes migrating one empty database at once", (it) => {
  describe.skipIf(!pgAvailable)("PostgreSQL", () => {
    it.scoped("every process succeeds, each migration is recorded once and every table exists", () =>
      Effect.gen(function* () {
        for (let race = 0; race < races; race++) {
          yield* Effect.scoped(
            Effect.gen(function* () {
              const url = yield* freshDatabase
              const results = yield* migrateAtOnce("pg", url)
              expectEachWroteAfterMigrating(results, `race ${race}`)

              const sql = Context.get(yield* Layer.build(NodeStore.pgClient({ url })), SqlClient.SqlClient)
              expect(yield* recordedMigrations(sql), `race ${race}`).toEqual(expectedMigrations)
              const present = yield* sql<{ table_name: string }>`SELECT table_name FROM information_schema.tables
                WHERE table_schema = 'public' AND ${sql.in("table_name", tables)}`
              expect(present.map((row) => row.table_name).sort(), `race ${race}`).toEqual([...tables].sort())
              const runs = yield* sql<{ runs: string }>`SELECT COUNT(*) AS runs FROM durably_runs`
              expect(Number(runs[0]?.runs), `race ${race}`).toBe(processCount)
            })
          )
        }
      })
    )
  })

  describe("SQLite", () => {
    it.scoped("every process succeeds and can enqueue and read a run as soon as its migration returns", () =>
      Effect.gen(function* () {
        for (let race = 0; race < races; race++) {
          yield* Effect.scoped(
            Effect.gen(function* () {
              const filename = join(yield* tempDir, "durably.db")
              writeFileSync(filename, "")
              const results = yield* migrateAtOnce("sqlite", filename)
              expectEachWroteAfterMigrating(results, `race ${race}`)

              const sql = Context.get(yield* Layer.build(NodeStore.sqliteClient({ filename })), SqlClient.SqlClient)
              expect(yield* recordedMigrations(sql), `race ${race}`).toEqual(expectedMigrations)
              const present = yield* sql<{ name: string }>`SELECT name FROM sqlite_master
                WHERE type = 'table' AND ${sql.in("name", tables)}`
              expect(present.map((row) => row.name).sort(), `race ${race}`).toEqual([...tables].sort())
              const runs = yield* sql<{ runs: number }>`SELECT COUNT(*) AS runs FROM durably_runs`
              expect(Number(runs[0]?.runs), `race ${race}`).toBe(processCount)
            })
          )
        }
      })
    )
  })
})
