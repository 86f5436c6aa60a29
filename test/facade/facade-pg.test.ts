// The Promise facade on PostgreSQL: the shared suite, each test in a schema of
// its own (set through the connection URL), dropped afterwards.
import { describe } from "vitest"
import { admin, databaseUrl, pgAvailable, uniqueName, withSearchPath } from "../support/postgres.js"
import { facadeSuite } from "./facadeSuite.js"

describe.skipIf(!pgAvailable)("PostgreSQL", () => {
  facadeSuite("facade on PostgreSQL", async () => {
    const schema = uniqueName("facade")
    await admin(`CREATE SCHEMA "${schema}"`)
    return {
      database: withSearchPath(databaseUrl, schema),
      cleanup: () => admin(`DROP SCHEMA "${schema}" CASCADE`)
    }
  })
})
