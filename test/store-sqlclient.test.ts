// The store on plain `SqlClient` layers from the @effect/sql drivers, which
// offer neither `SyncSqlite` nor `PreparedSql`: every statement then goes
// through `SqlClient`, and must keep the same contract.
import { SqlStore } from "@durably/core"
import { PgClient } from "@effect/sql-pg"
import { SqliteClient } from "@effect/sql-sqlite-node"
import { describe } from "@effect/vitest"
import { Layer, Redacted } from "effect"
import { storeSuite } from "./conformance/storeSuite.js"
import { freshSchema, pgAvailable } from "./support/postgres.js"
import { freshFile } from "./support/sqlite.js"

storeSuite(
  "SQLite through SqlClient only",
  freshFile((filename) => SqlStore.layerMigrated.pipe(Layer.provideMerge(SqliteClient.layer({ filename }))))
)

describe.skipIf(!pgAvailable)("PostgreSQL", () => {
  storeSuite(
    "PostgreSQL through SqlClient only",
    freshSchema((url) =>
      SqlStore.layerMigrated.pipe(Layer.provideMerge(PgClient.layer({ url: Redacted.make(url), maxConnections: 4 })))
    )
  )
})
