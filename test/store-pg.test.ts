import { NodeStore } from "@durably/node"
import { describe } from "@effect/vitest"
import { storeSuite } from "./conformance/storeSuite.js"
import { freshSchema, pgAvailable } from "./support/postgres.js"

describe.skipIf(!pgAvailable)("PostgreSQL", () => {
  storeSuite(
    "PostgreSQL",
    freshSchema((url) => NodeStore.pg({ url, maxConnections: 4 }))
  )
})
